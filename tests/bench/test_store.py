"""The results store: round trip, replacement, loaders' schema, CSV export, bad files."""

from __future__ import annotations

import math
import sqlite3

import pandas as pd
import pytest

from hgbench.bench import store as st


def _run(run_id: str, status: str = "ok", **kw: object) -> dict:
    row = {c: None for c in st.RUN_COLUMNS}
    row.update(
        run_id=run_id, suite="s", task="t", task_config="{}", method="fixed",
        method_settings="{}", label="fixed", seed=0, init_index=0, init_hyper="{}",
        batch_size=1, status=status, budget_steps=10, steps_done=10, time_is_share=False,
        lower_is_better=True, divergence_threshold=float("nan"), final_test_loss=0.5,
        schema_version=st.SCHEMA_VERSION,
    )  # fmt: skip
    row.update(kw)
    return row


def test_round_trip_has_exact_columns(tmp_path):
    path = tmp_path / "r.sqlite"
    with st.ResultsStore(path) as s:
        s.write(
            [_run("a")], [("a", 0, 0.0, "train", "loss", 1.0), ("a", 5, 0.1, "hyper", "lr", 0.1)]
        )
        s.write(
            [_run("b", "diverged", diverged_step=3, batch_id="B", batch_size=2)],
            [("b", 0, 0.0, "val", "loss", float("nan"))],
            batch={"batch_id": "B", "task": "t", "method": "fixed", "label": "fixed",
                   "batch_size": 2, "method_time_s": 1.0, "total_time_s": 2.0,
                   "peak_memory_bytes": 10, "memory_kind": "cpu_peak_rss"},
        )  # fmt: skip
    runs = st.load_runs(path)
    assert tuple(runs.columns) == st.RUN_COLUMNS
    assert list(runs.run_id) == ["a", "b"]
    assert runs.diverged_step.isna().tolist() == [True, False]
    assert int(runs.diverged_step.iloc[1]) == 3
    assert runs.batch_id.tolist() == [None, "B"]
    assert runs.time_is_share.dtype == bool
    assert math.isnan(runs.divergence_threshold.iloc[0])
    rec = st.load_records(path)
    assert tuple(rec.columns) == st.RECORD_COLUMNS
    assert rec.value.isna().tolist() == [False, False, True]
    b = st.load_batches(path)
    assert tuple(b.columns) == st.BATCH_COLUMNS and b.batch_size.tolist() == [2]


def test_rewrite_replaces_run_and_its_records(tmp_path):
    path = tmp_path / "r.sqlite"
    with st.ResultsStore(path) as s:
        s.write([_run("a", "error")], [("a", 0, 0.0, "train", "loss", 1.0)])
        s.write([_run("a", "ok")], [("a", 0, 0.0, "train", "loss", 2.0)])
        assert s.statuses() == {"a": "ok"}
    assert st.load_records(path).value.tolist() == [2.0]


def test_export_csv(tmp_path):
    path = tmp_path / "r.sqlite"
    with st.ResultsStore(path) as s:
        s.write([_run("a")], [("a", 0, 0.0, "train", "loss", 1.0)])
    files = st.export_csv(path, tmp_path / "csv")
    assert sorted(f.name for f in files) == ["batches.csv", "records.csv", "runs.csv"]
    assert pd.read_csv(tmp_path / "csv" / "runs.csv").run_id.tolist() == ["a"]


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.sqlite"):
        st.load_runs(tmp_path / "nope.sqlite")
    con = sqlite3.connect(tmp_path / "other.sqlite")
    con.execute("CREATE TABLE x (a)")
    con.close()
    with pytest.raises(ValueError, match="not a hgbench results file"):
        st.load_runs(tmp_path / "other.sqlite")


def test_schema_version_mismatch_is_refused(tmp_path):
    path = tmp_path / "r.sqlite"
    st.ResultsStore(path).close()
    con = sqlite3.connect(path)
    con.execute("UPDATE meta SET value='999'")
    con.commit()
    con.close()
    with pytest.raises(ValueError, match="schema version 999"):
        st.load_runs(path)
