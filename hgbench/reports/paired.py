"""Paired comparisons of methods over the paired inits of a task.

Init ``k`` of a sweep starts every method from the same initial hyperparameters, so two
methods are compared *pair by pair*: on each (``seed``, ``init_index``) both ran, which one
ended with the better final test metric. Pure DataFrame -> DataFrame functions over the
:func:`hgbench.reports.stats.classify_runs` table.

Conventions, the same in every function and in the report's text:

- The **difference** of method A against reference B on a pair is A's *improvement*: B's final
  test metric minus A's when lower is better, A's minus B's otherwise, so positive means A is
  better, in the metric's own units.
- A run that **diverged or failed** (oom, timeout, error) is a **loss** for its method: its
  difference is ``-inf`` (``+inf`` for the other side). Both failing is a tie (difference 0).
  Infinite differences are the largest in magnitude, so they take the extreme ranks in the
  Wilcoxon test (entered as finite values larger than every finite difference) and pull the
  median; a median whose two middle values are ``-inf`` and ``+inf`` is undefined (NaN).
- A **tie** is a difference within :data:`TIE_RTOL` of the metric's size: equal to 5 digits,
  below which float32 metrics (summed over a test set) differ by rounding alone.
- Pairs that one of the two methods did not run are left out (``n_pairs`` counts the rest).
- Several runs of one method on one pair (rare) enter as the median of their valid runs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from hgbench.reports.stats import MIN_CI_RUNS, group_rng, too_few_note

#: the method every method is compared with, besides the task's best
BASELINE = "fixed"
#: relative tolerance under which two final metrics are a tie (float32 rounding: ~1e-6)
TIE_RTOL = 1e-5
PAIR = ["seed", "init_index"]
COMPARISON_COLUMNS = [
    "task_key", "method", "reference", "against", "n_pairs", "wins", "ties", "losses",
    "median_difference", "ci_lo", "ci_hi", "ci_note", "p_value",
]  # fmt: skip


def pair_scores(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per task x label x pair: the final test metric and a loss-oriented score.

    ``score`` is the metric when lower is better and minus the metric otherwise, ``+inf`` when
    no run of the pair is valid (diverged or failed). Columns: ``task_key, label, seed,
    init_index, lower_is_better, metric_value, valid, score``.
    """
    keys = ["task_key", "label", *PAIR]
    value = runs["final_test_metric"].astype(float).where(runs["valid"])
    g = runs.assign(metric_value=value).groupby(keys, sort=True)
    out = g.agg(
        lower_is_better=("lower_is_better", "first"),
        metric_value=("metric_value", "median"),
        valid=("valid", "any"),
    ).reset_index()
    sign = np.where(out["lower_is_better"].astype(bool), 1.0, -1.0)
    out["score"] = np.where(out["valid"], sign * out["metric_value"], np.inf)
    return out


