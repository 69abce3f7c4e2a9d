"""Fault battery, harness side: memory, bad settings and paths, read-only stores, several
drivers on one store. Each case asserts the status or exit code, the message, and that
nothing finished was lost."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hgbench.bench.claims import ClaimQueue
from hgbench.bench.config import RunConfig, WorkItem
from hgbench.bench.executors import LocalExecutor
from hgbench.bench.store import ResultsStore, load_records, load_runs
from hgbench.bench.sweep import run_sweep
from hgbench.bench.worker import execute
from hgbench.cli import main

BENCH = Path(__file__).parents[1] / "bench"
SUITE = 'tasks = ["toy_quadratic"]\nmethods = ["toy_sgd"]\ninits = 2\nbudget = 20\n'


def _cfg(**kw) -> RunConfig:
    return RunConfig(**{"task": "toy_quadratic", "method": "toy_sgd", **kw})


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        rc = main(list(argv))
    except SystemExit as exc:  # argparse's own errors
        rc = int(exc.code)
    out, err = capsys.readouterr()
    return rc, out, err


def _suite(tmp_path: Path, text: str = SUITE) -> str:
    path = tmp_path / "s.toml"
    path.write_text(text)
    return str(path)


def test_cpu_out_of_memory_is_stored_as_oom(toys):
    (row,) = execute(WorkItem((_cfg(method="toy_cpu_oom"),)))["runs"]
    assert row["status"] == "oom"
    assert "can't allocate memory" in row["message"]


def test_bad_method_settings_stop_the_sweep_before_any_worker(toys, tmp_path, capsys):
    text = SUITE + "[grid]\ntoy_sgd = { lr_scale = [1.0, -1] , nonsense = [1] }\n"
    results = tmp_path / "r.sqlite"
    rc, _, err = cli(capsys, "run", _suite(tmp_path, text), "--results", str(results), "--quiet")
    assert rc == 2
    assert err.startswith("hgbench: error:") and "toy_sgd" in err and "nonsense" in err
    assert not results.exists()  # nothing started, nothing written


def test_an_invalid_setting_value_is_caught_in_the_driver(tmp_path, capsys):
    text = 'tasks = ["sk_diabetes"]\nmethods = ["hd_sgd"]\n[grid]\nhd_sgd = { beta = [-1.0] }\n'
    results = tmp_path / "r.sqlite"
    rc, _, err = cli(capsys, "run", _suite(tmp_path, text), "--results", str(results), "--quiet")
    assert rc == 2 and "hd_sgd: setting 'beta' must be >= 0" in err
    assert not results.exists()


@pytest.mark.parametrize("flag", ["--workers", "--threads", "--inits", "--batch-inits"])
@pytest.mark.parametrize("value", ["0", "-1"])
def test_zero_or_negative_counts_are_errors(toys, tmp_path, capsys, flag, value):
    rc, _, err = cli(capsys, "run", _suite(tmp_path), "--results", str(tmp_path / "r.sqlite"),
                     flag, value)  # fmt: skip
    assert rc == 2 and "must be at least 1" in err


@pytest.mark.parametrize("command", ["run", "show"])
def test_a_results_path_that_is_not_sqlite_is_a_clear_error(toys, tmp_path, capsys, command):
    bogus = tmp_path / "notes.txt"
    bogus.write_text("not a database\n" * 10)
    args = (
        ["run", _suite(tmp_path), "--results", str(bogus), "--quiet"]
        if command == "run"
        else ["show", str(bogus)]
    )
    rc, _, err = cli(capsys, *args)
    assert rc == 2 and "is not a hgbench results file" in err
    assert bogus.read_text() == "not a database\n" * 10  # untouched


def test_a_results_path_under_a_file_is_a_clear_error(toys, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    rc, _, err = cli(capsys, "run", _suite(tmp_path), "--results",
                     str(tmp_path / "file" / "r.sqlite"), "--quiet")  # fmt: skip
    assert rc == 2 and "is a file, not a folder" in err


@pytest.fixture
def stored(toys, tmp_path) -> Path:
    path = tmp_path / "ro" / "r.sqlite"
    run_sweep([_cfg(init_index=k) for k in range(2)], path, LocalExecutor(workers=1), quiet=True)
    return path


def test_loaders_open_the_store_read_only(stored):
    """What lets a store in a read-only folder be read (checked by hand as an unprivileged
    user; the test below does it where the tests do not run as root): loaders open the file
    read-only and change nothing in it."""
    before = (stored.read_bytes(), stored.stat().st_mtime_ns)
    assert len(load_runs(stored)) == 2 and len(load_records(stored)) > 0
    assert (stored.read_bytes(), stored.stat().st_mtime_ns) == before
    from hgbench.bench.store import _connect

    con = _connect(stored, create=False)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        con.execute("DELETE FROM runs")
    con.close()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_a_store_in_a_read_only_folder_can_be_read(stored):
    stored.parent.chmod(0o555)
    try:
        assert len(load_runs(stored)) == 2 and len(load_records(stored)) > 0
    finally:
        stored.parent.chmod(0o755)


def test_writing_into_a_read_only_folder_is_a_clear_error(toys, tmp_path, capsys, monkeypatch):
    folder = tmp_path / "ro"
    folder.mkdir()
    real_access = os.access
    monkeypatch.setattr(  # as an unprivileged user sees a folder it may not write
        os, "access", lambda p, mode: False if Path(p) == folder else real_access(p, mode)
    )
    target = folder / "r.sqlite"
    rc, _, err = cli(capsys, "run", _suite(tmp_path), "--results", str(target), "--quiet")
    assert rc == 2 and "cannot write results under" in err and "writable folder" in err
    assert not target.exists()


DRIVER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {bench!r})
    import bench_toys
    from hgbench.methods import METHODS
    from hgbench.tasks import TASKS
    from hgbench.bench.config import RunConfig
    from hgbench.bench.executors import LocalExecutor
    from hgbench.bench.sweep import run_sweep
    if __name__ == "__main__":
        TASKS.register("toy_quadratic")(bench_toys.ToyTask)
        METHODS.register("toy_slow_start")(bench_toys.ToySlowStart)
        runs = [RunConfig(task="toy_quadratic", method="toy_slow_start", init_index=k,
                          method_settings={{"first_sleep_s": 0.4}}) for k in range({n})]
        s = run_sweep(runs, sys.argv[1], LocalExecutor(workers=1), quiet=True)
        print("RAN", sum(s.statuses.values()), "ELSEWHERE", s.elsewhere)
    """
)


