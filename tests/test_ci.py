"""``.ci/run`` runs the README's test command first, then the example plugin's tests."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _normalised(command: str) -> str:
    return re.sub(r"\s+", " ", command.replace("python3 ", "python ").replace(" -q ", " ")).strip()


def test_ci_runs_the_readme_test_command_then_the_example_plugin():
    readme = (ROOT / "README.md").read_text()
    readme_cmd = next(
        line for line in readme.splitlines() if "pytest" in line and line.startswith("python")
    )
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    commands = [line for line in ci if line.startswith("python") or line.startswith("(cd")]
    first_test = next(c for c in commands if "pytest" in c)
    assert _normalised(first_test) == _normalised(readme_cmd)
    assert "torch==2.13.0+cpu" in readme_cmd and "higher" in readme_cmd
    rest = commands[commands.index(first_test) + 1 :]
    assert "pip install -q -e examples/hgbench-example-plugin" in rest[0]
    assert "cd examples/hgbench-example-plugin && python -m pytest" in rest[1]