def score_differences(score_a: np.ndarray, score_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Improvements of A over B from paired loss-oriented scores (``+inf``: failed), and the
    outcomes ``win`` / ``tie`` / ``loss``; ties have difference 0."""
    sa, sb = np.asarray(score_a, dtype=float), np.asarray(score_b, dtype=float)
    with np.errstate(invalid="ignore"):
        diff = sb - sa  # inf - inf (both failed) is NaN: a tie
    diff = np.where(np.isinf(sa) & np.isinf(sb), 0.0, diff)
    size = np.fmax(
        np.abs(np.where(np.isfinite(sa), sa, 0)), np.abs(np.where(np.isfinite(sb), sb, 0))
    )
    tie = np.abs(diff) <= TIE_RTOL * size
    outcome = np.select([tie, diff > 0], ["tie", "win"], "loss")
    return np.where(tie, 0.0, diff), outcome


def pair_differences(scores: pd.DataFrame, method: str, reference: str) -> pd.DataFrame:
    """Per task and pair both labels ran: ``method``'s improvement over ``reference``.

    ``scores`` is :func:`pair_scores` output. Columns: ``task_key, seed, init_index,
    method_value, reference_value, difference, outcome`` (``win`` / ``tie`` / ``loss``).
    """
    cols = ["task_key", *PAIR, "metric_value", "score"]
    a = scores.loc[scores["label"] == method, cols]
    b = scores.loc[scores["label"] == reference, cols]
    both = a.merge(b, on=["task_key", *PAIR], suffixes=("_a", "_b"))
    diff, outcome = score_differences(both["score_a"].to_numpy(), both["score_b"].to_numpy())
    return pd.DataFrame(
        {
            "task_key": both["task_key"],
            "seed": both["seed"],
            "init_index": both["init_index"],
            "method_value": both["metric_value_a"],
            "reference_value": both["metric_value_b"],
            "difference": diff,
            "outcome": outcome,
        }
    )


def medians(samples: np.ndarray) -> np.ndarray:
    """Medians along the last axis of values that may be infinite.

    The mean of the two middle values for an even count: infinite when one of them is, NaN
    when they are ``-inf`` and ``+inf`` (without ``np.median``'s warnings).
    """
    s = np.sort(samples, axis=-1)
    n = s.shape[-1]
    lo, hi = s[..., (n - 1) // 2], s[..., n // 2]
    with np.errstate(invalid="ignore"):
        return (lo + hi) / 2  # -inf + inf is NaN; one infinite middle value gives it


def bootstrap_median(
    differences: np.ndarray, *, n_boot: int, confidence: float, rng: np.random.Generator
) -> tuple[float, float]:
    """Percentile bootstrap interval of the median paired difference (resampling pairs).

    One ``(n_boot, n)`` index draw, medians by :func:`medians`; the interval is the empirical
    ``(1 -+ confidence) / 2`` quantiles without interpolation (so infinite medians stay
    infinite instead of turning into NaN); resamples with an undefined median are left out.
    """
    d = np.asarray(differences, dtype=float)
    meds = medians(d[rng.integers(0, d.size, size=(n_boot, d.size))])
    meds = meds[~np.isnan(meds)]
    if meds.size == 0:
        return (np.nan, np.nan)
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(meds, [alpha, 1 - alpha], method="inverted_cdf")
    return (float(lo), float(hi))


def wilcoxon_p(differences: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired differences (scipy's defaults).

    Zero differences (ties) are dropped (``zero_method="wilcox"``); infinite ones are
    replaced by finite values beyond every finite one, keeping their sign and extreme rank.
    NaN when no pair differs.
    """
    d = np.asarray(differences, dtype=float)
    d = d[~np.isnan(d) & (d != 0)]
    if d.size == 0:
        return np.nan
    finite = np.abs(d[np.isfinite(d)])
    big = 2.0 * (finite.max() if finite.size else 1.0) + 1.0
    d = np.where(np.isinf(d), np.sign(d) * big, d)
    return float(stats.wilcoxon(d).pvalue)


def head_to_head(
    runs: pd.DataFrame,
    method: str,
    reference: str,
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    scores: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per task both labels ran: paired wins / ties / losses of ``method`` against ``reference``.

    With the median paired difference (positive: ``method`` better), its percentile bootstrap
    interval (NaN with a ``ci_note`` when fewer than ``MIN_CI_RUNS`` pairs) and the uncorrected
    Wilcoxon signed-rank p-value. Columns: :data:`COMPARISON_COLUMNS` (``against`` empty).
    """
    scores = pair_scores(runs) if scores is None else scores
    diffs = pair_differences(scores, method, reference)
    rows = [
        summarise_pairs(
            str(task_key), method, reference, g["difference"].to_numpy(float),
            g["outcome"].to_numpy(), n_boot=n_boot, confidence=confidence, seed=seed,
        )
        for task_key, g in diffs.groupby("task_key", sort=True)
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def summarise_pairs(
    task_key: str,
    method: str,
    reference: str,
    differences: np.ndarray,
    outcomes: np.ndarray,
    *,
    n_boot: int,
    confidence: float,
    seed: int,
) -> dict:
    """One comparison's row of :data:`COMPARISON_COLUMNS` from its paired differences."""
    d = differences
    lo = hi = np.nan
    if d.size >= MIN_CI_RUNS:
        rng = group_rng(seed, task_key, method, reference)
        lo, hi = bootstrap_median(d, n_boot=n_boot, confidence=confidence, rng=rng)
    return {
        "task_key": task_key, "method": method, "reference": reference, "against": "",
        "n_pairs": int(d.size), "wins": int((outcomes == "win").sum()),
        "ties": int((outcomes == "tie").sum()), "losses": int((outcomes == "loss").sum()),
        "median_difference": float(medians(d)) if d.size else np.nan, "ci_lo": lo,
        "ci_hi": hi, "ci_note": too_few_note(d.size), "p_value": wilcoxon_p(d),
    }  # fmt: skip


def task_medians(scores: pd.DataFrame) -> pd.DataFrame:
    """Per task x label: the median score over pairs (diverged and failed at ``+inf``) and the
    rank within the task (1 = best; ties share the mean rank). Columns: ``task_key, label,
    median_score, rank``."""
    med = scores.groupby(["task_key", "label"])["score"].agg(lambda s: float(medians(s.to_numpy())))
    out = med.rename("median_score").reset_index()
    out["rank"] = out.groupby("task_key")["median_score"].rank(method="average", na_option="bottom")
    return out


def best_labels(scores: pd.DataFrame) -> pd.Series:
    """Per task: the label with the best median final test metric (diverged and failed runs
    counted as the worst value); ties go to the alphabetically first label."""
    med = task_medians(scores).sort_values(["task_key", "median_score", "label"])
    return med.groupby("task_key")["label"].first()


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm 1979); NaNs stay NaN and are not counted."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    known = np.flatnonzero(~np.isnan(p))
    m = known.size
    if m == 0:
        return out
    order = known[np.argsort(p[known], kind="stable")]
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adjusted, 1.0)
    return out


def paired_comparisons(
    runs: pd.DataFrame,
    *,
    baseline: str = BASELINE,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Per task: every label against ``baseline`` (``against="baseline"``) and against the task's
    best label (``against="best"``), with Holm-corrected p-values (``p_holm``) over the
    distinct comparisons of the task (a label is not compared with itself; ``baseline`` against
    the best and the best against ``baseline`` are one test, counted once).

    Columns: :data:`COMPARISON_COLUMNS` and ``p_holm``; ``best`` marks rows whose method is the
    task's best.
    """
    scores = pair_scores(runs)
    best = best_labels(scores)
    parts = []
    for task_key, task_scores in scores.groupby("task_key", sort=True):
        labels = sorted(task_scores["label"].unique())
        pairs: list[tuple[str, str, str]] = []
        if baseline in labels:
            pairs += [(label, baseline, "baseline") for label in labels if label != baseline]
        top = best[task_key]
        pairs += [(label, top, "best") for label in labels if label != top]
        if not pairs:
            continue
        wide = task_scores.pivot(index=PAIR, columns="label", values="score")
        rows = []
        for a, b, kind in pairs:
            both = wide[[a, b]].dropna()  # NaN: the pair was not run (failed runs are +inf)
            diff, outcome = score_differences(both[a].to_numpy(), both[b].to_numpy())
            row = summarise_pairs(
                str(task_key), a, b, diff, outcome, n_boot=n_boot, confidence=confidence,
                seed=seed,
            )  # fmt: skip
            rows.append(row | {"against": kind})
        task = pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
        # one test per unordered pair of labels: fixed-vs-best is best-vs-fixed mirrored
        key = [frozenset(ab) for ab in zip(task["method"], task["reference"], strict=True)]
        first = task.assign(key=key).drop_duplicates("key").set_index("key")["p_value"]
        adjusted = pd.Series(holm(first.to_numpy()), index=first.index)
        task["p_holm"] = [adjusted[k] for k in key]
        task["best"] = task["method"] == top
        parts.append(task)
    if not parts:
        return pd.DataFrame(columns=[*COMPARISON_COLUMNS, "p_holm", "best"])
    return pd.concat(parts, ignore_index=True)
