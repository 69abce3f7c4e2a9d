"""Time ratios, time to target and performance profiles against hand-computed tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hgbench.reports.stats import classify_runs
from hgbench.reports.timing import (
    baseline_targets,
    performance_profile,
    performance_ratios,
    steady_step_time,
    time_ratios,
    time_to_target,
    time_to_target_summary,
)
from tests.reports.synthetic import make_records, make_runs


def test_time_ratio_uses_steady_step_time_and_reports_start_up_apart() -> None:
    runs = classify_runs(
        make_runs(
            [
                # fixed: most of its method time is start-up
                {"method": "fixed", "method_time_s": 2.0, "startup_time_s": 1.8,
                 "step_time_s": 0.02},
                {"method": "fixed", "method_time_s": 2.2, "startup_time_s": 2.0,
                 "step_time_s": 0.02},
                {"method": "hd", "method_time_s": 1.0, "startup_time_s": 0.2, "step_time_s": 0.08},
                # no steady per-step time stored: method time / steps (1.2 / 10)
                {"method": "hd", "method_time_s": 1.2},
            ]
        )
    )  # fmt: skip
    out = time_ratios(runs).set_index(["task_key", "label"])
    # per-step 0.08 and 0.12 against 0.02: median of 4 and 6; method time alone would say 0.5
    assert out.loc[("toy", "hd"), "time_ratio"] == pytest.approx(5.0)
    assert out.loc[("toy", "hd"), "step_time_s"] == pytest.approx(0.1)
    assert out.loc[("toy", "hd"), "startup_s"] == pytest.approx(0.2)
    assert out.loc[("toy", "fixed"), "startup_s"] == pytest.approx(1.9)
    assert bool(out.loc[("toy", "hd"), "time_estimated"])
    assert not bool(out.loc[("toy", "fixed"), "time_estimated"])


def test_steady_step_time_falls_back_without_the_column() -> None:
    runs = make_runs([{"method_time_s": 3.0, "steps_done": 6}]).drop(columns="step_time_s")
    step, estimated = steady_step_time(runs)
    assert step.tolist() == [0.5] and estimated.tolist() == [True]


def test_time_ratio_is_median_of_per_run_ratios_at_the_same_budget() -> None:
    runs = classify_runs(
        make_runs(
            [
                {"method": "fixed", "method_time_s": 1.0},
                {"method": "fixed", "method_time_s": 2.0},
                {"method": "fixed", "method_time_s": 3.0},
                # another budget: neither a baseline for budget 10 nor timed against it
                {"method": "fixed", "method_time_s": 100.0, "budget_steps": 20, "steps_done": 20},
                {"method": "hd", "method_time_s": 4.0},
                {"method": "hd", "method_time_s": 6.0, "time_is_share": True},
                # unfinished runs are not timed
                {"method": "hd", "method_time_s": 0.1, "status": "diverged", "steps_done": 3},
                {"method": "hd", "method_time_s": 50.0, "budget_steps": 20, "steps_done": 20},
                {"task": "nofixed", "method": "hd", "method_time_s": 5.0},
            ]
        )
    )
    out = time_ratios(runs).set_index(["task_key", "label"])
    # budget 10: ratios 4/2, 6/2; budget 20: 50/100  -> median of [2, 3, 0.5] = 2
    assert out.loc[("toy", "hd"), "time_ratio"] == 2.0
    assert out.loc[("toy", "hd"), "time_s"] == 6.0
    assert bool(out.loc[("toy", "hd"), "time_derived"])
    assert out.loc[("toy", "fixed"), "time_ratio"] == 1.0  # [0.5, 1, 1.5, 1]
    assert not bool(out.loc[("toy", "fixed"), "time_derived"])
    assert np.isnan(out.loc[("nofixed", "hd"), "time_ratio"])
    assert out.loc[("nofixed", "hd"), "time_s"] == 5.0


def ttt_runs() -> pd.DataFrame:
    return classify_runs(
        make_runs(
            [
                {"method": "fixed", "final_test_metric": 2.0},
                {"method": "fixed", "final_test_metric": 4.0},
                {"method": "hd", "final_test_metric": 1.0},
                {"method": "hd", "status": "diverged", "final_test_metric": np.nan},
                {
                    "method": "acc",
                    "metric": "accuracy",
                    "lower_is_better": False,
                    "task": "cls",
                    "final_test_metric": 0.8,
                },
            ]
        )
    )


def ttt_records() -> pd.DataFrame:
    rows = []
    for run, values in {
        "r0": [5, 4, 2],
        "r1": [5, 4.5, 4],
        "r2": [5, 2.9, 1],
        "r3": [5, 9, 99],
    }.items():
        rows += [(run, s, 0.5 * s, "test", "mse", v) for s, v in enumerate(values)]
    rows += [("r0", 1, 0.5, "val", "mse", 0.0)]  # another split: ignored
    rows += [("r4", s, float(s), "test", "accuracy", v) for s, v in enumerate([0.1, 0.6, 0.8])]
    return make_records(rows)


def test_time_to_target_is_first_time_at_target() -> None:
    runs = ttt_runs()
    targets = baseline_targets(runs)
    assert targets.to_dict() == {"toy": 3.0}
    per_run = time_to_target(runs, ttt_records(), {**targets.to_dict(), "cls": 0.5})
    per_run = per_run.set_index("run_id")
    assert per_run["time_to_target"].to_dict() == {
        "r0": 1.0,
        "r1": np.inf,
        "r2": 0.5,
        "r3": np.inf,
        "r4": 1.0,
    }
    assert per_run.loc["r2", "step_to_target"] == 1.0
    # steady: the step reached x the steady per-step time (here method time / 10 steps = 0.1)
    assert per_run.loc["r2", "steady_time_to_target"] == pytest.approx(0.1)
    assert per_run.loc["r1", "steady_time_to_target"] == np.inf
    # no target for the task: unknown, not "never"
    assert time_to_target(runs, ttt_records(), targets).set_index("run_id")[
        "time_to_target"
    ].isna().tolist() == [False] * 4 + [True]


def test_time_to_target_summary_counts_runs_never_reaching_as_infinite() -> None:
    runs = ttt_runs()
    per_run = time_to_target(runs, ttt_records(), baseline_targets(runs))
    out = time_to_target_summary(per_run).set_index("label")
    assert out.loc["fixed", "n_reached"] == 1 and out.loc["fixed", "reached_share"] == 0.5
    assert out.loc["fixed", "median_time_to_target"] == np.inf  # median of [1, inf]
    assert out.loc["hd", "median_time_to_target"] == np.inf  # median of [0.5, inf]


def test_performance_profile_matches_hand_computed_table() -> None:
    measure = pd.DataFrame(
        {
            "task_key": ["t1", "t1", "t2", "t2", "t3", "t3", "t4"],
            "label": ["a", "b", "a", "b", "a", "b", "a"],
            "median_time_to_target": [1.0, 2.0, 3.0, 3.0, np.inf, 4.0, np.nan],
        }
    )
    ratios = performance_ratios(measure, "median_time_to_target").set_index(["task_key", "label"])[
        "ratio"
    ]
    # t4 has no target: left out of the profile
    assert ratios.to_dict() == {
        ("t1", "a"): 1.0,
        ("t1", "b"): 2.0,
        ("t2", "a"): 1.0,
        ("t2", "b"): 1.0,
        ("t3", "a"): np.inf,
        ("t3", "b"): 1.0,
    }
    profile = performance_profile(ratios.reset_index(), [1.0, 2.0])
    got = profile.set_index(["label", "tau"])["fraction"].to_dict()
    assert got == {("a", 1.0): 2 / 3, ("a", 2.0): 2 / 3, ("b", 1.0): 2 / 3, ("b", 2.0): 1.0}


def test_performance_ratios_handles_zero_and_unsolved_tasks() -> None:
    measure = pd.DataFrame(
        {
            "task_key": ["t1", "t1", "t2", "t2"],
            "label": ["a", "b", "a", "b"],
            "median_time_to_target": [0.0, 1.0, np.inf, np.inf],
        }
    )
    ratios = performance_ratios(measure, "median_time_to_target")["ratio"].tolist()
    assert ratios == [1.0, np.inf, np.inf, np.inf]
