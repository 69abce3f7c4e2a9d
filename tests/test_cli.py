"""The ``hgbench`` command line: list, run (suite file), show, export, clear errors."""

from __future__ import annotations

import pandas as pd

from hgbench.bench import cli as bench_cli
from hgbench.cli import main
from hgbench.methods import METHODS


def test_list_shows_registries_and_suites(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "quick" in out and "clarke_uci" in out
    for key in METHODS.names():
        assert key in out


def test_run_show_export(tmp_path, toys, capsys):
    suite = tmp_path / "s.toml"
    suite.write_text(
        'tasks = ["toy_quadratic"]\nmethods = ["toy_sgd", "toy_raise"]\ninits = 2\n'
        "budget = 20\nbatch_inits = 2\n"
    )
    results = tmp_path / "out" / "results.sqlite"
    argv = [
        "run",
        str(suite),
        "--results",
        str(results),
        "--quiet",
        "--no-report",
        "--workers",
        "2",
    ]
    assert main(argv) == 1  # some runs ended with an error: the command says so
    out, err = capsys.readouterr()
    assert "4 runs: 0 already stored, 2 error, 2 ok" in out
    assert "2 run(s) ended with an error" in err
    assert main(argv) == 0  # nothing new failed; the stored failures are pointed out
    out = capsys.readouterr().out
    assert "4 already stored" in out and "2 stored failures" in out and "--rerun-failed" in out
    assert main(["show", str(results)]) == 0
    shown = capsys.readouterr().out
    assert "toy_sgd" in shown and "toy_raise" in shown
    assert main(["export", str(results), "--out", str(tmp_path / "csv")]) == 0
    runs = pd.read_csv(tmp_path / "csv" / "runs.csv")
    assert sorted(runs.status) == ["error", "error", "ok", "ok"]
    assert len(pd.read_csv(tmp_path / "csv" / "batches.csv")) == 1


def test_bad_input_is_a_clear_error(tmp_path, capsys, toys):
    assert main(["run", "nope_suite", "--results", str(tmp_path / "r.sqlite")]) == 2
    assert "Valid suites" in capsys.readouterr().err
    assert main(["run", "quick", "--task", "nope", "--results", str(tmp_path / "r.sqlite")]) == 2
    assert "Valid tasks" in capsys.readouterr().err
    assert main(["run", "--method", "nope", "--results", str(tmp_path / "r.sqlite")]) == 2
    assert "Valid methods" in capsys.readouterr().err
    assert main(["show", str(tmp_path / "missing.sqlite")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_report_hook_is_called_when_present(tmp_path, monkeypatch):
    import hgbench.reports as reports

    calls = []
    monkeypatch.setattr(reports, "build_report", lambda r, o: calls.append((r, o)), raising=False)
    bench_cli._report(str(tmp_path / "results.sqlite"), quiet=True)
    assert calls == [(str(tmp_path / "results.sqlite"), tmp_path / "report")]
