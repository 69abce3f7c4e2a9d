"""Report figures of one task (or across tasks), one function per figure kind.

Each function takes the tables it plots and a ``label -> MethodStyle`` palette
(:func:`hgbench.reports.style.palette`) and returns a :class:`matplotlib.figure.Figure` that
names its task, metric and units, with one legend outside the axes listing every method drawn.
Curves are median lines over inits; interquartile bands are drawn only in axes with at most
:data:`~hgbench.reports.style.MAX_BANDS` methods (more turn the axes grey), so with more
methods :func:`family_curves_figure` facets them by family.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hgbench.reports import style
from hgbench.reports.style import (
    BASELINE_FAMILY,
    MAX_BANDS,
    figure_legend,
    maybe_log,
    new_figure,
    ordered,
    save_figure,  # noqa: F401 - re-exported: the benchmark-history figure saves through it
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

QUANTILES = (0.25, 0.5, 0.75)


def palette(labels: Sequence[str]) -> dict[str, tuple[float, float, float]]:
    """A colour per label: the colours of :func:`hgbench.reports.style.palette` (for plots
    that take a ``label -> colour`` mapping, such as seaborn's ``palette=``)."""
    return {label: s.colour for label, s in style.palette(labels).items()}


def direction(lower_is_better: bool) -> str:
    return "lower is better" if lower_is_better else "higher is better"


def _legend_from(fig: Figure, axes: Sequence[Axes], order: Sequence[str]) -> None:
    """One figure legend of the labelled artists of ``axes``, in ``order`` (others after)."""
    seen: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    rank = {label: i for i, label in enumerate(order)}
    labels = sorted(seen, key=lambda x: (rank.get(x.split(" (", 1)[0], len(rank)), x))
    figure_legend(fig, [seen[x] for x in labels], labels)


def cdf_figure(runs: pd.DataFrame, styles: dict) -> Figure:
    """Empirical CDF over inits of the final test metric of one task, a line per method.

    Heights are fractions of *all* runs of the method, so diverged and failed runs keep the
    curve below 1 (the legend says how many runs each curve has).
    """
    task, metric = runs["task_key"].iloc[0], runs["metric"].iloc[0]
    lower = bool(runs["lower_is_better"].iloc[0])
    fig, (ax,) = new_figure(panel_height=3.6)
    labels = ordered(runs["label"])
    for label in labels:
        g = runs[runs["label"] == label]
        values = np.sort(g.loc[g["valid"], "final_test_metric"].to_numpy(dtype=float))
        frac = np.arange(1, values.size + 1) / len(g)
        name = f"{label} ({values.size}/{len(g)} valid)"
        if not values.size:  # no valid run: a legend entry only
            ax.plot([], [], label=name, **styles[label].line())
            continue
        xs, ys = np.concatenate([values[:1], values]), np.concatenate([[0.0], frac])
        ax.step(xs, ys, where="post", label=name, **styles[label].line())
    maybe_log(ax, runs.loc[runs["valid"], "final_test_metric"].to_numpy(dtype=float), "x")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"final test {metric} ({direction(lower)})")
    ax.set_ylabel("fraction of runs at or below")
    ax.set_title(f"{task}: CDF of final test {metric} over initial hyperparameters", fontsize=10)
    _legend_from(fig, [ax], labels)
    return fig


def quantiles(df: pd.DataFrame, by: list[str], column: str = "value") -> pd.DataFrame:
    """Per group: the 25th, 50th and 75th percentiles of ``column`` (columns q25, q50, q75)."""
    q = df.groupby(by)[column].quantile(list(QUANTILES)).unstack()
    q.columns = ["q25", "q50", "q75"]
    return q.reset_index()


def median_lines(
    ax: Axes, q: pd.DataFrame, x: str, styles: dict, labels: Sequence[str], *, bands: bool
) -> None:
    """A median line per label (and its interquartile band when ``bands``)."""
    groups = {label: g.sort_values(x) for label, g in q.groupby("label", sort=False)}
    for label in labels:
        g = groups.get(label, q.iloc[:0])
        style = styles[label]
        ax.plot(g[x].to_numpy(), g["q50"].to_numpy(), label=label, linewidth=1.4, **style.line())
        if bands and not g.empty:
            ax.fill_between(g[x].to_numpy(), g["q25"].to_numpy(), g["q75"].to_numpy(),
                            color=style.colour, alpha=0.18, linewidth=0)  # fmt: skip


def curve_records(runs: pd.DataFrame, records: pd.DataFrame, split: str) -> pd.DataFrame:
    """Finite ``split`` records of the task's metric, with the run's label."""
    metric = runs["metric"].iloc[0]
    recs = records[(records["split"] == split) & (records["metric"] == metric)]
    recs = recs.merge(runs[["run_id", "label"]], on="run_id")
    return recs[np.isfinite(recs["value"].astype(float))]


def curves_figure(
    runs: pd.DataFrame, records: pd.DataFrame, styles: dict, split: str = "test"
) -> Figure:
    """Test metric against weight step and against cumulative method time (start-up
    included) of one task: median over inits, interquartile bands only with few methods."""
    task, metric = runs["task_key"].iloc[0], runs["metric"].iloc[0]
    lower = bool(runs["lower_is_better"].iloc[0])
    recs = curve_records(runs, records, split)
    labels = ordered(runs["label"])
    by_step = quantiles(recs, ["label", "step"])
    times = recs.groupby(["label", "step"])["time_s"].median().rename("time_s").reset_index()
    by_time = by_step.merge(times, on=["label", "step"])
    bands = len(labels) <= MAX_BANDS
    fig, axes = new_figure(2, panel_height=3.4)
    for ax, q, x, xlabel in (
        (axes[0], by_step, "step", "weight step"),
        (axes[1], by_time, "time_s", "cumulative method time, start-up included (s)"),
    ):
        median_lines(ax, q, x, styles, labels, bands=bands)
        maybe_log(ax, q[["q25", "q50", "q75"] if bands else ["q50"]].to_numpy(float).ravel())
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"{split} {metric} ({direction(lower)})")
    what = "median, interquartile band" if bands else "median"
    fig.suptitle(f"{task}: {split} {metric} over inits ({what})", fontsize=10)
    _legend_from(fig, axes, labels)
    return fig


