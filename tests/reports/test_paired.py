"""Paired comparisons against hand-computed tables and scipy.stats called directly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hgbench.reports.paired import (
    bootstrap_median,
    head_to_head,
    holm,
    medians,
    pair_differences,
    pair_scores,
    paired_comparisons,
    wilcoxon_p,
)
from hgbench.reports.stats import classify_runs
from tests.reports.synthetic import make_runs

NAN = float("nan")
FIXED = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
# init 1 ties, init 3 diverges (a loss), init 2 is worse, inits 0, 4 and 5 are better
A = [0.5, 2.0, 3.5, NAN, 4.0, 5.0]


def six_inits(extra: list[dict] | None = None) -> pd.DataFrame:
    rows = [
        {"method": "fixed", "init_index": i, "final_test_metric": v} for i, v in enumerate(FIXED)
    ]
    for i, v in enumerate(A):
        diverged = {"status": "diverged"} if np.isnan(v) else {}
        rows.append({"method": "a", "init_index": i, "final_test_metric": v, **diverged})
    return classify_runs(make_runs(rows + (extra or [])))


def test_six_inits_against_fixed_match_the_hand_computed_table() -> None:
    runs = six_inits()
    diffs = pair_differences(pair_scores(runs), "a", "fixed").set_index("init_index")
    # improvement = fixed - a (lower is better); the diverged run is -inf
    assert diffs["difference"].tolist() == [0.5, 0.0, -0.5, -np.inf, 1.0, 1.0]
    assert diffs["outcome"].tolist() == ["win", "tie", "loss", "loss", "win", "win"]
    row = head_to_head(runs, "a", "fixed", n_boot=500).iloc[0]
    assert (row["n_pairs"], row["wins"], row["ties"], row["losses"]) == (6, 3, 1, 2)
    # sorted: -inf, -0.5, 0, 0.5, 1, 1 -> mean of the middle two
    assert row["median_difference"] == 0.25
    assert row["ci_note"] == ""
    assert row["ci_lo"] <= 0.25 <= row["ci_hi"]
    # Wilcoxon on the non-zero differences, -inf entered beyond every finite one
    expected = stats.wilcoxon([0.5, -0.5, -3.0, 1.0, 1.0]).pvalue
    assert row["p_value"] == pytest.approx(expected)
    # the mirrored comparison: wins and losses swap, the median changes sign, p stays
    back = head_to_head(runs, "fixed", "a", n_boot=500).iloc[0]
    assert (back["wins"], back["ties"], back["losses"]) == (2, 1, 3)
    assert back["median_difference"] == -0.25 and back["p_value"] == row["p_value"]


def test_failed_missing_and_doubly_failed_pairs() -> None:
    extra = [
        {"method": "b", "init_index": 0, "status": "oom", "final_test_metric": NAN},
        {"method": "b", "init_index": 3, "status": "timeout", "final_test_metric": NAN},
        {"method": "b", "init_index": 4, "final_test_metric": 9.0},
    ]  # inits 1, 2, 5 not run by b
    runs = six_inits(extra)
    diffs = pair_differences(pair_scores(runs), "b", "a").set_index("init_index")
    # init 0: b failed (loss); init 3: both failed (tie); init 4: 9 against 4 (loss)
    assert diffs["outcome"].to_dict() == {0: "loss", 3: "tie", 4: "loss"}
    assert diffs["difference"].tolist() == [-np.inf, 0.0, -5.0]
    row = head_to_head(runs, "b", "a").iloc[0]
    assert row["n_pairs"] == 3 and row["ci_note"] == "n=3: too few for a CI"
    assert np.isnan(row["ci_lo"]) and np.isnan(row["ci_hi"])


def test_higher_is_better_metrics_flip_the_difference() -> None:
    rows = [
        {"method": m, "init_index": i, "metric": "accuracy", "lower_is_better": False,
         "final_test_metric": v}
        for m, values in (("fixed", [0.5, 0.6]), ("a", [0.7, 0.6]))
        for i, v in enumerate(values)
    ]  # fmt: skip
    diffs = pair_differences(pair_scores(classify_runs(make_runs(rows))), "a", "fixed")
    assert diffs["difference"].tolist() == pytest.approx([0.2, 0.0])
    assert diffs["outcome"].tolist() == ["win", "tie"]


def test_differences_within_float32_rounding_are_ties() -> None:
    rows = [
        {"method": m, "init_index": i, "final_test_metric": v}
        for m, values in (("fixed", [3974.905273, 3403.84]), ("a", [3974.904053, 3404.07]))
        for i, v in enumerate(values)
    ]
    diffs = pair_differences(pair_scores(classify_runs(make_runs(rows))), "a", "fixed")
    # 3e-7 relative is rounding (a tie); 7e-5 is a real difference (a loss)
    assert diffs["outcome"].tolist() == ["tie", "loss"]
    assert diffs["difference"].iloc[0] == 0.0


def test_medians_with_infinities() -> None:
    got = medians(np.array([[-np.inf, 1.0, 2.0, 3.0], [-np.inf, -np.inf, 1.0, 5.0],
                            [-np.inf, -np.inf, np.inf, np.inf], [3.0, 1.0, 2.0, np.inf]]))  # fmt: skip
    assert got[0] == 1.5 and got[1] == -np.inf and np.isnan(got[2]) and got[3] == 2.5


def test_bootstrap_median_of_two_values_matches_hand_computed_quantiles() -> None:
    # resampled medians of [0, 10] are 0, 5, 10 with probabilities 1/4, 1/2, 1/4
    lo, hi = bootstrap_median(
        np.array([0.0, 10.0]), n_boot=4000, confidence=0.9, rng=np.random.default_rng(0)
    )
    assert (lo, hi) == (0.0, 10.0)
    lo, hi = bootstrap_median(
        np.array([0.0, 10.0]), n_boot=4000, confidence=0.4, rng=np.random.default_rng(1)
    )
    assert (lo, hi) == (5.0, 5.0)


def test_wilcoxon_matches_scipy_and_ignores_how_large_the_infinity_is() -> None:
    d = np.array([0.3, -0.1, 0.7, 1.2, -0.4, 2.0, 0.9, 0.0])
    assert wilcoxon_p(d) == pytest.approx(stats.wilcoxon(d[d != 0]).pvalue)
    with_inf = np.array([0.3, -0.1, 0.7, np.inf, -0.4, 2.0, 0.9])
    assert wilcoxon_p(with_inf) == pytest.approx(
        stats.wilcoxon([0.3, -0.1, 0.7, 1e9, -0.4, 2.0, 0.9]).pvalue
    )
    assert np.isnan(wilcoxon_p(np.zeros(4)))


def test_holm_matches_the_hand_computed_step_down() -> None:
    # sorted 0.01, 0.03, 0.04 times 3, 2, 1 = 0.03, 0.06, 0.04 -> monotone 0.03, 0.06, 0.06
    got = holm(np.array([0.01, 0.04, 0.03, NAN]))
    np.testing.assert_allclose(got[:3], [0.03, 0.06, 0.06])
    assert np.isnan(got[3])
    # 0.5 x 2 = 1; then max(1, 0.9 x 1): adjusted p-values never decrease
    np.testing.assert_allclose(holm(np.array([0.5, 0.9])), [1.0, 1.0])


def test_paired_comparisons_against_fixed_and_the_best_with_one_holm_family() -> None:
    runs = six_inits([{"method": "c", "init_index": i, "final_test_metric": v}
                      for i, v in enumerate([0.1, 0.2, 0.3, 0.4, 0.5, 7.0])])  # fmt: skip
    out = paired_comparisons(runs, n_boot=200)
    # c has the best median (0.35): every other method is compared with it
    keyed = out.set_index(["method", "reference"])
    assert set(keyed.index) == {("a", "fixed"), ("c", "fixed"), ("a", "c"), ("fixed", "c")}
    assert keyed.loc[("c", "fixed"), "against"] == "baseline"
    assert keyed.loc[("fixed", "c"), "against"] == "best"
    assert out["best"].tolist() == (out["method"] == "c").tolist()
    # three distinct tests (c-fixed is fixed-c mirrored): Holm over those three
    p = {k: keyed.loc[k, "p_value"] for k in [("a", "fixed"), ("c", "fixed"), ("a", "c")]}
    adjusted = dict(zip(p, holm(np.array(list(p.values()))), strict=True))
    for key, value in adjusted.items():
        assert keyed.loc[key, "p_holm"] == pytest.approx(value)
    assert keyed.loc[("fixed", "c"), "p_holm"] == keyed.loc[("c", "fixed"), "p_holm"]
    assert (keyed.loc[("c", "fixed"), ["wins", "ties", "losses"]] == [5, 0, 1]).all()
