"""The example plugin (``examples/hgbench-example-plugin``) as an installed distribution would
be seen: found through its entry points, gated by its own baseline, new to the built-in one.

(``.ci/run`` also installs it for real and runs its own tests.)"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from hgbench.bench import regression
from hgbench.bench.baselines import BASELINE_ENV
from hgbench.methods import METHODS
from hgbench.registry import Registry
from hgbench.tasks import TASKS

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

PLUGIN = Path(__file__).resolve().parents[1] / "examples" / "hgbench-example-plugin"
BUILTIN = Path(__file__).resolve().parent / "benchmarks" / "baseline.json"


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """A dist-info declaring the plugin's entry points (read from its pyproject.toml), the
    plugin's source on sys.path, and fresh registries that see both."""
    project = tomllib.loads((PLUGIN / "pyproject.toml").read_text())["project"]
    lines = []
    for group, entries in project["entry-points"].items():
        lines += [f"[{group}]", *(f"{k} = {v}" for k, v in entries.items()), ""]
    dist = tmp_path / "hgbench_example_plugin-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: 0.1.0\n"
    )
    (dist / "entry_points.txt").write_text("\n".join(lines))
    monkeypatch.syspath_prepend(str(PLUGIN))
    monkeypatch.syspath_prepend(str(tmp_path))
    methods, tasks = Registry("method", "hgbench.methods"), Registry("task", "hgbench.tasks")
    for fresh, real in ((methods, METHODS), (tasks, TASKS)):
        for key in real.builtin_names():
            fresh.register(key)(real.get(key))
    monkeypatch.setattr(regression, "METHODS", methods)
    monkeypatch.setattr(regression, "TASKS", tasks)
    monkeypatch.setenv(BASELINE_ENV, str(BUILTIN))
    yield methods, tasks
    for name in [m for m in sys.modules if m.startswith("hgbench_example")]:
        del sys.modules[name]


def test_its_entry_points_register_a_method_and_a_task(installed):
    methods, tasks = installed
    assert "periodic_hd" in methods.names() and "periodic_hd" not in methods.builtin_names()
    assert tasks.get("friedman1").key == "friedman1"


def test_it_passes_the_gate_with_its_own_baseline(installed, capsys):
    assert (
        regression.main(["--method", "periodic_hd", "--baseline", str(PLUGIN / "baseline.json")])
        == 0
    )
    assert "3 cases checked, 0 new, 0 problems" in capsys.readouterr().out


def test_the_builtin_gate_reports_it_as_new_and_passes(installed, capsys):
    assert regression.main(["--method", "periodic_hd", "--method", "fixed"]) == 0
    out = capsys.readouterr().out
    assert "NEW periodic_hd@sk_diabetes" in out and "2 cases checked, 2 new, 0 problems" in out
