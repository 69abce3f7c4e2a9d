"""Sweeps through worker processes: statuses, isolation, resume, determinism, SIGKILL."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from hgbench.bench.config import RunConfig
from hgbench.bench.executors import LocalExecutor
from hgbench.bench.schema import SCHEMA_VERSION
from hgbench.bench.store import load_batches, load_records, load_runs
from hgbench.bench.sweep import plan, run_sweep

HERE = Path(__file__).parent


def _cfg(method: str = "toy_sgd", **kw) -> RunConfig:
    base = dict(task="toy_quadratic", method=method, method_settings={"lr_scale": 100.0})
    base.update(kw)
    return RunConfig(**base)


@pytest.mark.slow
def test_every_failure_kind_gets_its_status_and_the_sweep_completes(toys, tmp_path):
    runs = [
        _cfg("toy_sgd"),
        _cfg("toy_raise"),
        _cfg("toy_oom"),
        _cfg("toy_crash"),
        _cfg("toy_sleep", time_limit_s=1.5),
        _cfg("toy_sgd", init_index=1, method_settings={"lr_scale": 1e4}),
    ]
    path = tmp_path / "r.sqlite"
    summary = run_sweep(runs, path, LocalExecutor(workers=2), quiet=True)
    df = load_runs(path).set_index("method")
    assert summary.statuses == {"ok": 1, "error": 2, "oom": 1, "timeout": 1, "diverged": 1}
    assert df.loc["toy_raise", "status"] == "error"
    assert "killed by signal 9" in df.loc["toy_crash", "message"]
    assert df.loc["toy_sleep", "status"] == "timeout"
    assert df.loc["toy_oom", "status"] == "oom"
    assert df.loc["toy_sgd"].status.tolist() == ["ok", "diverged"]
    assert (df.threads.loc[["toy_sgd"]] == 1).all()  # 2 cores / 2 workers
    assert df.git_commit.notna().all() and (df.schema_version == SCHEMA_VERSION).all()


def test_rerun_skips_finished_and_retries_failed_on_request(toys, tmp_path):
    path = tmp_path / "r.sqlite"
    runs = [_cfg(), _cfg("toy_raise")]
    run_sweep(runs, path, LocalExecutor(), quiet=True)
    again = run_sweep(runs, path, LocalExecutor(), quiet=True)
    assert again.skipped == 2 and again.statuses == {}
    retry = run_sweep(runs, path, LocalExecutor(), quiet=True, rerun_failed=True)
    assert retry.skipped == 1 and retry.statuses == {"error": 1}
    assert len(load_runs(path)) == 2


@pytest.mark.slow
def test_same_seed_gives_bit_identical_results(toys, tmp_path):
    runs = [_cfg(init_index=k) for k in range(2)] + [
        _cfg(init_index=k, batch_size=2) for k in range(2)
    ]
    cols = ["run_id", "status", "final_train_loss", "final_val_loss", "final_test_loss",
            "final_test_metric", "final_hyper", "cost_gradient", "steps_done"]  # fmt: skip
    out = []
    for name in ("a", "b"):
        run_sweep(runs, tmp_path / f"{name}.sqlite", LocalExecutor(workers=2), quiet=True)
        rec = load_records(tmp_path / f"{name}.sqlite").drop(columns="time_s")
        rec = rec.sort_values(["run_id", "step", "split", "metric"]).reset_index(drop=True)
        out.append((load_runs(tmp_path / f"{name}.sqlite")[cols].sort_values("run_id"), rec))
    pd.testing.assert_frame_equal(
        out[0][0].reset_index(drop=True), out[1][0].reset_index(drop=True)
    )
    pd.testing.assert_frame_equal(out[0][1], out[1][1], check_exact=True)
    assert len(load_batches(tmp_path / "a.sqlite")) == 1


def test_plan_groups_paired_inits_into_batches(toys):
    runs = [_cfg(init_index=k, batch_size=2) for k in range(5)]
    items = plan(runs)
    assert [len(i.runs) for i in items] == [2, 2, 1]
    done = {runs[0].run_id: "ok"}
    assert [len(i.runs) for i in plan(runs, done)] == [2, 2]
    # a method that cannot batch is never grouped
    assert [
        len(i.runs)
        for i in plan([_cfg("toy_nobatch", init_index=k, batch_size=2) for k in range(2)])
    ] == [1, 1]


SWEEP_SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {here!r})
    import bench_toys
    from hgbench.methods import METHODS
    from hgbench.tasks import TASKS
    from hgbench.bench.config import RunConfig
    from hgbench.bench.executors import LocalExecutor
    from hgbench.bench.sweep import run_sweep
    if __name__ == "__main__":
        TASKS.register("toy_quadratic")(bench_toys.ToyTask)
        METHODS.register("toy_sgd")(bench_toys.ToySGD)
        runs = [RunConfig(task="toy_quadratic", method="toy_sgd", init_index=k,
                          task_overrides={{"steps": 40}}) for k in range(16)]
        run_sweep(runs, sys.argv[1], LocalExecutor(workers=1), quiet=True)
    """
)


@pytest.mark.slow
def test_sigkill_midway_loses_nothing_finished(tmp_path):
    script = tmp_path / "sweep.py"
    script.write_text(SWEEP_SCRIPT.format(here=str(HERE)))
    path = tmp_path / "r.sqlite"
    proc = subprocess.Popen([sys.executable, str(script), str(path)], start_new_session=True)
    deadline = time.monotonic() + 60
    n_before = 0
    while time.monotonic() < deadline and n_before < 3:
        time.sleep(0.2)
        if path.exists():
            try:
                n_before = len(load_runs(path))
            except Exception:  # noqa: BLE001 - the store may not be initialised yet
                n_before = 0
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its workers, midway
    proc.wait()
    before = load_runs(path)
    assert 3 <= len(before) < 16
    subprocess.run([sys.executable, str(script), str(path)], check=True, timeout=120)
    after = load_runs(path)
    assert len(after) == 16 and after.run_id.is_unique
    assert set(before.run_id) <= set(after.run_id)
    kept = after.set_index("run_id").loc[before.run_id]
    assert (kept.finished_at.values == before.finished_at.values).all()  # not re-run
    rec = load_records(path)
    assert rec.groupby("run_id").size().nunique() == 1  # no duplicated records
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    con.close()
