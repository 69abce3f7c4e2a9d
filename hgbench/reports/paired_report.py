"""The report's paired head-to-head section: tables of :mod:`hgbench.reports.paired`, the
wins / ties / losses figure, mean ranks with the Friedman test and the CD diagram."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from hgbench.reports.document import Figure, Section
from hgbench.reports.paired import BASELINE, paired_comparisons
from hgbench.reports.paired_figures import cd_figure, outcomes_figure
from hgbench.reports.ranks import friedman_test
from hgbench.reports.stats import MIN_CI_RUNS
from hgbench.reports.tables import MISSING, fmt, fmt_interval, plain_display, to_latex

#: significance level of the marks, the Holm correction and the Nemenyi critical difference
ALPHA = 0.05


def comparison_display(rows: pd.DataFrame, alpha: float = ALPHA):
    """Display table (strings) and marks of :func:`paired_comparisons` rows.

    The outcome and difference cells of a comparison significant after Holm's correction
    (``p_holm < alpha``) are marked "best" when the method is better, "worse" when worse.
    """
    median = [
        fmt_interval(m, lo, hi, note, signed=True)
        for m, lo, hi, note in rows[["median_difference", "ci_lo", "ci_hi", "ci_note"]].values
    ]
    out = pd.DataFrame(
        {
            "method": rows["method"].to_numpy(),
            "task": rows["task_key"].to_numpy(),
            "against": rows["reference"].to_numpy(),
            "pairs": rows["n_pairs"].map(fmt).to_numpy(),
            "wins / ties / losses": [
                f"{w} / {t} / {lo}" for w, t, lo in rows[["wins", "ties", "losses"]].values
            ],
            "median improvement": median,
            "p (Wilcoxon)": rows["p_value"].map(lambda p: fmt(p, 2)).to_numpy(),
            "p (Holm)": rows["p_holm"].map(lambda p: fmt(p, 2)).to_numpy(),
        }
    )
    marks = pd.DataFrame("", index=out.index, columns=out.columns)
    significant = (rows["p_holm"] < alpha).to_numpy()
    better = (rows["median_difference"] > 0).to_numpy()
    for col in ("wins / ties / losses", "median improvement", "p (Holm)"):
        marks.loc[significant & better, col] = "best"
        marks.loc[significant & ~better, col] = "worse"
    return out, marks


def task_display(rows: pd.DataFrame, alpha: float = ALPHA):
    """One task's comparisons as one row per method: against the baseline, then against the
    task's best. Returns the display table, its marks and the best method's label."""
    display, marks = comparison_display(rows, alpha)
    best = str(rows.loc[rows["against"] == "best", "reference"].iloc[0])
    methods = sorted(set(rows["method"]) | set(rows["reference"]))
    pairs = rows.groupby("method")["n_pairs"].max()
    out = pd.DataFrame({"method": methods, "pairs": [fmt(pairs.get(m, np.nan)) for m in methods]})
    out_marks = pd.DataFrame("", index=out.index, columns=out.columns)
    for kind, name in (("baseline", BASELINE), ("best", f"{best} (best)")):
        chosen = (rows["against"] == kind).to_numpy()
        cells = display[chosen].set_index("method")
        cell_marks = marks[chosen].set_axis(cells.index)
        for col in ("wins / ties / losses", "median improvement", "p (Wilcoxon)", "p (Holm)"):
            if cells.empty:
                continue
            out[f"vs {name}: {col}"] = [cells[col].get(m, MISSING) for m in methods]
            out_marks[f"vs {name}: {col}"] = [cell_marks[col].get(m, "") for m in methods]
    return out, out_marks, best


SaveFigure = Callable[[object, str, str, str, list[str]], Figure]


def paired_section(
    runs: pd.DataFrame,
    tables_dir: Path,
    save: SaveFigure,
    *,
    n_boot: int,
    confidence: float,
    seed: int,
) -> Section:
    """The section; ``save(figure, stem, caption, look, methods)`` writes a figure."""
    pct = f"{round(confidence * 100)}%"
    comparisons = paired_comparisons(runs, n_boot=n_boot, confidence=confidence, seed=seed)
    comparisons.to_csv(tables_dir / "paired.csv", index=False)
    section = Section("Head-to-head: paired comparisons", anchor="paired")
    section.text(
        f"Init k starts every method from the same initial hyperparameters, so methods are "
        f"compared pair by pair over the (seed, init) pairs both ran. Improvement: the other "
        f"method's final test metric minus this one's when lower is better (the reverse "
        f"otherwise), so + means this method is better. A run that diverged or failed counts "
        f"as a loss for its method (improvement −∞; both failing is a tie); ties are equal "
        f"final metrics. Median improvement with a {pct} percentile bootstrap interval over "
        f"pairs ({n_boot} resamples, vectorised), shown only from {MIN_CI_RUNS} pairs on. "
        f"p: two-sided Wilcoxon signed-rank test (ties dropped; failed runs take the extreme "
        f"ranks); Holm: corrected over all comparisons of the task. Green / red: better / "
        f"worse at Holm p < {ALPHA:g}. The best method of a task has the best median final "
        f"metric, diverged and failed runs counted as the worst value."
    )
    if comparisons.empty:
        section.text("No task has two methods with paired inits: nothing to compare.")
        return section
    display, marks = comparison_display(comparisons)
    (tables_dir / "paired.tex").write_text(
        to_latex(display, marks, caption="Paired comparisons", label="tab:paired", group="task")
    )
    for task_key in sorted(comparisons["task_key"].unique()):
        rows = comparisons[comparisons["task_key"] == task_key].reset_index(drop=True)
        table, table_marks, best = task_display(rows)
        section.table(table, table_marks, f"{task_key} (best: {best})")
    outcomes = outcomes_figure(comparisons, BASELINE)
    if outcomes is not None:
        section.figure(
            save(
                outcomes, "paired_outcomes", f"Paired wins, ties and losses against {BASELINE}",
                "Longer green bars: the method beat fixed from more of the same starting "
                "points; red includes its diverged and failed runs.",
                sorted(comparisons["method"].unique()),
            )
        )  # fmt: skip
    _ranks(section, runs, tables_dir, save)
    return section


def _ranks(section: Section, runs: pd.DataFrame, tables_dir: Path, save: SaveFigure) -> None:
    test = friedman_test(runs, alpha=ALPHA)
    n_tasks = runs["task_key"].nunique()
    if test is None:
        section.text(
            f"Ranks across tasks need at least 2 tasks and 3 methods run on all of them "
            f"(here: {n_tasks} task{'s' if n_tasks != 1 else ''}): no Friedman test."
        )
        return
    ranks = test.mean_ranks.rename("mean rank").reset_index().rename(columns={"label": "method"})
    ranks.to_csv(tables_dir / "ranks.csv", index=False)
    display, marks = plain_display(ranks, 3)
    left_out = f" Left out (not run on every task): {', '.join(test.left_out)}." if (
        test.left_out
    ) else ""  # fmt: skip
    few = (
        f" With {test.n_tasks} tasks the test has little power: read the ranks as a "
        f"description, not evidence."
        if test.n_tasks < 5
        else ""
    )
    section.text(
        f"Across tasks (Demšar 2006): each method's rank per task by its median final test "
        f"metric (1 = best, ties share the mean rank), averaged over {test.n_tasks} tasks. "
        f"Friedman χ² = {fmt(test.chi2, 3)} (p = {fmt(test.p_value, 2)}); Iman–Davenport "
        f"F = {fmt(test.iman_davenport_f, 3)} (p = {fmt(test.iman_davenport_p, 2)}). Nemenyi "
        f"critical difference at α = {ALPHA:g}: {fmt(test.critical_difference, 3)} ranks."
        f"{left_out}{few}"
    )
    section.table(display, marks, "Mean rank across tasks")
    cd = test.critical_difference
    section.figure(
        save(
            cd_figure(test), "critical_difference", "Critical-difference diagram of mean ranks",
            "Methods further left ranked better; a thick bar joins methods whose mean ranks "
            f"differ by less than CD = {fmt(cd, 3) if math.isfinite(cd) else '∞'}.",
            list(test.mean_ranks.index),
        )
    )  # fmt: skip
