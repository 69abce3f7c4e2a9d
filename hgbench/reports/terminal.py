"""Plain-text summaries for the terminal: ``hgbench show`` and ``hgbench compare``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hgbench.reports.paired import head_to_head
from hgbench.reports.stats import GROUP, classify_runs, no_better_than_untrained
from hgbench.reports.tables import fmt, fmt_interval
from hgbench.reports.timing import steady_step_time

WIDTH = 200


def _text(table: pd.DataFrame) -> str:
    with pd.option_context("display.width", WIDTH, "display.max_rows", 1000,
                           "display.max_columns", 50):  # fmt: skip
        return table.to_string(index=False)


def resolve_label(runs: pd.DataFrame, name: str) -> str:
    """The method label ``name`` means: a label, or a method key with exactly one label."""
    labels = sorted(runs["label"].unique())
    if name in labels:
        return name
    matches = sorted(runs.loc[runs["method"] == name, "label"].unique())
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ValueError(f"method {name!r} has several variants; name one of: {', '.join(matches)}")
    raise ValueError(f"no method {name!r} in the results; they hold: {', '.join(labels)}")


def show_text(runs: pd.DataFrame, source: str = "") -> str:
    """Per task x method: run statuses, the median final test metric with its spread (the
    interquartile range over valid runs), how many valid runs ended no better than the
    untrained model, median times (method, start-up, steady per step) and peak memory."""
    runs = classify_runs(runs)
    step_s, _ = steady_step_time(runs)
    runs = runs.assign(
        stuck=no_better_than_untrained(runs) & runs["valid"],
        step_ms=step_s * 1e3,
        startup=pd.to_numeric(runs.get("startup_time_s"), errors="coerce")
        if "startup_time_s" in runs
        else np.nan,
        untrained_known=pd.to_numeric(runs.get("untrained_test_metric"), errors="coerce").notna()
        if "untrained_test_metric" in runs
        else False,
    )
    rows = []
    for (task, label), g in runs.groupby(GROUP, sort=True):
        valid = g.loc[g["valid"], "final_test_metric"].astype(float)
        q25, q50, q75 = (valid.quantile(q) if len(valid) else np.nan for q in (0.25, 0.5, 0.75))
        statuses = g["status"].value_counts()
        lower = bool(g["lower_is_better"].iloc[0])
        rows.append(
            {
                "task": task, "method": label,
                "metric": f"{g['metric'].iloc[0]} {'↓' if lower else '↑'}",
                "runs": len(g),
                "status": ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())),
                "median": fmt(q50), "spread (IQR)": f"{fmt(q25)} – {fmt(q75)}" if len(valid) else "—",
                "≤ untrained": f"{int(g['stuck'].sum())}/{len(g)}"
                if g["untrained_known"].any() else "—",
                "method s": fmt(g["method_time_s"].astype(float).median(), 3),
                "start-up s": fmt(g["startup"].astype(float).median(), 3),
                "steady ms/step": fmt(g["step_ms"].astype(float).median(), 3),
                "peak MiB": fmt(g["peak_memory_bytes"].astype(float).max() / 2**20, 4),
            }
        )  # fmt: skip
    version = runs["schema_version"].dropna()
    head = f"{source}: {len(runs)} runs" + (
        f", schema {int(version.iloc[0])}" if len(version) else ""
    )
    notes = (
        "median and spread (interquartile range) of the final test metric over valid runs; "
        "≤ untrained: valid runs that ended no better than the initial weights' test metric."
    )
    return f"{head}\n{_text(pd.DataFrame(rows))}\n{notes}"


def compare_text(
    runs: pd.DataFrame,
    method: str,
    reference: str,
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> str:
    """The paired head-to-head of two methods, a line per task both ran."""
    runs = classify_runs(runs)
    a, b = resolve_label(runs, method), resolve_label(runs, reference)
    if a == b:
        raise ValueError(f"compare two different methods (both are {a!r})")
    table = head_to_head(runs, a, b, n_boot=n_boot, confidence=confidence, seed=seed)
    if table.empty:
        return f"{a} and {b} share no paired (seed, init) on any task: nothing to compare."
    metrics = runs.groupby("task_key").agg(
        metric=("metric", "first"), lower=("lower_is_better", "first")
    )
    pct = f"{round(confidence * 100)}%"
    out = pd.DataFrame(
        {
            "task": table["task_key"],
            "metric": [
                f"{metrics.loc[t, 'metric']} {'↓' if metrics.loc[t, 'lower'] else '↑'}"
                for t in table["task_key"]
            ],
            "pairs": table["n_pairs"],
            "wins": table["wins"],
            "ties": table["ties"],
            "losses": table["losses"],
            f"median improvement [{pct} CI]": [
                fmt_interval(m, lo, hi, note, signed=True)
                for m, lo, hi, note in table[
                    ["median_difference", "ci_lo", "ci_hi", "ci_note"]
                ].values
            ],
            "p (Wilcoxon)": table["p_value"].map(lambda p: fmt(p, 2)),
        }
    )
    head = f"{a} against {b}: final test metric over paired inits (improvement > 0: {a} is better)"
    notes = (
        f"A diverged or failed run is a loss for its method. Interval: percentile bootstrap "
        f"over pairs ({n_boot} resamples), from 5 pairs on. p: two-sided Wilcoxon "
        f"signed-rank test per task (ties dropped), not corrected for the "
        f"{len(table)} task(s)."
    )
    return f"{head}\n{_text(out)}\n{notes}"
