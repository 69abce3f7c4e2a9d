"""The decision rule of ``hgbench bench compare`` on synthetic paired samples with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from hgbench.bench.ab.decide import (
    FASTER,
    INCONCLUSIVE,
    NO_CHANGE,
    SLOWER,
    decide,
    estimate,
    ratios,
    sign_test_rank,
    verdict,
)


def paired(n: int, ratio: float, noise: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Base times with a shared machine-load factor per round; head = ratio x base x noise."""
    rng = np.random.default_rng(seed)
    load = rng.lognormal(0.0, 0.5, n)  # the round's machine state: shared by both sides
    base = 1e-3 * load * rng.lognormal(0.0, noise, n)
    head = ratio * 1e-3 * load * rng.lognormal(0.0, noise, n)
    return base, head


def test_sign_test_rank_is_the_binomial_order_statistic():
    # n = 10: [x_(2), x_(9)] covers with 1 - 2 * 11/1024 = 0.979; [x_(3), x_(8)] only 0.891
    assert sign_test_rank(10, 0.95) == 2
    assert sign_test_rank(5, 0.95) == 0  # 2 / 32 = 0.0625 > 0.05: no interval
    assert sign_test_rank(6, 0.95) == 1
    for n in (6, 11, 20, 47, 100):
        k = sign_test_rank(n, 0.95)
        assert 2 * stats.binom.cdf(k - 1, n, 0.5) <= 0.05 < 2 * stats.binom.cdf(k, n, 0.5)


def test_estimate_of_a_known_sample():
    est = estimate([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0])
    assert (est.low, est.high) == (2.0, 9.0)
    assert est.coverage == pytest.approx(1 - 2 * 11 / 1024)
    assert est.median == pytest.approx(math.sqrt(30.0))  # geometric middle of 5 and 6


def test_no_change():
    est, v = decide(*paired(60, 1.0, 0.03))
    assert v == NO_CHANGE
    assert est.low < 1.0 < est.high


def test_ten_percent_slower_with_noise_is_slower_at_five_percent():
    est, v = decide(*paired(60, 1.10, 0.03, seed=1), threshold=0.05)
    assert v == SLOWER
    assert est.low > 1.05 and est.median == pytest.approx(1.10, abs=0.02)


def test_ten_percent_slower_is_not_slower_at_a_ten_percent_threshold():
    # the interval straddles 1.10: not provably beyond the threshold
    assert decide(*paired(60, 1.10, 0.03, seed=1), threshold=0.10)[1] == INCONCLUSIVE


def test_faster():
    assert decide(*paired(60, 0.80, 0.03, seed=2))[1] == FASTER


def test_bimodal_noise():
    """A third of the rounds of either side land in a slow mode (a neighbour's job): the median
    ratio and its interval are untouched by the outliers' size."""
    rng = np.random.default_rng(3)
    n = 90
    base = 1e-3 * np.where(rng.random(n) < 1 / 3, 2.5, 1.0) * rng.lognormal(0.0, 0.02, n)
    head = 1e-3 * np.where(rng.random(n) < 1 / 3, 2.5, 1.0) * rng.lognormal(0.0, 0.02, n)
    est, v = decide(base, head, threshold=0.05)
    assert v == NO_CHANGE
    assert est.median == pytest.approx(1.0, abs=0.02)
    est, v = decide(base, 1.25 * head, threshold=0.05)
    assert v == SLOWER and est.median == pytest.approx(1.25, abs=0.03)


def test_too_few_rounds_is_inconclusive_even_when_far_off():
    est, v = decide([1.0, 1.0, 1.0, 1.0, 1.0], [2.0, 2.0, 2.0, 2.0, 2.0])
    assert v == INCONCLUSIVE and math.isinf(est.high)
    assert decide([1.0] * 6, [2.0] * 6)[1] == SLOWER  # six rounds suffice at 95 %


def test_verdict_band_edges():
    est = estimate([1.0] * 20)
    assert verdict(est, 0.05) == NO_CHANGE
    with pytest.raises(ValueError):
        verdict(est, 0.0)


def test_ratios_check_their_input():
    with pytest.raises(ValueError):
        ratios([1.0, 2.0], [1.0])
    with pytest.raises(ValueError):
        ratios([0.0], [1.0])
    assert ratios([2.0], [3.0]).tolist() == [1.5]
