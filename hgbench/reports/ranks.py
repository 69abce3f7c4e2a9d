"""Ranks of methods across tasks: mean rank, the Friedman test and the Nemenyi critical difference.

Demšar, "Statistical Comparisons of Classifiers over Multiple Data Sets", JMLR 7 (2006): rank
the k methods on each of N data sets (here: tasks; 1 = best, ties share the mean rank), compare
the mean ranks with the Friedman test (and Iman and Davenport's F form of it), and call two
methods different when their mean ranks differ by at least the Nemenyi critical difference
``CD = q_alpha * sqrt(k (k + 1) / (6 N))``, where ``q_alpha`` is the studentized range
quantile for k groups (infinite degrees of freedom) divided by sqrt(2).

A method's value on a task is its median final test metric over the paired inits, diverged and
failed runs counted as the worst value (:func:`hgbench.reports.paired.task_medians`). Only
methods that ran on every compared task enter (the test needs complete blocks).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from hgbench.reports.paired import pair_scores, task_medians


@dataclass(frozen=True)
class RankTest:
    """The Friedman test over ``n_tasks`` blocks and ``n_methods`` methods, and Nemenyi's CD."""

    mean_ranks: pd.Series  # label -> mean rank, best first
    n_tasks: int
    n_methods: int
    left_out: tuple[str, ...]  # labels not run on every task
    chi2: float
    p_value: float
    iman_davenport_f: float
    iman_davenport_p: float
    critical_difference: float
    alpha: float


def rank_matrix(runs: pd.DataFrame) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Tasks x labels ranks (1 = best) over the labels that ran on every task, and the labels
    left out because they did not."""
    med = task_medians(pair_scores(runs))
    wide = med.pivot(index="task_key", columns="label", values="median_score")
    complete = wide.columns[wide.notna().all()]
    left_out = tuple(sorted(set(wide.columns) - set(complete)))
    wide = wide[complete]
    ranks = wide.rank(axis=1, method="average")
    return ranks, left_out


def nemenyi_cd(n_methods: int, n_tasks: int, alpha: float = 0.05) -> float:
    """Nemenyi's critical difference of mean ranks (Demšar 2006, section 3.2.2)."""
    if n_methods < 2 or n_tasks < 1:
        return math.nan
    q = stats.studentized_range.ppf(1 - alpha, n_methods, np.inf) / math.sqrt(2)
    return float(q * math.sqrt(n_methods * (n_methods + 1) / (6 * n_tasks)))


def friedman_test(runs: pd.DataFrame, alpha: float = 0.05) -> RankTest | None:
    """The Friedman test of the methods' ranks across tasks (None with < 2 tasks or < 3 methods).

    ``chi2`` and ``p_value`` are :func:`scipy.stats.friedmanchisquare` on the per-task
    medians (tie-corrected); ``iman_davenport_f`` is ``(N-1) chi2 / (N (k-1) - chi2)`` on
    ``(k-1, (k-1)(N-1))`` degrees of freedom (Demšar 2006, eq. after (2)).
    """
    ranks, left_out = rank_matrix(runs)
    n, k = ranks.shape
    if n < 2 or k < 3:
        return None
    med = task_medians(pair_scores(runs)).pivot(
        index="task_key", columns="label", values="median_score"
    )[ranks.columns]
    # infinite medians (most runs failed) share the worst rank; scipy needs finite values
    finite = med.to_numpy(float)
    top = np.nanmax(np.abs(finite[np.isfinite(finite)])) if np.isfinite(finite).any() else 1.0
    finite = np.where(np.isinf(finite), np.sign(finite) * (2 * top + 1), finite)
    if np.all(finite == finite[:, :1]):  # every method tied on every task: no test
        chi2, p = 0.0, 1.0
    else:
        chi2, p = stats.friedmanchisquare(*finite.T)
    denominator = n * (k - 1) - chi2
    f = (n - 1) * chi2 / denominator if denominator > 0 else math.inf
    p_f = float(stats.f.sf(f, k - 1, (k - 1) * (n - 1))) if math.isfinite(f) else 0.0
    return RankTest(
        mean_ranks=ranks.mean().sort_values(),
        n_tasks=n,
        n_methods=k,
        left_out=left_out,
        chi2=float(chi2),
        p_value=float(p),
        iman_davenport_f=float(f),
        iman_davenport_p=p_f,
        critical_difference=nemenyi_cd(k, n, alpha),
        alpha=alpha,
    )


def cliques(mean_ranks: pd.Series, critical_difference: float) -> list[tuple[int, int]]:
    """Maximal runs ``(first, last)`` of positions in ``mean_ranks`` (sorted ascending) whose
    ranks differ by less than ``critical_difference``: the groups a CD diagram joins."""
    r = mean_ranks.to_numpy(float)
    spans = []
    for i in range(r.size):
        j = int(np.searchsorted(r, r[i] + critical_difference, side="left")) - 1
        if j > i and not any(a <= i and j <= b for a, b in spans):
            spans.append((i, j))
    return spans
