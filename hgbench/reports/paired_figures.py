"""Figures of the paired comparisons: wins / ties / losses per task, and the critical-difference
diagram of the mean ranks across tasks (Demšar 2006, figure layout of his section 3.2.2)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hgbench.reports.ranks import RankTest, cliques
from hgbench.reports.style import REPORT_WIDTH_IN, figure_legend, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

OUTCOME_COLOURS = {"wins": "#2e8b57", "ties": "#b8b8b8", "losses": "#c0392b"}


def outcomes_figure(comparisons: pd.DataFrame, reference: str) -> Figure | None:
    """Stacked bars of paired wins / ties / losses of each method against ``reference``, a
    panel per task, methods sorted by wins minus losses (None without such comparisons)."""
    from matplotlib.ticker import MaxNLocator

    rows = comparisons[comparisons["reference"] == reference]
    if rows.empty:
        return None
    tasks = sorted(rows["task_key"].unique())
    most = rows.groupby("task_key").size().max()
    fig, axes = new_figure(len(tasks), wrap=2, panel_height=1.4 + 0.24 * most)
    for ax, task in zip(axes, tasks, strict=True):
        g = rows[rows["task_key"] == task].assign(net=lambda d: d["wins"] - d["losses"])
        g = g.sort_values(["net", "method"], ascending=[True, False])
        left = np.zeros(len(g))
        for outcome, colour in OUTCOME_COLOURS.items():
            ax.barh(g["method"], g[outcome], left=left, color=colour, label=outcome, height=0.7)
            left = left + g[outcome].to_numpy(float)
        ax.set_xlim(0, max(1, int(g["n_pairs"].max())))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(f"paired inits (of {int(g['n_pairs'].max())})")
        ax.set_title(f"{task}: each method against {reference}", fontsize=9)
        ax.tick_params(axis="y", labelsize="small")
        ax.grid(axis="y", visible=False)
    handles, labels = axes[0].get_legend_handles_labels()
    figure_legend(fig, handles, labels)
    fig.suptitle(f"Paired outcomes against {reference}", fontsize=10)
    return fig


def cd_figure(test: RankTest) -> Figure:
    """Critical-difference diagram: mean ranks on an axis (1 = best, left), methods joined by
    a thick bar when their mean ranks differ by less than Nemenyi's critical difference."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    ranks = test.mean_ranks
    k = len(ranks)
    half = -(-k // 2)
    height = 1.3 + 0.26 * half
    fig = MplFigure(figsize=(REPORT_WIDTH_IN, height))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0 - 0.4 / height))  # under the title; axis off
    ax.set_axis_off()
    low, high = 1, max(k, 2)
    # room each side for the longest "label (rank)" at 8 pt (~0.6 em a glyph), in rank units
    longest = max(len(f"{label} (0.00)") for label in ranks.index) * 0.6 * 8 / 72 + 0.5
    per_inch = (high - low) / max(REPORT_WIDTH_IN - 2 * longest, 2.0)
    ax.set_xlim(low - longest * per_inch, high + longest * per_inch)
    ax.set_ylim(-(half + 1.2), 1.6)
    ax.plot([low, high], [0, 0], color="black", linewidth=1)
    for r in range(low, high + 1):
        ax.plot([r, r], [0, 0.12], color="black", linewidth=1)
        ax.text(r, 0.22, str(r), ha="center", va="bottom", fontsize=8)
    cd = test.critical_difference
    if np.isfinite(cd) and cd < high - low:
        ax.plot([low, low + cd], [1.15, 1.15], color="black", linewidth=1.5)
        for x in (low, low + cd):
            ax.plot([x, x], [1.05, 1.25], color="black", linewidth=1)
        ax.text(low + cd / 2, 1.3, f"CD = {cd:.2f}", ha="center", va="bottom", fontsize=8)
    elif np.isfinite(cd):
        ax.text(low, 1.15, f"CD = {cd:.2f}: wider than the axis, no two methods differ",
                ha="left", va="center", fontsize=8)  # fmt: skip
    left_edge, right_edge = low - 0.25 * per_inch, high + 0.25 * per_inch
    for i, (label, rank) in enumerate(ranks.items()):
        left = i < half
        row = -(i + 1) if left else -(k - i)
        edge = left_edge if left else right_edge
        ax.plot([rank, rank, edge], [0, row, row], color="#444", linewidth=0.8)
        ax.text(
            edge - 0.08 * per_inch if left else edge + 0.08 * per_inch, row,
            f"{label} ({rank:.2f})", ha="right" if left else "left", va="center", fontsize=8,
        )  # fmt: skip
    for j, (a, b) in enumerate(cliques(ranks, cd if np.isfinite(cd) else 0.0)):
        y = -0.3 - 0.18 * j
        ax.plot([ranks.iloc[a] - 0.03, ranks.iloc[b] + 0.03], [y, y], color="black", linewidth=3)
    fig.suptitle(
        f"Mean rank over {test.n_tasks} tasks (1 = best; Nemenyi α = {test.alpha:g})", fontsize=10
    )
    return fig
