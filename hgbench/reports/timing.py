"""Time ratios against ``fixed``, time to a target metric, and performance profiles.

Which clock each uses (a run's start-up, its init and the first steps' excess over the steady
per-step time, would otherwise decide the ranking of short runs):

- **time ratio vs fixed**: steady per-step time (``step_time_s``: the median over timed
  windows after start-up), start-up reported in its own column;
- **time to target**: cumulative method time at the step that reaches the target (records'
  ``time_s``), start-up included: what a user waits;
- **performance profile**: steps to target x steady per-step time, so that start-up does not
  rank the methods.

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


def optional_column(runs: pd.DataFrame, column: str) -> pd.Series:
    """``runs[column]`` as floats, all NaN when the table has no such column (older stores)."""
    if column not in runs.columns:
        return pd.Series(np.nan, index=runs.index, dtype=float)
    return pd.to_numeric(runs[column], errors="coerce").astype(float)


def steady_step_time(runs: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Per run: the steady per-step time ``step_time_s``, and whether it was estimated.

    Stores written before the runner split start-up from steady time (or runs without timed
    windows) have no ``step_time_s``; for those the estimate is ``method_time_s`` divided by
    the steps taken, start-up included (flagged True).
    """
    measured = optional_column(runs, "step_time_s")
    steps = pd.to_numeric(runs["steps_done"], errors="coerce").astype(float)
    estimate = runs["method_time_s"].astype(float) / steps.where(steps > 0)
    missing = measured.isna()
    return measured.astype(float).where(~missing, estimate), missing & estimate.notna()


def time_ratios(runs: pd.DataFrame, baseline: str = BASELINE) -> pd.DataFrame:
    """Per task x label: median times, and the steady per-step time ratio to ``baseline``.

    Only runs that finished their budget (status ``ok``, ``steps_done == budget_steps``) are
    timed. Each such run's steady per-step time (:func:`steady_step_time`) is divided by the
    median of the baseline's finished runs on the same task and budget; ``time_ratio`` is the
    median of these ratios (NaN where the task has no finished baseline run). Start-up (method
    init and the first steps' tracing and warm-up) is left out of the ratio and reported on
    its own.
    ``time_derived`` is True when any time involved is a share of a batched computation's
    wall time, ``time_estimated`` when any per-step time was estimated from total method time.
    Columns: ``task_key, label, time_s, startup_s, step_time_s, time_ratio, time_derived,
    time_estimated``.
    """
    done = runs[
        (runs["status"] == "ok")
        & (runs["steps_done"] == runs["budget_steps"])
        & np.isfinite(runs["method_time_s"].astype(float))
    ].copy()
    done["step_s"], done["estimated"] = steady_step_time(done)
    done["startup_time_s"] = optional_column(done, "startup_time_s")
    done["time_is_share"] = done["time_is_share"].fillna(False).astype(bool)
    base = (
        done[done["method"] == baseline]
        .groupby(["task_key", "budget_steps"])
        .agg(
            base_step=("step_s", "median"),
            base_share=("time_is_share", "any"),
            base_estimated=("estimated", "any"),
        )
        .reset_index()
    )
    merged = done.merge(base, on=["task_key", "budget_steps"], how="left")
    merged["ratio"] = merged["step_s"] / merged["base_step"]
    merged["derived"] = merged["time_is_share"] | merged["base_share"].fillna(False).astype(bool)
    merged["estimated_any"] = merged["estimated"] | merged["base_estimated"].fillna(False).astype(
        bool
    )
    out = merged.groupby(GROUP).agg(
        time_s=("method_time_s", "median"),
        startup_s=("startup_time_s", "median"),
        step_time_s=("step_s", "median"),
        time_ratio=("ratio", "median"),
        time_derived=("derived", "any"),
        time_estimated=("estimated_any", "any"),
    )
    keys = runs[GROUP].drop_duplicates().set_index(GROUP)
    out = keys.join(out)
    for flag in ("time_derived", "time_estimated"):
        out[flag] = out[flag].fillna(False).astype(bool)
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
    (``<=`` when lower is better, ``>=`` otherwise). ``time_to_target`` is the records'
    cumulative method time, start-up included; ``steady_time_to_target`` is the step reached
    times the run's steady per-step time (:func:`steady_step_time`): what the method costs
    once started, the measure of the performance profiles. Runs that never reach the target,
    including failed and diverged runs and runs without records, get ``inf``; runs of tasks
    without a target get NaN. Columns: ``run_id, task_key, label, target, time_to_target,
    step_to_target, steady_time_to_target``.
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
    step_s = steady_step_time(runs)[0].set_axis(runs["run_id"].to_numpy())
    per_step = out["run_id"].map(step_s).astype(float)
    with np.errstate(invalid="ignore"):
        steady = out["step_to_target"] * per_step
    # reached at step 0 costs nothing; never reached is inf whatever the step time
    steady = steady.where(out["step_to_target"] != 0, 0.0)
    steady = steady.where(~np.isinf(out["step_to_target"]), np.inf)
    out["steady_time_to_target"] = steady.where(has_target)
    return out[
        ["run_id", *GROUP, "target", "time_to_target", "step_to_target", "steady_time_to_target"]
    ]


def time_to_target_summary(per_run: pd.DataFrame) -> pd.DataFrame:
    """Per task x label: target, runs reaching it, and median time / step to target.

    Medians are over all runs, with runs that never reach the target at ``inf`` (so the median
    is ``inf`` when fewer than half reach it). Columns: ``task_key, label, target, n_runs,
    n_reached, reached_share, median_time_to_target, median_step_to_target,
    median_steady_time_to_target``.
    """
    g = per_run.groupby(GROUP)
    out = g.agg(
        target=("target", "first"),
        n_runs=("run_id", "size"),
        n_reached=("time_to_target", lambda s: int(np.isfinite(s).sum())),
        median_time_to_target=("time_to_target", "median"),
        median_step_to_target=("step_to_target", "median"),
        median_steady_time_to_target=("steady_time_to_target", "median"),
    )
    out["reached_share"] = out["n_reached"] / out["n_runs"]
    return out.reset_index()


def performance_ratios(
    measure: pd.DataFrame, value: str = "median_steady_time_to_target"
) -> pd.DataFrame:
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
    taus = np.asarray(taus, dtype=float)
    labels = sorted(ratios["label"].unique())
    if not labels:
        return pd.DataFrame(columns=["label", "tau", "fraction"])
    # per label, the sorted ratios; the count at or below each tau is a searchsorted
    counts = np.stack(
        [
            np.searchsorted(np.sort(ratios.loc[ratios["label"] == label, "ratio"].to_numpy(float)),
                            taus, side="right")
            for label in labels
        ]
    )  # fmt: skip
    return pd.DataFrame(
        {
            "label": np.repeat(labels, taus.size),
            "tau": np.tile(taus, len(labels)),
            "fraction": (counts / n_tasks).ravel(),
        }
    )
