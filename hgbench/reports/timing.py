"""Wall-time ratios against ``fixed``, time to a target metric, and performance profiles.

Performance profiles follow Dolan & Moré, "Benchmarking optimization software with
performance profiles", Mathematical Programming 91 (2002), as used by AlgoPerf (Dahl et al.,
"Benchmarking Neural Network Training Algorithms", arXiv:2306.07179, 2023): for each task the
ratio of a method's time to target to the fastest method's, and per method the fraction of
tasks whose ratio is at most tau.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from hgbench.bench.schema import RECORD_COLUMNS
from hgbench.reports.stats import GROUP, require_columns

#: the method key every method is timed against
BASELINE = "fixed"


def time_ratios(runs: pd.DataFrame, baseline: str = BASELINE) -> pd.DataFrame:
    """Per task x label: median method time and its ratio to ``baseline`` at the same budget.

    Only runs that finished their budget (status ``ok``, ``steps_done == budget_steps``) are
    timed. Each such run's ``method_time_s`` is divided by the median of the baseline method's
    finished runs on the same task with the same ``budget_steps``; ``time_ratio`` is the median
    of these ratios (NaN where the task has no finished baseline run). ``time_derived`` is True
    when any time involved is a share of a batched computation's wall time.
    Columns: ``task_key, label, time_s, time_ratio, time_derived``.
    """
    done = runs[
        (runs["status"] == "ok")
        & (runs["steps_done"] == runs["budget_steps"])
        & np.isfinite(runs["method_time_s"].astype(float))
    ].copy()
    done["time_is_share"] = done["time_is_share"].fillna(False).astype(bool)
    base = (
        done[done["method"] == baseline]
        .groupby(["task_key", "budget_steps"])
        .agg(base_time=("method_time_s", "median"), base_share=("time_is_share", "any"))
        .reset_index()
    )
    merged = done.merge(base, on=["task_key", "budget_steps"], how="left")
    merged["ratio"] = merged["method_time_s"] / merged["base_time"]
    merged["derived"] = merged["time_is_share"] | merged["base_share"].fillna(False).astype(bool)
    out = merged.groupby(GROUP).agg(
        time_s=("method_time_s", "median"),
        time_ratio=("ratio", "median"),
        time_derived=("derived", "any"),
    )
    keys = runs[GROUP].drop_duplicates().set_index(GROUP)
    out = keys.join(out)
    out["time_derived"] = out["time_derived"].fillna(False).astype(bool)
    return out.reset_index()


def baseline_targets(runs: pd.DataFrame, baseline: str = BASELINE) -> pd.Series:
    """Per task: the median final test metric of the baseline method's valid runs."""
    base = runs[(runs["method"] == baseline) & runs["valid"]]
    return base.groupby("task_key")["final_test_metric"].median().rename("target")


def time_to_target(
    runs: pd.DataFrame,
    records: pd.DataFrame,
    targets: Mapping[str, float] | pd.Series,
    *,
    split: str = "test",
) -> pd.DataFrame:
    """Per run: the first cumulative method time (and step) at which the metric reaches target.

    The run's own metric (``runs.metric``) on ``split`` is compared with its task's target
    (``<=`` when lower is better, ``>=`` otherwise). Runs that never reach it, including failed
    and diverged runs and runs without records, get ``inf``; runs of tasks without a target get
    NaN. Columns: ``run_id, task_key, label, target, time_to_target, step_to_target``.
    """
    require_columns(records, RECORD_COLUMNS, "records")
    targets = pd.Series(dict(targets), dtype=float) if isinstance(targets, Mapping) else targets
    base = runs[["run_id", *GROUP, "metric", "lower_is_better"]].copy()
    base["target"] = base["task_key"].map(targets).astype(float)
    recs = records[records["split"] == split].merge(base, on=["run_id", "metric"], how="inner")
    value = recs["value"].astype(float)
    lower = recs["lower_is_better"].astype(bool)
    reached = np.where(lower, value <= recs["target"], value >= recs["target"])
    hits = recs[reached & np.isfinite(value)].sort_values(["run_id", "step"])
    first = hits.groupby("run_id").first()[["time_s", "step"]]
    out = base.join(first, on="run_id")
    has_target = out["target"].notna()
    out["time_to_target"] = out["time_s"].astype(float).fillna(np.inf).where(has_target)
    out["step_to_target"] = out["step"].astype(float).fillna(np.inf).where(has_target)
    return out[["run_id", *GROUP, "target", "time_to_target", "step_to_target"]]


def time_to_target_summary(per_run: pd.DataFrame) -> pd.DataFrame:
    """Per task x label: target, runs reaching it, and median time / step to target.

    Medians are over all runs, with runs that never reach the target at ``inf`` (so the median
    is ``inf`` when fewer than half reach it). Columns: ``task_key, label, target, n_runs,
    n_reached, reached_share, median_time_to_target, median_step_to_target``.
    """
    g = per_run.groupby(GROUP)
    out = g.agg(
        target=("target", "first"),
        n_runs=("run_id", "size"),
        n_reached=("time_to_target", lambda s: int(np.isfinite(s).sum())),
        median_time_to_target=("time_to_target", "median"),
        median_step_to_target=("step_to_target", "median"),
    )
    out["reached_share"] = out["n_reached"] / out["n_runs"]
    return out.reset_index()


def performance_ratios(measure: pd.DataFrame, value: str = "median_time_to_target") -> pd.DataFrame:
    """Per task x label: ``value`` divided by the smallest finite ``value`` on that task.

    Every label is given every task present in ``measure`` that has a target (non-NaN values);
    a label without a finite value on a task (never reached, not run) gets ``inf``; so does
    every label on a task no method solved. Columns: ``task_key, label, ratio``.
    """
    known = measure[measure[value].notna()]
    tasks = sorted(known["task_key"].unique())
    labels = sorted(measure["label"].unique())
    grid = pd.MultiIndex.from_product([tasks, labels], names=GROUP)
    values = known.set_index(GROUP)[value].astype(float).reindex(grid).fillna(np.inf)
    best = values.groupby(level="task_key").transform("min")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(best == 0, np.where(values == 0, 1.0, np.inf), values / best)
    ratio = np.where(np.isfinite(best), ratio, np.inf)
    return pd.DataFrame({"ratio": ratio}, index=grid).reset_index()


def performance_profile(ratios: pd.DataFrame, taus: Sequence[float]) -> pd.DataFrame:
    """Per label and tau: the fraction of tasks whose ratio is at most tau.

    Columns: ``label, tau, fraction``; empty when ``ratios`` has no tasks.
    """
    n_tasks = ratios["task_key"].nunique()
    rows = [
        {
            "label": label,
            "tau": float(tau),
            "fraction": float((g["ratio"] <= tau).sum() / n_tasks),
        }
        for label, g in ratios.groupby("label", sort=True)
        for tau in taus
    ]
    return pd.DataFrame(rows, columns=["label", "tau", "fraction"])