@pytest.mark.slow
def test_two_drivers_on_one_store_split_the_sweep(tmp_path):
    n = 12
    script = tmp_path / "driver.py"
    script.write_text(DRIVER.format(bench=str(BENCH), n=n))
    path = tmp_path / "r.sqlite"
    ResultsStore(path).close()  # both drivers find the schema in place
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(path)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    ran = [int(o.split("RAN")[1].split()[0]) for o in outs]
    assert sum(ran) == n and min(ran) > 0  # each run once, both drivers worked
    df = load_runs(path)
    assert len(df) == n and df.run_id.is_unique and (df.status == "ok").all()
    con = sqlite3.connect(path)
    assert con.execute("SELECT COUNT(*) FROM claims").fetchone() == (0,)
    con.close()


def test_claims_of_a_driver_that_stopped_renewing_expire(toys, tmp_path):
    path = tmp_path / "r.sqlite"
    ResultsStore(path).close()
    items = [WorkItem((_cfg(init_index=k),)) for k in range(2)]
    con = sqlite3.connect(path)
    with con:  # a driver on another machine claimed item 0 and is still within its lease
        con.execute(
            "CREATE TABLE IF NOT EXISTS claims (run_id TEXT PRIMARY KEY, owner TEXT, expires REAL)"
        )
        con.execute(
            "INSERT INTO claims VALUES (?, 'elsewhere:123:abc', ?)",
            (items[0].runs[0].run_id, time.time() + 3600),
        )
    queue = ClaimQueue(str(path), items)
    assert queue.take() is items[1]  # item 0 is busy: the next one is claimed
    assert queue.take() is None and not queue.finished()
    with con:  # its lease runs out (the driver died without renewing)
        con.execute("UPDATE claims SET expires = ? WHERE owner = 'elsewhere:123:abc'", (0.0,))
    assert queue.take() is items[0] and queue.finished()
    queue.release(items[0]), queue.release(items[1])
    assert con.execute("SELECT COUNT(*) FROM claims").fetchone() == (0,)
    queue.close()
    con.close()


def test_claims_of_a_dead_driver_on_this_machine_are_free_at_once(toys, tmp_path):
    import socket

    path = tmp_path / "r.sqlite"
    ResultsStore(path).close()
    item = WorkItem((_cfg(),))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    queue = ClaimQueue(str(path), [item])
    queue.con.execute(
        "INSERT INTO claims VALUES (?, ?, ?)",
        (item.runs[0].run_id, f"{socket.gethostname()}:{dead.pid}:x", time.time() + 3600),
    )
    assert queue.take() is item
    queue.close()


def test_a_rerun_with_stored_failures_says_how_to_retry_them(toys, tmp_path, capsys):
    text = 'tasks = ["toy_quadratic"]\nmethods = ["toy_raise"]\ninits = 2\nbudget = 20\n'
    args = ["run", _suite(tmp_path, text), "--results", str(tmp_path / "r.sqlite"), "--quiet",
            "--no-report"]  # fmt: skip
    assert cli(capsys, *args)[0] == 1
    rc, out, _ = cli(capsys, *args)
    assert rc == 0 and "2 stored failures" in out and "--rerun-failed" in out
    rc, out, _ = cli(capsys, *args, "--rerun-failed")
    assert rc == 1 and "2 error" in out  # retried