def family_curves_figure(
    runs: pd.DataFrame, records: pd.DataFrame, styles: dict, split: str = "test"
) -> Figure | None:
    """The metric against step faceted by method family, with interquartile bands (in panels
    of at most ``MAX_BANDS`` methods); ``fixed`` (black, dashed) in every panel as the
    reference. None when no family has a panel."""
    task, metric = runs["task_key"].iloc[0], runs["metric"].iloc[0]
    lower = bool(runs["lower_is_better"].iloc[0])
    recs = curve_records(runs, records, split)
    q = quantiles(recs, ["label", "step"])
    labels = ordered(runs["label"])
    families = list(dict.fromkeys(styles[x].family for x in labels))
    families = [f for f in families if f != BASELINE_FAMILY]
    if not families:
        return None
    base = [x for x in labels if styles[x].family == BASELINE_FAMILY]
    fig, axes = new_figure(len(families), wrap=3, panel_height=2.6)
    for ax, fam in zip(axes, families, strict=True):
        members = [x for x in labels if styles[x].family == fam]
        median_lines(ax, q, "step", styles, members, bands=len(members) <= MAX_BANDS)
        for label in base:
            g = q[q["label"] == label].sort_values("step")
            ax.plot(g["step"], g["q50"], color="black", linestyle="--", linewidth=1, label=label)
        maybe_log(ax, q[["q25", "q50", "q75"]].to_numpy(float).ravel())
        ax.set_title(f"family {fam}", fontsize=9)
        ax.set_xlabel("weight step")
        ax.set_ylabel(f"{split} {metric}")
    fig.suptitle(f"{task}: {split} {metric} by method family ({direction(lower)})", fontsize=10)
    _legend_from(fig, axes, labels)
    return fig


def pareto_front(x: np.ndarray, y: np.ndarray, lower_is_better: bool) -> np.ndarray:
    """Indices of the points not dominated in (smaller x, better y), sorted by x."""
    sign = 1.0 if lower_is_better else -1.0
    order = np.lexsort((sign * y, x))
    front, best = [], np.inf
    for i in order:
        if np.isfinite(x[i]) and np.isfinite(y[i]) and sign * y[i] < best:
            front.append(i)
            best = sign * y[i]
    return np.array(front, dtype=int)


def front_figure(summary: pd.DataFrame, styles: dict) -> Figure:
    """Median final test metric against steady per-step time and against peak memory (of the
    stored kind: run-owned in schema 2), one task. Vertical bars: the bootstrap interval of
    the median (where one is shown); the grey dashed line is the Pareto front."""
    task, metric = summary["task_key"].iloc[0], summary["metric"].iloc[0]
    lower = bool(summary["lower_is_better"].iloc[0])
    fig, axes = new_figure(2, panel_height=3.4)
    y = summary["median"].to_numpy(dtype=float)
    lo, hi = summary["median_lo"].to_numpy(float), summary["median_hi"].to_numpy(float)
    labels = ordered(summary["label"])
    kinds = ", ".join(sorted({str(k) for k in summary["memory_kind"].dropna() if k})) or "?"
    for ax, x_col, xlabel in (
        (axes[0], "step_time_ms", "median steady time per step (ms)"),
        (axes[1], "memory_mib", f"median peak memory (MiB, {kinds})"),
    ):
        x = summary[x_col].to_numpy(dtype=float)
        for i, label in enumerate(summary["label"]):
            style = styles[label]
            ax.plot(x[i], y[i], marker=style.marker, color=style.colour, label=label,
                    linestyle="none", markersize=6)  # fmt: skip
        shown = np.isfinite(lo) & np.isfinite(hi)
        if shown.any():
            colours = [styles[label].colour for label in summary["label"][shown]]
            ax.vlines(x[shown], lo[shown], hi[shown], colors=colours, linewidth=1.2)
        front = pareto_front(x, y, lower)
        if front.size > 1:
            ax.plot(x[front], y[front], color="grey", linestyle="--", label="Pareto front")
        maybe_log(ax, x, "x", spread=30.0)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"median final test {metric}\n({direction(lower)})")
    fig.suptitle(f"{task}: test {metric} × steady step time × memory", fontsize=10)
    _legend_from(fig, axes, labels)
    return fig


def profile_figure(profile: pd.DataFrame, styles: dict, measure: str) -> Figure:
    """Performance profiles: fraction of tasks on which each method is within tau of the
    best ``measure``."""
    fig, (ax,) = new_figure(panel_height=3.6)
    labels = ordered(profile["label"])
    for label in labels:
        g = profile[profile["label"] == label]
        ax.step(g["tau"], g["fraction"], where="post", label=label, **styles[label].line())
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(f"τ: {measure} / the best method's (ratio)")
    ax.set_ylabel("fraction of tasks within τ")
    ax.set_title(f"Performance profile: {measure}", fontsize=10)
    _legend_from(fig, [ax], labels)
    return fig
