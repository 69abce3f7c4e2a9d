"""Mean ranks, the Friedman test and Nemenyi's critical difference against scipy and Demšar."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hgbench.reports.paired_figures import cd_figure
from hgbench.reports.ranks import cliques, friedman_test, nemenyi_cd, rank_matrix
from hgbench.reports.stats import classify_runs
from tests.reports.synthetic import make_runs

# per task (rows) the final metric of methods a, b, c: lower is better on t1..t3, higher on t4
MEDIANS = {
    "t1": (1.0, 2.0, 3.0),
    "t2": (1.0, 3.0, 2.0),
    "t3": (2.0, 1.0, 3.0),
    "t4": (0.9, 0.8, 0.8),  # accuracy: a best, b and c tied
}


def four_tasks() -> pd.DataFrame:
    rows = []
    for task, values in MEDIANS.items():
        higher = task == "t4"
        for method, value in zip("abc", values, strict=True):
            for i, jitter in enumerate((-0.01, 0.0, 0.01)):  # the median is ``value``
                rows.append(
                    {"task": task, "method": method, "init_index": i,
                     "final_test_metric": value + jitter, "lower_is_better": not higher,
                     "metric": "accuracy" if higher else "mse"}
                )  # fmt: skip
    return classify_runs(make_runs(rows))


def test_rank_matrix_and_mean_ranks_match_the_hand_computed_table() -> None:
    ranks, left_out = rank_matrix(four_tasks())
    assert left_out == ()
    expected = pd.DataFrame(
        [[1, 2, 3], [1, 3, 2], [2, 1, 3], [1, 2.5, 2.5]],
        index=pd.Index(["t1", "t2", "t3", "t4"], name="task_key"),
        columns=pd.Index(["a", "b", "c"], name="label"),
        dtype=float,
    )
    pd.testing.assert_frame_equal(ranks, expected)
    test = friedman_test(four_tasks())
    assert test.mean_ranks.to_dict() == {"a": 1.25, "b": 2.125, "c": 2.625}


def test_friedman_matches_scipy_and_iman_davenport_formula() -> None:
    test = friedman_test(four_tasks())
    # scipy on the loss-oriented medians (accuracy negated), blocks = tasks
    columns = np.array([[1, 2, 3], [1, 3, 2], [2, 1, 3], [-0.9, -0.8, -0.8]]).T
    chi2, p = stats.friedmanchisquare(*columns)
    assert test.chi2 == pytest.approx(chi2) and test.p_value == pytest.approx(p)
    n, k = 4, 3
    f = (n - 1) * chi2 / (n * (k - 1) - chi2)
    assert test.iman_davenport_f == pytest.approx(f)
    assert test.iman_davenport_p == pytest.approx(stats.f.sf(f, k - 1, (k - 1) * (n - 1)))
    assert test.critical_difference == pytest.approx(nemenyi_cd(3, 4))


def test_nemenyi_critical_values_match_demsar_table_5a() -> None:
    # q_0.05 = CD / sqrt(k (k+1) / 6N); Demšar (2006), table 5(a)
    for k, q in {2: 1.960, 3: 2.343, 5: 2.728, 10: 3.164}.items():
        assert nemenyi_cd(k, 6) / math.sqrt(k * (k + 1) / 36) == pytest.approx(q, abs=1e-3)


def test_methods_missing_a_task_are_left_out_and_too_few_tasks_give_no_test() -> None:
    runs = four_tasks()
    runs = runs[~((runs["label"] == "c") & (runs["task"] == "t4"))]
    ranks, left_out = rank_matrix(runs)
    assert list(ranks.columns) == ["a", "b"] and left_out == ("c",)
    assert friedman_test(runs) is None  # two complete methods
    assert friedman_test(four_tasks()[lambda d: d["task"] == "t1"]) is None  # one task


def test_cliques_join_ranks_closer_than_the_critical_difference() -> None:
    ranks = pd.Series([1.0, 1.5, 3.0, 3.2], index=list("abcd"))
    assert cliques(ranks, 1.0) == [(0, 1), (2, 3)]
    assert cliques(ranks, 0.5) == [(2, 3)]  # 1.5 - 1.0 is not below 0.5
    assert cliques(ranks, 5.0) == [(0, 3)]


def test_cd_figure_names_every_method() -> None:
    test = friedman_test(four_tasks())
    fig = cd_figure(test)
    texts = " ".join(t.get_text() for ax in fig.axes for t in ax.texts)
    assert all(f"{label} (" in texts for label in "abc")
    assert "CD = " in texts
