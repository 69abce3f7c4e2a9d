"""A stored run is reused only when rerunning would give the same numbers."""

from __future__ import annotations

import dataclasses
import shutil
import sys
from pathlib import Path

import pytest

from hgbench.bench.config import RunConfig, with_data_fingerprints
from hgbench.bench.store import load_runs
from hgbench.bench.suites import parse_suite
from hgbench.cli import main

SUITE = 'tasks = ["toy_quadratic"]\nmethods = ["toy_sgd"]\ninits = 2\nbudget = 20\n'


def _cfg(**kw) -> RunConfig:
    return RunConfig(task="toy_quadratic", method="toy_sgd", **kw)


def _run(tmp_path, *extra: str) -> tuple[int, str]:
    suite = tmp_path / "s.toml"
    suite.write_text(SUITE)
    argv = ["run", str(suite), "--results", str(tmp_path / "r.sqlite"), "--quiet",
            "--no-report", *extra]  # fmt: skip
    return main(argv)


def test_thread_count_is_part_of_a_cpu_runs_identity(toys, tmp_path, capsys):
    assert _run(tmp_path, "--workers", "1", "--threads", "1") == 0
    assert "2 runs: 0 already stored, 2 ok" in capsys.readouterr().out
    # another thread count may change float reductions: the runs are run again, not reused
    assert _run(tmp_path, "--workers", "1", "--threads", "2") == 0
    assert "2 runs: 0 already stored, 2 ok" in capsys.readouterr().out
    df = load_runs(tmp_path / "r.sqlite")
    assert sorted(df.threads) == [1, 1, 2, 2] and df.run_id.is_unique
    # the same thread count with another worker count is the same computation: reused
    assert _run(tmp_path, "--workers", "2", "--threads", "2") == 0
    assert "2 runs: 2 already stored" in capsys.readouterr().out


def test_omp_num_threads_is_honoured_as_the_default(toys, tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert _run(tmp_path, "--workers", "1") == 0
    assert set(load_runs(tmp_path / "r.sqlite").threads) == {1}


@pytest.mark.parametrize(
    "change",
    [{"batch_size": 4}, {"device": "cuda"}, {"dtype": "float64"}, {"train_split": "train+val"},
     {"data_fingerprint": "abc"}, {"method_settings": {"lr_scale": 2.0}}],
    ids=["batching", "device", "dtype", "train_split", "data", "settings"],
)  # fmt: skip
def test_what_changes_numbers_changes_the_run_id(toys, change):
    base = _cfg()
    assert dataclasses.replace(base, **change).run_id != base.run_id


def test_resolved_settings_identify_a_run_however_they_are_spelled(toys):
    assert _cfg(method_settings={"lr_scale": 1.0}).run_id == _cfg().run_id
    assert _cfg(method_settings={"lr_scale": 1}).run_id == _cfg().run_id
    assert _cfg().label == "toy_sgd"
    assert _cfg(method_settings={"lr_scale": 2.0}).label == "toy_sgd[lr_scale=2.0]"


def test_bookkeeping_does_not_change_the_run_id(toys):
    base = _cfg()
    for change in ({"suite": "other"}, {"time_limit_s": 5.0}, {"data_dir": "/somewhere"}):
        assert dataclasses.replace(base, **change).run_id == base.run_id


def test_other_data_gets_another_fingerprint_and_run_id(tmp_path):
    """The same UCI task on two copies of its data that differ in one value."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "tasks"))
    from tasks_fixtures import write_uci

    a, b = tmp_path / "a", tmp_path / "b"
    write_uci(a)
    shutil.copytree(a, b)
    data = b / "uci" / "energy" / "data.txt"
    data.write_text(data.read_text().replace("1", "2", 1))  # one value differs
    suite = parse_suite('tasks = ["uci_energy"]\nmethods = ["fixed"]\ninits = 1\n', "s")
    ra = with_data_fingerprints(suite.expand(data_dir=str(a)))
    rb = with_data_fingerprints(suite.expand(data_dir=str(b)))
    same = with_data_fingerprints(suite.expand(data_dir=str(a)))
    assert ra[0].data_fingerprint and ra[0].data_fingerprint != rb[0].data_fingerprint
    assert ra[0].run_id != rb[0].run_id and ra[0].run_id == same[0].run_id
