"""Baseline files of the regression gate: where the built-in one is, reading, merging, writing.

A baseline file is JSON ``{"schema": 1, "steps": N, "cases": {"method@task": {figure: value}}}``.
The *built-in* baseline is the one of the hgbench checkout being tested (``$HGBENCH_BASELINE``,
else ``tests/benchmarks/baseline.json`` under the working directory or its git root); a
plugin keeps its own file next to its code and passes it with ``--baseline``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

SCHEMA = 1
#: Environment variable naming the built-in baseline file (else it is looked up).
BASELINE_ENV = "HGBENCH_BASELINE"
#: Where the built-in baseline lives in a checkout of hgbench.
BUILTIN_BASELINE = Path("tests", "benchmarks", "baseline.json")

#: case id (``method@task``) -> figure name -> value
Figures = dict[str, dict[str, float]]


def builtin_baseline(cwd: Path | None = None) -> Path:
    """The built-in baseline of the checkout being tested: ``$HGBENCH_BASELINE``, else
    ``tests/benchmarks/baseline.json`` under the working directory, else under the git root
    above it; a FileNotFoundError asking for ``--baseline`` if none exists."""
    if os.environ.get(BASELINE_ENV):
        return Path(os.environ[BASELINE_ENV])
    here = (cwd or Path.cwd()).resolve()
    candidates = [here / BUILTIN_BASELINE]
    root = next((p for p in (here, *here.parents) if (p / ".git").exists()), None)
    if root is not None and root != here:
        candidates.append(root / BUILTIN_BASELINE)
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"no built-in benchmark baseline: looked for {' and '.join(map(str, candidates))}; "
        f"run from a checkout of hgbench, set {BASELINE_ENV}, or pass --baseline FILE"
    )


def load_baseline(path: Path | None = None) -> Figures:
    """The cases of one baseline file (the built-in one when ``path`` is None)."""
    path = builtin_baseline() if path is None else Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"no benchmark baseline at {path}; create it with "
            "`python -m hgbench.bench.regression --update` (add --method NAME for a plugin's)"
        )
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not a baseline file of schema {SCHEMA} ({exc})") from exc
    cases = data.get("cases") if isinstance(data, dict) and data.get("schema") == SCHEMA else None
    if not isinstance(cases, dict):
        raise ValueError(f"{path}: not a baseline file of schema {SCHEMA}")
    return cases


def load_baselines(paths: Iterable[Path]) -> Figures:
    """The cases of several baseline files merged; a case held by two files is an error."""
    merged: Figures = {}
    owner: dict[str, Path] = {}
    for path in paths:
        for case_id, figures in load_baseline(path).items():
            if case_id in merged:
                raise ValueError(f"case {case_id} is in two baselines: {owner[case_id]}, {path}")
            merged[case_id], owner[case_id] = figures, Path(path)
    return merged


def save_baseline(figures: Figures, path: Path, steps: int) -> None:
    """Write ``figures`` (case id -> figure -> value), measured over ``steps`` weight steps."""
    payload = {"schema": SCHEMA, "steps": steps, "cases": figures}
    Path(path).write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
