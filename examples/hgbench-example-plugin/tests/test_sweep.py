"""The plugin in a real sweep: ``hgbench run`` with worker processes finds it by name."""

from __future__ import annotations

import hgbench
from hgbench.cli import main

SUITE = """
tasks = ["friedman1"]
methods = ["periodic_hd", "fixed"]
inits = 2
batch_inits = 2
budget = 40
eval_every = 10
"""


def test_a_sweep_runs_the_plugin_method_on_the_plugin_task(tmp_path, capsys):
    suite = tmp_path / "plugin.toml"
    suite.write_text(SUITE)
    results = tmp_path / "results.sqlite"
    argv = ["run", str(suite), "--results", str(results), "--quiet", "--no-report"]
    assert main([*argv, "--workers", "2"]) == 0
    runs = hgbench.load_runs(results)
    assert sorted(runs.method) == ["fixed", "fixed", "periodic_hd", "periodic_hd"]
    assert (runs.status == "ok").all() and (runs.task == "friedman1").all()
    assert (runs.batch_size == 2).all() and (runs.steps_done == 40).all()
    assert main(["show", str(results)]) == 0
    assert "periodic_hd" in capsys.readouterr().out
