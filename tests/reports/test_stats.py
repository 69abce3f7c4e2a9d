"""Final-metric statistics against hand-computed tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hgbench.reports.stats import (
    bootstrap_ci,
    classify_runs,
    final_metric_summary,
    mark_best,
    no_better_than_untrained,
    resource_summary,
    task_keys,
    untrained_summary,
)
from tests.reports.synthetic import make_runs


def test_bootstrap_interval_of_two_points_matches_hand_computed_quantiles() -> None:
    # resampled means of [0, 10] are 0, 5, 10 with probabilities 1/4, 1/2, 1/4
    rng = np.random.default_rng(0)
    point, lo, hi = bootstrap_ci(np.array([0.0, 10.0]), "mean", n_boot=4000, rng=rng)
    assert (point, lo, hi) == (5.0, 0.0, 10.0)
    # the 30% and 70% quantiles both fall on the middle atom
    _, lo, hi = bootstrap_ci(
        np.array([0.0, 10.0]), "mean", n_boot=4000, confidence=0.4, rng=np.random.default_rng(1)
    )
    assert (lo, hi) == (5.0, 5.0)


def test_bootstrap_statistics_and_degenerate_inputs() -> None:
    rng = np.random.default_rng(0)
    values = np.array([1.0, 2.0, 3.0, 100.0])
    assert bootstrap_ci(values, "median", n_boot=10, rng=rng)[0] == 2.5
    assert bootstrap_ci(values, "best", n_boot=10, rng=rng)[0] == 1.0
    assert bootstrap_ci(values, "best", lower_is_better=False, n_boot=10, rng=rng)[0] == 100.0
    assert bootstrap_ci(np.array([7.0]), "mean", n_boot=10, rng=rng) == (7.0, 7.0, 7.0)
    assert all(np.isnan(bootstrap_ci(np.array([]), "mean", n_boot=10, rng=rng)))
    with pytest.raises(ValueError, match="unknown statistic"):
        bootstrap_ci(values, "mode", n_boot=10, rng=rng)
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci(values, "mean", confidence=1.5, rng=rng)


def test_bootstrap_is_seeded() -> None:
    values = np.arange(10.0)
    a = bootstrap_ci(values, "mean", n_boot=50, rng=np.random.default_rng(3))
    b = bootstrap_ci(values, "mean", n_boot=50, rng=np.random.default_rng(3))
    assert a == b


def test_classify_runs_flags_diverged_failed_and_threshold() -> None:
    runs = make_runs(
        [
            {"final_test_metric": 1.0},
            {"status": "diverged", "final_test_metric": np.nan},
            {"final_test_metric": np.inf},
            {"final_test_metric": 50.0, "divergence_threshold": 10.0},
            {"status": "oom", "final_test_metric": np.nan},
            {"status": "error", "final_test_metric": np.nan},
            # higher-is-better metric: the threshold applies to the final test loss
            {
                "metric": "accuracy",
                "lower_is_better": False,
                "final_test_metric": 0.9,
                "final_test_loss": 50.0,
                "divergence_threshold": 10.0,
            },
            {
                "metric": "accuracy",
                "lower_is_better": False,
                "final_test_metric": 0.9,
                "final_test_loss": 0.3,
                "divergence_threshold": 10.0,
            },
        ]
    )
    out = classify_runs(runs)
    assert out["diverged"].tolist() == [False, True, True, True, False, False, True, False]
    assert out["failed"].tolist() == [False, False, False, False, True, True, False, False]
    assert out["valid"].tolist() == [True, False, False, False, False, False, False, True]


def test_classify_runs_names_missing_columns() -> None:
    with pytest.raises(ValueError, match="final_test_metric"):
        classify_runs(make_runs([{}]).drop(columns=["final_test_metric"]))


def test_task_keys_name_differing_config_fields() -> None:
    runs = make_runs(
        [
            {"task": "a", "task_config": '{"scale": "small", "steps": 10}'},
            {"task": "a", "task_config": '{"scale": "paper", "steps": 10}'},
            {"task": "b", "task_config": '{"scale": "small"}'},
        ]
    )
    assert task_keys(runs).tolist() == ["a[scale=small]", "a[scale=paper]", "b"]


def summary_runs() -> pd.DataFrame:
    rows = [
        {"method": "fixed", "init_index": i, "final_test_metric": v}
        for i, v in enumerate([1.0, 2.0, 3.0])
    ]
    rows.append(
        {"method": "fixed", "init_index": 3, "status": "diverged", "final_test_metric": np.nan}
    )
    rows += [
        {"method": "hd", "init_index": 0, "final_test_metric": 0.5},
        {"method": "hd", "init_index": 1, "final_test_metric": 4.0},
    ]
    rows.append(
        {"method": "tower", "init_index": 0, "status": "timeout", "final_test_metric": np.nan}
    )
    return classify_runs(make_runs(rows))


def test_final_metric_summary_matches_hand_computed_table() -> None:
    summary = final_metric_summary(summary_runs(), n_boot=20).set_index("label")
    expected = pd.DataFrame(
        {
            "n_runs": [4, 2, 1],
            "n_valid": [3, 2, 0],
            "n_diverged": [1, 0, 0],
            "diverged_share": [0.25, 0.0, 0.0],
            "n_failed": [0, 0, 1],
            "n_missing": [0, 2, 3],
            "mean": [2.0, 2.25, np.nan],
            "median": [2.0, 2.25, np.nan],
            "best": [1.0, 0.5, np.nan],
        },
        index=pd.Index(["fixed", "hd", "tower"], name="label"),
    )
    pd.testing.assert_frame_equal(summary[expected.columns], expected, check_dtype=False)
    # fewer than 5 valid runs: no interval, and the reason
    assert summary[["mean_lo", "mean_hi", "best_lo"]].isna().all().all()
    assert summary["ci_note"].tolist() == [
        "n=3: too few for a CI",
        "n=2: too few for a CI",
        "no valid runs",
    ]


def test_final_metric_summary_intervals_from_five_runs() -> None:
    runs = classify_runs(
        make_runs(
            [{"init_index": i, "final_test_metric": v} for i, v in enumerate([1, 2, 3, 4, 5.0])]
        )
    )
    row = final_metric_summary(runs, n_boot=200).iloc[0]
    assert row["ci_note"] == ""
    assert row["mean_lo"] <= row["mean"] == 3.0 <= row["mean_hi"]
    assert row["best_lo"] == 1.0  # the minimum cannot resample below 1


def test_no_better_than_untrained_follows_the_metric_direction() -> None:
    runs = classify_runs(
        make_runs(
            [
                {"final_test_metric": 0.5, "untrained_test_metric": 1.0},  # learned
                {"final_test_metric": 1.0, "untrained_test_metric": 1.0},  # stayed
                {"final_test_metric": 2.0, "untrained_test_metric": 1.0},  # got worse
                {"final_test_metric": 2.0, "untrained_test_metric": np.nan},  # unknown
                {
                    "metric": "accuracy",
                    "lower_is_better": False,
                    "final_test_metric": 0.18,
                    "untrained_test_metric": 0.18 * (1 + 1e-8),
                },  # equal within the tolerance
                {
                    "metric": "accuracy",
                    "lower_is_better": False,
                    "final_test_metric": 0.9,
                    "untrained_test_metric": 0.18,
                },
            ]
        )
    )
    assert no_better_than_untrained(runs).tolist() == [False, True, True, False, True, False]
    summary = untrained_summary(runs.assign(label=["a"] * 4 + ["b"] * 2)).set_index("label")
    assert summary["n_untrained"].tolist() == [2.0, 1.0]
    unknown = untrained_summary(runs.iloc[[3]])
    assert unknown["n_untrained"].isna().all()


def test_mark_best_marks_ties_within_error_bars() -> None:
    table = pd.DataFrame(
        {
            "task_key": ["t"] * 3 + ["u"] * 2,
            "label": ["a", "b", "c", "a", "b"],
            "lower_is_better": [True] * 3 + [False] * 2,
            "mean": [1.0, 1.1, 2.0, 0.7, 0.9],
            "mean_lo": [0.8, 1.0, 1.5, 0.6, 0.85],
            "mean_hi": [1.2, 1.3, 2.5, 0.8, 0.95],
            "memory": [5.0, 5.0, 7.0, np.nan, 3.0],
        }
    )
    marks = mark_best(
        table,
        ["mean", "memory"],
        direction={"memory": "min"},
        intervals={"mean": ("mean_lo", "mean_hi")},
    )
    assert marks["mean"].tolist() == ["best", "tie", "", "", "best"]
    assert marks["memory"].tolist() == ["best", "best", "", "", "best"]


def test_resource_summary_sums_cost_over_runs_of_one_init() -> None:
    runs = classify_runs(
        make_runs(
            [
                {"method": "rs", "init_index": 0, "cost_gradient": 10, "peak_memory_bytes": 100},
                {"method": "rs", "init_index": 0, "cost_gradient": 10, "peak_memory_bytes": 300},
                {"method": "rs", "init_index": 1, "cost_gradient": 30, "peak_memory_bytes": 200},
            ]
        )
    )
    out = resource_summary(runs).set_index("label")
    assert out.loc["rs", "cost_gradient"] == 25.0  # median of 20 and 30
    assert out.loc["rs", "peak_memory_bytes"] == 200.0
    assert out.loc["rs", "memory_kind"] == "cpu_run_rss"
