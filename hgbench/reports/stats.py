"""Final-metric statistics per task x method: run classification, bootstrap intervals, marking.

A chain of small DataFrame -> DataFrame functions over the ``runs`` table of the results store
(one row per run). Methods are identified by ``label``, tasks by ``task_key`` (the task name,
qualified by its differing configuration keys when one task appears with several configs).
"""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

from hgbench.bench.schema import STATUSES as KNOWN_STATUSES

log = logging.getLogger(__name__)

GROUP = ["task_key", "label"]
STATISTICS = ("mean", "median", "best")
#: fewer valid runs (or pairs) than this give no confidence interval: with 3 runs a percentile
#: bootstrap "95% interval" is the range of the data, not a statement of confidence
MIN_CI_RUNS = 5
#: the runs columns these statistics need (a subset of ``hgbench.bench.schema.RUN_COLUMNS``)
NEEDED_RUN_COLUMNS = (
    "run_id task task_config label method seed init_index status final_test_metric "
    "final_test_loss lower_is_better divergence_threshold metric"
).split()


def require_columns(df: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    """Raise a ValueError naming the columns of ``name`` that ``df`` lacks."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{name} table lacks column(s) {missing}; has {list(df.columns)}")


def task_keys(runs: pd.DataFrame) -> pd.Series:
    """A readable key per run: ``task``, or ``task[k=v,...]`` when configs of a task differ."""
    keys = runs["task"].astype(str).copy()
    for task, rows in runs.groupby("task", sort=False):
        configs = rows["task_config"].fillna("{}").astype(str)
        if configs.nunique() < 2:
            continue
        parsed = {c: json.loads(c) for c in configs.unique()}
        fields = sorted({k for d in parsed.values() for k in d})
        differing = [k for k in fields if len({json.dumps(d.get(k)) for d in parsed.values()}) > 1]
        for config, conf in parsed.items():
            suffix = ",".join(f"{k}={conf.get(k)}" for k in differing)
            keys[rows.index[configs == config]] = f"{task}[{suffix}]"
    return keys


def classify_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Add ``task_key``, ``failed``, ``diverged`` and ``valid`` columns to ``runs``.

    A run is *failed* when its status is oom, timeout or error (or unknown); *diverged* when
    not failed and its status is ``diverged``, its final test metric is non-finite, or its final
    value is above the task's ``divergence_threshold`` (the metric when lower is better, else
    the final test loss); *valid* otherwise. Only valid runs enter the final-metric statistics.
    """
    require_columns(runs, NEEDED_RUN_COLUMNS, "runs")
    out = runs.copy()
    out["task_key"] = task_keys(out)
    unknown = set(out["status"].dropna()) - set(KNOWN_STATUSES)
    if unknown:
        log.warning("runs with unknown status %s are counted as failed", sorted(unknown))
    metric = pd.to_numeric(out["final_test_metric"], errors="coerce").astype(float)
    loss = pd.to_numeric(out["final_test_loss"], errors="coerce").astype(float)
    lower = out["lower_is_better"].astype(bool)
    threshold = pd.to_numeric(out["divergence_threshold"], errors="coerce").astype(float)
    checked = metric.where(lower, loss)
    over = threshold.notna() & (checked > threshold)
    out["failed"] = ~out["status"].isin(["ok", "diverged"])
    out["diverged"] = ~out["failed"] & ((out["status"] == "diverged") | ~np.isfinite(metric) | over)
    out["valid"] = ~out["failed"] & ~out["diverged"]
    return out


def too_few_note(n: int) -> str:
    """The reason shown in a confidence interval's place for ``n`` runs ('' when enough)."""
    if n >= MIN_CI_RUNS:
        return ""
    return f"n={n}: too few for a CI" if n else "no valid runs"


def _statistic(samples: np.ndarray, stat: str, lower_is_better: bool) -> np.ndarray:
    """``stat`` along the last axis; "best" is the min (lower is better) or the max."""
    if stat == "mean":
        return samples.mean(axis=-1)
    if stat == "median":
        return np.median(samples, axis=-1)
    if stat == "best":
        return samples.min(axis=-1) if lower_is_better else samples.max(axis=-1)
    raise ValueError(f"unknown statistic {stat!r}; expected one of {STATISTICS}")


def bootstrap_ci(
    values: np.ndarray,
    stat: str,
    *,
    lower_is_better: bool = True,
    n_boot: int = 2000,
    confidence: float = 0.95,
    rng: np.random.Generator,
) -> tuple[float, float, float]:
    """Point estimate and percentile bootstrap interval of ``stat`` over ``values``.

    Resamples the values (runs) with replacement ``n_boot`` times; the interval is the
    ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles of the resampled statistic.
    Empty input gives NaNs; one value gives a zero-width interval.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be positive, got {n_boot}")
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return (np.nan, np.nan, np.nan)
    point = float(_statistic(values, stat, lower_is_better))
    resampled = values[rng.integers(0, values.size, size=(n_boot, values.size))]
    stats = _statistic(resampled, stat, lower_is_better)
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(stats, [alpha, 1 - alpha])
    return (point, float(lo), float(hi))


def group_rng(seed: int, *key: str) -> np.random.Generator:
    """A generator seeded by ``seed`` and a stable hash of ``key`` (independent of order)."""
    return np.random.default_rng([seed, *(zlib.crc32(k.encode()) for k in key)])


def final_metric_summary(
    runs: pd.DataFrame, *, n_boot: int = 2000, confidence: float = 0.95, seed: int = 0
) -> pd.DataFrame:
    """Per task x label: run counts and mean / median / best valid final test metric with CIs.

    Expects :func:`classify_runs` output. Columns: ``task_key, label, metric, lower_is_better,
    n_runs, n_valid, n_diverged, diverged_share, n_failed, n_missing, ci_note`` and, for each
    statistic ``s`` in mean, median, best: ``s, s_lo, s_hi``. ``n_missing`` counts the
    (seed, init) pairs run by some method of the task but not by this one. With fewer than
    :data:`MIN_CI_RUNS` valid runs the intervals are NaN and ``ci_note`` says why.

    The bootstrap draws one ``(n_boot, n)`` index matrix per cell (vectorised, no Python loop
    over resamples).
    """
    rows = []
    pairs = runs.groupby("task_key")[["seed", "init_index"]].apply(
        lambda d: len(d.drop_duplicates())
    )
    for (task_key, label), g in runs.groupby(GROUP, sort=True):
        lower = bool(g["lower_is_better"].iloc[0])
        values = g.loc[g["valid"], "final_test_metric"].to_numpy(dtype=float)
        row = {
            "task_key": task_key,
            "label": label,
            "metric": str(g["metric"].iloc[0]),
            "lower_is_better": lower,
            "n_runs": len(g),
            "n_valid": int(g["valid"].sum()),
            "n_diverged": int(g["diverged"].sum()),
            "diverged_share": float(g["diverged"].mean()),
            "n_failed": int(g["failed"].sum()),
            "n_missing": int(pairs[task_key] - len(g[["seed", "init_index"]].drop_duplicates())),
            "ci_note": too_few_note(values.size),
        }
        for stat in STATISTICS:
            if values.size < MIN_CI_RUNS:
                point = float(_statistic(values, stat, lower)) if values.size else np.nan
                lo = hi = np.nan
            else:
                rng = group_rng(seed, str(task_key), str(label), stat)
                point, lo, hi = bootstrap_ci(
                    values, stat, lower_is_better=lower, n_boot=n_boot, confidence=confidence,
                    rng=rng,
                )  # fmt: skip
            row.update({stat: point, f"{stat}_lo": lo, f"{stat}_hi": hi})
        rows.append(row)
    return pd.DataFrame(rows)


#: relative tolerance under which a final metric counts as the untrained model's (float32)
UNTRAINED_RTOL = 1e-5


def no_better_than_untrained(runs: pd.DataFrame) -> pd.Series:
    """Per run: True when its final test metric is no better than the untrained model's
    (``untrained_test_metric``, the initial weights' test metric; equal within
    :data:`UNTRAINED_RTOL` counts as no better), i.e. training did not help; False for
    failed or diverged runs, NaN-free; False when the untrained metric was not recorded."""
    final = pd.to_numeric(runs["final_test_metric"], errors="coerce").astype(float)
    if "untrained_test_metric" in runs.columns:
        untrained = pd.to_numeric(runs["untrained_test_metric"], errors="coerce").astype(float)
    else:
        untrained = pd.Series(np.nan, index=runs.index)
    lower = runs["lower_is_better"].astype(bool)
    close = np.isclose(final, untrained, rtol=UNTRAINED_RTOL, atol=0.0)
    worse = np.where(lower, final > untrained, final < untrained)
    return pd.Series(
        (close | worse) & np.isfinite(final) & np.isfinite(untrained), index=runs.index
    )


def untrained_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Per task x label: the median untrained test metric and how many valid runs ended no
    better than it (NaN where no run recorded the untrained metric). Columns: ``task_key,
    label, untrained_metric, n_untrained``."""
    untrained = (
        pd.to_numeric(runs["untrained_test_metric"], errors="coerce").astype(float)
        if "untrained_test_metric" in runs.columns
        else pd.Series(np.nan, index=runs.index)
    )
    flags = no_better_than_untrained(runs) & runs["valid"]
    out = (
        runs.assign(untrained=untrained, flag=flags)
        .groupby(GROUP)
        .agg(
            untrained_metric=("untrained", "median"),
            n_untrained=("flag", "sum"),
            known=("untrained", lambda s: s.notna().any()),
        )
    )
    out["n_untrained"] = out["n_untrained"].astype(float).where(out["known"])
    return out.drop(columns="known").reset_index()


def resource_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Per task x label: median peak memory, its kind, median cost counters per init, and
    whether the counters are exact (``counts_exact``: False when the method says they miss
    work, e.g. a ``higher`` loop's backward passes).

    Cost counters are summed over the rows of one (seed, init) pair (so a method that stores
    several runs per init is charged for all of them), then the median over inits is taken.
    """
    per_init = runs.groupby([*GROUP, "seed", "init_index"], dropna=False)[
        ["cost_forward", "cost_gradient", "cost_hvp"]
    ].sum(min_count=1)
    costs = per_init.groupby(level=GROUP).median()
    exact = runs.get("counts_exact", pd.Series(True, index=runs.index)).fillna(True)
    memory = (
        runs.assign(counts_exact=exact.astype(bool))
        .groupby(GROUP)
        .agg(
            peak_memory_bytes=("peak_memory_bytes", "median"),
            memory_kind=("memory_kind", lambda s: ",".join(sorted(set(s.dropna().astype(str))))),
            counts_exact=("counts_exact", "all"),
        )
    )
    return memory.join(costs).reset_index()


def mark_best(
    table: pd.DataFrame,
    columns: Sequence[str],
    *,
    direction: dict[str, str] | None = None,
    intervals: dict[str, tuple[str, str]] | None = None,
) -> pd.DataFrame:
    """Mark, within each task, the best entry of each column and the entries tied with it.

    ``direction[col]`` is "min", "max" or "metric" (follow the row's ``lower_is_better``;
    the default). The best entry, and any entry equal to it, gets "best"; an entry whose
    interval ``intervals[col] = (lo_col, hi_col)`` overlaps the best entry's interval gets
    "tie". NaN entries are never marked. Returns a frame of "best" / "tie" /
    "" with ``table``'s index and the given columns.
    """
    direction = direction or {}
    intervals = intervals or {}
    marks = pd.DataFrame("", index=table.index, columns=list(columns))
    for _, g in table.groupby("task_key", sort=False):
        for col in columns:
            values = g[col].astype(float)
            finite = values[np.isfinite(values)]
            if finite.empty:
                continue
            how = direction.get(col, "metric")
            lower = bool(g["lower_is_better"].iloc[0]) if how == "metric" else how == "min"
            best = finite.idxmin() if lower else finite.idxmax()
            if col in intervals:
                lo_col, hi_col = intervals[col]
                lo, hi = g[lo_col].astype(float), g[hi_col].astype(float)
                tied = ((lo <= hi[best]) & (hi >= lo[best])).to_numpy()
            else:
                tied = np.zeros(len(g), dtype=bool)
            equal = np.isclose(values.to_numpy(), values[best], rtol=1e-12, atol=0.0)
            finite_mask = np.isfinite(values.to_numpy())
            marks.loc[g.index[tied & finite_mask], col] = "tie"
            marks.loc[g.index[equal & finite_mask], col] = "best"
    return marks
