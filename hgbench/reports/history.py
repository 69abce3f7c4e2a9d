"""pytest-benchmark JSON history in the report (extension point).

The CI regression suite (``tests/benchmarks``) saves pytest-benchmark JSON files; this turns a
series of them into a report section. For now it lists each file's benchmarks with their
median time and deterministic ``extra_info`` figures; figures of the history come later.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from hgbench.reports.document import Section
from hgbench.reports.tables import plain_display


def load_benchmark_json(path: str | Path) -> pd.DataFrame:
    """One row per benchmark of a pytest-benchmark JSON file: name, median (s), extra_info."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        benchmarks = data["benchmarks"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{str(path)!r} is not a pytest-benchmark JSON file: {exc}") from exc
    rows = [
        {
            "file": path.name,
            "datetime": data.get("datetime", ""),
            "benchmark": b.get("fullname", b.get("name", "?")),
            "median (s)": b.get("stats", {}).get("median"),
            **{f"extra: {k}": v for k, v in sorted(b.get("extra_info", {}).items())},
        }
        for b in benchmarks
    ]
    return pd.DataFrame(rows)


def benchmark_history_section(json_paths: Sequence[str | Path]) -> Section | None:
    """A report section of pytest-benchmark results over ``json_paths`` (None when empty)."""
    if not json_paths:
        return None
    table = pd.concat([load_benchmark_json(p) for p in json_paths], ignore_index=True)
    display, marks = plain_display(table)
    return Section("Benchmark history").table(display, marks, "pytest-benchmark results")
