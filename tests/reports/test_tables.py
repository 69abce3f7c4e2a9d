"""Table formatting and the Markdown / HTML / LaTeX renderers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hgbench.reports.builder import summary_table
from hgbench.reports.stats import classify_runs
from hgbench.reports.tables import (
    cost_display,
    fmt,
    fmt_interval,
    latex_escape,
    metric_display,
    time_to_target_display,
    to_html,
    to_latex,
    to_markdown,
)
from tests.reports.synthetic import make_runs


def small_table() -> tuple[pd.DataFrame, pd.DataFrame]:
    table = pd.DataFrame(
        {"task": ["t", "t", "u"], "method": ["a_b", "c|d", "e"], "x": ["1", "2", "∞"]}
    )
    marks = pd.DataFrame({"task": "", "method": "", "x": ["best", "tie", ""]})
    return table, marks


def test_number_formatting() -> None:
    assert [fmt(np.nan), fmt(np.inf), fmt(3), fmt(0.123456), fmt(None)] == [
        "—",
        "∞",
        "3",
        "0.1235",
        "—",
    ]
    assert fmt_interval(1.0, 0.5, 2.0) == "1 [0.5, 2]"
    assert fmt_interval(1.0, 1.0, 1.0) == "1"
    assert fmt_interval(1.0, np.nan, np.nan, "n=3: too few for a CI") == "1 (n=3: too few for a CI)"


def test_markdown_marks_best_and_tie_and_escapes_pipes() -> None:
    md = to_markdown(*small_table())
    lines = md.splitlines()
    assert lines[0] == "| task | method | x |"
    assert lines[2] == "| t | a_b | **1** |"
    assert lines[3] == "| t | c\\|d | *2* |"


def test_html_escapes_and_marks() -> None:
    table, marks = small_table()
    table.loc[2, "method"] = "<b>"
    out = to_html(table, marks, "cap & co")
    assert '<td class="best"><strong>1</strong></td>' in out
    assert '<td class="tie"><em>2</em></td>' in out
    assert "&lt;b&gt;" in out and "<caption>cap &amp; co</caption>" in out


def test_latex_escapes_marks_and_separates_groups() -> None:
    out = to_latex(*small_table(), caption="50% of runs", label="tab:x", group="task")
    assert r"t & a\_b & \textbf{1} \\" in out
    assert r"\underline{2}" in out
    assert r"$\infty$" in out and r"50\% of runs" in out
    # a rule between task t and task u, beside the header's
    assert out.count(r"\midrule") == 2
    long = to_latex(*small_table(), long=True)
    assert r"\begin{longtable}" in long and r"\endhead" in long
    assert latex_escape("a_b & {c} 10% ~") == r"a\_b \& \{c\} 10\% \textasciitilde{}"


def test_summary_tables_mark_best_method_per_task() -> None:
    rows = [
        {
            "method": "fixed",
            "init_index": i,
            "final_test_metric": 3.0 + 0.1 * i,
            "method_time_s": 1.0,
            "step_time_s": 0.1,
            "startup_time_s": 0.5,
        }
        for i in range(5)
    ]
    rows += [
        {
            "method": "hd",
            "init_index": i,
            "final_test_metric": 1.0 + 0.1 * i,
            "method_time_s": 2.0,
            "time_is_share": True,
            "cost_hvp": 4,
            "step_time_s": 0.2,
            "startup_time_s": 0.2,
        }
        for i in range(5)
    ]
    rows += [{"method": "few", "init_index": i, "final_test_metric": 2.0} for i in range(3)]
    summary = summary_table(classify_runs(make_runs(rows)), n_boot=50, confidence=0.9, seed=0)
    table, marks = metric_display(summary, 0.9)
    marks.index = table["method"]
    table = table.set_index("method")
    assert table.loc["hd", "mean [90% CI]"].startswith("1.2 [")
    assert marks.loc["hd", "mean [90% CI]"] == "best"
    assert marks.loc["fixed", "mean [90% CI]"] == ""  # intervals do not overlap
    # three runs: the point, and the reason in the interval's place
    assert table.loc["few", "median [90% CI]"] == "2 (n=3: too few for a CI)"
    assert table.loc["fixed", "diverged"] == "0 (0%)"
    assert table.loc["fixed", "metric"] == "mse ↓"
    cost, cost_marks = cost_display(summary)
    cost_marks.index = cost["method"]
    cost = cost.set_index("method")
    # steady per-step time, not method time: 0.2 / 0.1
    assert cost.loc["hd", "time ratio vs fixed"] == "2†"
    assert cost.loc["hd", "start-up (s)"] == "0.2†"
    assert cost_marks.loc["fixed", "time ratio vs fixed"] == "best"
    assert cost_marks.loc["hd", "start-up (s)"] == "best"
    assert (
        cost_marks.loc["fixed", "hvp / init"] == "best" and cost_marks.loc["hd", "hvp / init"] == ""
    )
    # no steady per-step time stored: method time / steps, flagged as an estimate
    assert cost.loc["few", "steady step (ms)"] == "100‡"


def test_time_to_target_display_hides_tasks_without_target() -> None:
    ttt = pd.DataFrame(
        {
            "task_key": ["t", "t", "u"], "label": ["a", "b", "a"], "target": [1.0, 1.0, np.nan],
            "n_runs": [2, 2, 1], "n_reached": [2, 1, 0], "reached_share": [1.0, 0.5, 0.0],
            "median_time_to_target": [3.0, np.inf, np.nan],
            "median_step_to_target": [4.0, np.inf, np.nan],
            "median_steady_time_to_target": [2.0, np.inf, np.nan],
        }
    )  # fmt: skip
    table, marks = time_to_target_display(ttt)
    assert table["median time to target (s)"].tolist() == ["3", "∞", "—"]
    assert table["reached"].tolist() == ["2 (100%)", "1 (50%)", "—"]
    assert marks["median time to target (s)"].tolist() == ["best", "", ""]
    assert table["median steady time to target (s)"].tolist() == ["2", "∞", "—"]
