"""From paired timing samples to a median ratio, an interval and a verdict (pure functions).

Each round times a case once on each side, back to back; its *ratio* is head time / base
time. The estimate is the median of the ratios with a distribution-free interval: the exact
sign-test (binomial order statistic) confidence interval for the median, which assumes only
that the rounds are independent, not that the noise is normal or even unimodal.

A verdict at a threshold ``t`` compares the whole interval with the band
``[1/(1+t), 1+t]``: *slower* when the interval lies above ``1+t``, *faster* when it lies below
``1/(1+t)``, *no change* when it lies inside the band, otherwise *inconclusive* (the interval
straddles a band edge, or there are too few rounds for an interval at the asked confidence).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

SLOWER, FASTER, NO_CHANGE, INCONCLUSIVE = "slower", "faster", "no change", "inconclusive"
VERDICTS = (SLOWER, FASTER, NO_CHANGE, INCONCLUSIVE)
#: The default threshold: a head 5 % slower than its base (see docs/ci-timing.md for why).
DEFAULT_THRESHOLD = 0.05
DEFAULT_CONFIDENCE = 0.95


@dataclass(frozen=True)
class Estimate:
    """The median paired ratio of ``n`` rounds and its interval ``[low, high]``, which covers
    the true median with probability ``coverage`` (>= the confidence asked; ``low = 0`` and
    ``high = inf`` when ``n`` is too small for any interval at that confidence)."""

    n: int
    median: float
    low: float
    high: float
    coverage: float


def ratios(base: Sequence[float], head: Sequence[float]) -> np.ndarray:
    """Per-round ratios head / base of paired samples (same length, positive)."""
    b, h = np.asarray(base, dtype=float), np.asarray(head, dtype=float)
    if b.shape != h.shape or b.ndim != 1:
        raise ValueError(f"paired samples need equal lengths, got {b.shape} and {h.shape}")
    if b.size and (b.min() <= 0 or h.min() <= 0):
        raise ValueError("timings must be positive")
    return h / b


def sign_test_rank(n: int, confidence: float = DEFAULT_CONFIDENCE) -> int:
    """The largest ``k`` (1-based) such that ``[x_(k), x_(n-k+1)]`` covers the median with
    probability >= ``confidence``; 0 when no such ``k`` exists (too few samples)."""
    if n < 1:
        return 0
    alpha = 1.0 - confidence
    # P(x_(k) > median) = P(Binom(n, 1/2) <= k - 1); both tails together must stay <= alpha
    k = int(stats.binom.ppf(alpha / 2.0, n, 0.5))
    while k >= 1 and 2.0 * stats.binom.cdf(k - 1, n, 0.5) > alpha:
        k -= 1
    while 2.0 * stats.binom.cdf(k, n, 0.5) <= alpha and k + 1 <= (n + 1) // 2:
        k += 1
    return max(k, 0)


def estimate(samples: Sequence[float], confidence: float = DEFAULT_CONFIDENCE) -> Estimate:
    """The median of ``samples`` (ratios) and its exact sign-test interval."""
    x = np.sort(np.asarray(samples, dtype=float))
    n = int(x.size)
    if n == 0:
        return Estimate(0, math.nan, 0.0, math.inf, 0.0)
    median = float(math.exp(np.median(np.log(x))))
    k = sign_test_rank(n, confidence)
    if k == 0:
        return Estimate(n, median, 0.0, math.inf, 0.0)
    coverage = 1.0 - 2.0 * float(stats.binom.cdf(k - 1, n, 0.5))
    return Estimate(n, median, float(x[k - 1]), float(x[n - k]), coverage)


def verdict(est: Estimate, threshold: float = DEFAULT_THRESHOLD) -> str:
    """``slower``, ``faster``, ``no change`` or ``inconclusive`` at ``threshold`` (0.05: 5 %)."""
    if threshold <= 0:
        raise ValueError(f"the threshold must be positive, got {threshold}")
    upper, lower = 1.0 + threshold, 1.0 / (1.0 + threshold)
    if est.n == 0 or math.isinf(est.high):
        return INCONCLUSIVE
    if est.low > upper:
        return SLOWER
    if est.high < lower:
        return FASTER
    if est.low >= lower and est.high <= upper:
        return NO_CHANGE
    return INCONCLUSIVE


def decide(
    base: Sequence[float],
    head: Sequence[float],
    threshold: float = DEFAULT_THRESHOLD,
    confidence: float = DEFAULT_CONFIDENCE,
) -> tuple[Estimate, str]:
    """The estimate and the verdict of one case's paired samples."""
    est = estimate(ratios(base, head), confidence)
    return est, verdict(est, threshold)
