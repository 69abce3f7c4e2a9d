"""The paired ratios of past ``hgbench bench compare`` runs, per compared commit and case.

Each comparison's JSON file (``kind: hgbench-ab``) holds, per case, the median ratio head/base,
its interval and the verdict. :func:`load_comparisons` reads a series of them into a tidy table
(one row per comparison × case, ordered by when each was made); :func:`ratio_table` is the
commit × case table of the report: ``median [low, high] verdict``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from hgbench.bench.ab.report import load
from hgbench.reports.document import Section

COLUMNS = ["comparison", "created", "head", "base", "case", "ratio", "low", "high",
           "verdict", "threshold", "rounds", "file"]  # fmt: skip


def _commit(side: dict) -> str:
    commit = (side.get("commit") or side.get("spec") or "?")[:7]
    return commit + ("+" if side.get("dirty") else "")


def load_comparisons(paths: Sequence[str | Path]) -> pd.DataFrame:
    """One row per comparison × case, comparisons in the order they were made."""
    docs = sorted(((load(p), str(p)) for p in paths), key=lambda d: (d[0].get("created", ""),))
    rows = []
    for i, (doc, path) in enumerate(docs):
        head, base = _commit(doc["sides"]["head"]), _commit(doc["sides"]["base"])
        for case in doc["cases"]:
            rows.append({
                "comparison": i, "created": doc.get("created"), "head": head, "base": base,
                "case": case["case"], "ratio": case["ratio"], "low": case["low"],
                "high": math.inf if case["high"] is None else case["high"],
                "verdict": case["verdict"], "threshold": doc["threshold"],
                "rounds": case["rounds"], "file": path,
            })  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)


def _cell(row: pd.Series) -> str:
    high = "∞" if math.isinf(row["high"]) else f"{row['high']:.3f}"
    return f"{row['ratio']:.3f} [{row['low']:.3f}, {high}] {row['verdict']}"


def ratio_table(comparisons: pd.DataFrame) -> pd.DataFrame:
    """Commit × case: one row per comparison (``head`` against ``base``), a column per case."""
    data = comparisons.assign(
        cell=comparisons.apply(_cell, axis=1),
        commit=comparisons["head"] + " vs " + comparisons["base"],
    )
    wide = data.pivot_table(
        index=["comparison", "commit", "created"], columns="case", values="cell", aggfunc="first"
    ).reset_index()
    wide = wide.sort_values("comparison").drop(columns="comparison").rename_axis(columns=None)
    return wide.fillna("").reset_index(drop=True)


def ab_history_section(paths: Sequence[str | Path]) -> Section | None:
    """The report section of the comparisons in ``paths`` (None when there are none)."""
    if not paths:
        return None
    comparisons = load_comparisons(paths)
    section = Section("A/B timing comparisons")
    n_slow = int((comparisons["verdict"] == "slower").sum())
    section.text(
        f"{comparisons['comparison'].nunique()} comparisons (`hgbench bench compare`), "
        f"{comparisons['case'].nunique()} cases; {n_slow} case results slower. Each cell: "
        "median paired ratio head/base [sign-test interval] and the verdict at the threshold "
        "of that comparison (docs/ci-timing.md)."
    )
    table = ratio_table(comparisons)
    section.table(
        table,
        pd.DataFrame("", index=table.index, columns=table.columns),
        "Median paired ratio head/base per compared commit and case",
        collapsed=len(table) > 40,
    )
    return section
