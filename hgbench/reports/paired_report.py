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
#: the cells of one comparison in the per-task tables
SHOWN = ("W / T / L", "median improvement", "p Holm (raw)")


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
            "W / T / L": [
                f"{w} / {t} / {lo}" for w, t, lo in rows[["wins", "ties", "losses"]].values
            ],
            "median improvement": median,
            "p Holm (raw)": [
                f"{fmt(h, 2)} ({fmt(p, 2)})" if not np.isnan(p) else MISSING
                for h, p in rows[["p_holm", "p_value"]].to_numpy(float)
            ],
        }
    )
    marks = pd.DataFrame("", index=out.index, columns=out.columns)
    significant = (rows["p_holm"] < alpha).to_numpy()
    better = (rows["median_difference"] > 0).to_numpy()
    for col in SHOWN:
        marks.loc[significant & better, col] = "best"
        marks.loc[significant & ~better, col] = "worse"
    return out, marks


def task_display(rows: pd.DataFrame, alpha: float = ALPHA):
    """One task's comparisons as one row per method: against the baseline, then against the
    task's best. Returns the display table, its marks and the best method's label."""
    display, marks = comparison_display(rows, alpha)
    best = str(rows.loc[rows["against"] == "best", "reference"].iloc[0])
    methods = sorted(set(rows["method"]) | set(rows["reference"]))
    # the best method is only ever a reference: count its pairs there too
    either = pd.concat(
        [
            rows[["method", "n_pairs"]],
            rows[["reference", "n_pairs"]].rename(columns={"reference": "method"}),
        ]
    )
    pairs = either.groupby("method")["n_pairs"].max()  # fmt: skip
    columns: dict[tuple[str, str], list[str]] = {
        ("", "method"): methods,
        ("", "pairs"): [fmt(pairs.get(m, np.nan)) for m in methods],
    }
    column_marks: dict[tuple[str, str], list[str]] = {k: [""] * len(methods) for k in columns}
    for kind, name in (("baseline", BASELINE), ("best", f"{best} (best)")):
        chosen = (rows["against"] == kind).to_numpy()
        cells = display[chosen].set_index("method")
        cell_marks = marks[chosen].set_axis(cells.index)
        for col in SHOWN if not cells.empty else ():
            columns[(f"vs {name}", col)] = [cells[col].get(m, MISSING) for m in methods]
            column_marks[(f"vs {name}", col)] = [cell_marks[col].get(m, "") for m in methods]
    out = pd.DataFrame(columns)
    out_marks = pd.DataFrame(column_marks)
    out.columns = out_marks.columns = pd.MultiIndex.from_tuples(list(columns))
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
        "Init k starts every method from the same initial hyperparameters, so methods are "
        "compared pair by pair, over the (seed, init) pairs both ran: on how many did this "
        "method end with the better final test metric?"
    )
    section.bullets(
        [
            "W / T / L: wins, ties (final metrics equal to 5 digits: float32 rounding) and "
            "losses over the pairs. A run that diverged or failed is a loss for its method; "
            "both failing is a tie.",
            "Median improvement: the other method's final test metric minus this one's when "
            "lower is better (the reverse otherwise), so + means this method is better; a "
            "diverged or failed run enters as −∞ (or +∞ for the other side). Brackets: "
            f"{pct} percentile bootstrap interval over pairs ({n_boot} resamples, drawn at "
            f"once), shown only from {MIN_CI_RUNS} pairs on.",
            "p: two-sided Wilcoxon signed-rank test (ties dropped; failed runs take the "
            "extreme ranks), Holm-corrected over all comparisons of the task; the "
            "uncorrected p in parentheses. Green / red: better / worse at Holm p < "
            f"{ALPHA:g}.",
            "Best: the method with the best median final test metric of the task, diverged "
            "and failed runs counted as the worst value.",
        ]
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
    (tables_dir / "ranks.tex").write_text(
        to_latex(*plain_display(ranks, 3), caption="Mean rank across tasks", label="tab:ranks")
    )
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
    section.link("ranks.csv (mean rank per method)", tables_dir / "ranks.csv")
    cd = test.critical_difference
    section.figure(
        save(
            cd_figure(test), "critical_difference", "Critical-difference diagram of mean ranks",
            "Methods further left ranked better; a thick bar joins methods whose mean ranks "
            f"differ by less than CD = {fmt(cd, 3) if math.isfinite(cd) else '∞'}.",
            list(test.mean_ranks.index),
        )
    )  # fmt: skip
