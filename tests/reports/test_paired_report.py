"""The paired section's per-task table: one row per method, against fixed and the best."""

from __future__ import annotations

import pandas as pd

from hgbench.reports.paired import paired_comparisons
from hgbench.reports.paired_report import task_display
from hgbench.reports.stats import classify_runs
from hgbench.reports.tables import to_html, to_markdown
from tests.reports.synthetic import make_runs

VALUES = {  # 7 paired inits; lower is better
    "fixed": [5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0],
    "good": [1.0, 2.5, 3.0, 4.5, 5.0, 6.5, 7.0],  # beats fixed on all 7 (by 4 or 3.5)
    "worse": [6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0],  # loses to fixed on all 7
}


def table() -> tuple[pd.DataFrame, pd.DataFrame, str]:
    rows = [
        {"method": m, "init_index": i, "final_test_metric": v}
        for m, values in VALUES.items()
        for i, v in enumerate(values)
    ]
    comparisons = paired_comparisons(classify_runs(make_runs(rows)), n_boot=200)
    return task_display(comparisons)


def test_one_row_per_method_against_fixed_and_the_best() -> None:
    display, marks, best = table()
    assert best == "good"
    flat = display.set_axis([f"{a}|{b}" for a, b in display.columns], axis=1).set_index("|method")
    assert flat["|pairs"].tolist() == ["7", "7", "7"]  # the best's pairs too
    assert flat.loc["good", "vs fixed|W / T / L"] == "7 / 0 / 0"
    assert flat.loc["worse", "vs fixed|W / T / L"] == "0 / 0 / 7"
    assert flat.loc["fixed", "vs fixed|W / T / L"] == "—"  # not compared with itself
    assert flat.loc["good", "vs good (best)|W / T / L"] == "—"
    assert flat.loc["good", "vs fixed|median improvement"] == "+4 [3.5, 4]"
    # all 7 pairs one way: exact two-sided p = 2/128, times 3 comparisons (Holm) < 0.05
    assert flat.loc["good", "vs fixed|p Holm (raw)"] == "0.047 (0.016)"
    flat_marks = marks.set_axis(flat.reset_index().columns, axis=1).set_index(display.iloc[:, 0])
    assert flat_marks.loc["good", "vs fixed|W / T / L"] == "best"
    assert flat_marks.loc["worse", "vs fixed|W / T / L"] == "worse"


def test_two_level_header_in_html_and_flat_in_markdown() -> None:
    display, marks, _ = table()
    html = to_html(display, marks)
    assert '<th rowspan="2">method</th>' in html
    assert '<th colspan="3" class="group">vs fixed</th>' in html
    assert '<td class="worse">0 / 0 / 7</td>' in html
    assert "| method | pairs | vs fixed: W / T / L |" in to_markdown(display, marks)
