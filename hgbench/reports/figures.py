"""Report figures (seaborn on matplotlib's Agg canvas), one function per figure kind.

Each function takes the tables of one task (or the profile) and a ``label -> colour`` palette
and returns a :class:`matplotlib.figure.Figure` that names its task, metric and units and has a
legend entry for every method. Nothing touches pyplot's global state: figures are created on
an explicit Agg canvas, so building a report works headless and in threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

QUANTILES = (0.25, 0.5, 0.75)


def palette(labels: Sequence[str]) -> dict[str, tuple[float, float, float]]:
    """A stable colour per method label (the same in every figure of a report)."""
    import seaborn as sns

    labels = sorted(set(labels))
    colours = sns.color_palette("tab10" if len(labels) <= 10 else "husl", len(labels))
    return dict(zip(labels, colours, strict=True))


def new_figure(
    ncols: int = 1, *, width: float = 5.0, height: float = 3.6, wrap: int = 4
) -> tuple[Figure, list]:
    """A figure with ``ncols`` axes on an Agg canvas (seaborn whitegrid), wrapped into rows
    of at most ``wrap`` panels; unused panels of the last row are hidden."""
    import seaborn as sns
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cols = max(1, min(ncols, wrap))
    rows = -(-ncols // cols)
    with sns.axes_style("whitegrid"):
        fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[ncols:]:
        ax.set_visible(False)
    return fig, axes[:ncols]


def save_figure(
    fig: Figure, path_stem: Path, *, title: str, methods: Sequence[str], dpi: int
) -> list[Path]:
    """Write ``path_stem.png`` and ``.pdf``; the methods shown go into the files' metadata."""
    path_stem.parent.mkdir(parents=True, exist_ok=True)
    names = "methods: " + ", ".join(methods)
    png, pdf = path_stem.with_suffix(".png"), path_stem.with_suffix(".pdf")
    fig.savefig(png, dpi=dpi, metadata={"Title": title, "Description": names})
    fig.savefig(pdf, metadata={"Title": title, "Subject": names, "Keywords": names})
    return [png, pdf]


def _direction(lower_is_better: bool) -> str:
    return "lower is better" if lower_is_better else "higher is better"


def _maybe_log(ax: Axes, values: np.ndarray, axis: str = "y", spread: float = 100.0) -> None:
    values = values[np.isfinite(values)]
    if values.size and values.min() > 0 and values.max() / values.min() > spread:
        (ax.set_yscale if axis == "y" else ax.set_xscale)("log")


def _legend(ax: Axes, **kwargs: object) -> None:
    ax.legend(fontsize="small", framealpha=0.8, **kwargs)


def cdf_figure(runs: pd.DataFrame, colours: dict) -> Figure:
    """Empirical CDF over inits of the final test metric of one task, a line per method.

    Heights are fractions of *all* runs of the method, so diverged and failed runs keep the
    curve below 1 (the legend says how many runs each curve has).
    """
    task, metric = runs["task_key"].iloc[0], runs["metric"].iloc[0]
    lower = bool(runs["lower_is_better"].iloc[0])
    fig, (ax,) = new_figure()
    for label, g in runs.groupby("label", sort=True):
        values = np.sort(g.loc[g["valid"], "final_test_metric"].to_numpy(dtype=float))
        frac = np.arange(1, values.size + 1) / len(g)
        name = f"{label} ({values.size}/{len(g)} valid)"
        if values.size:
            xs, ys = np.concatenate([values[:1], values]), np.concatenate([[0.0], frac])
            ax.step(xs, ys, where="post", color=colours[label], label=name)
        else:
            ax.plot([], [], color=colours[label], label=name)
    _maybe_log(ax, runs.loc[runs["valid"], "final_test_metric"].to_numpy(dtype=float), "x")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"final test {metric} ({_direction(lower)})")
    ax.set_ylabel("fraction of runs at or below")
    ax.set_title(f"{task}: CDF of final test {metric} over initial hyperparameters", fontsize=10)
    _legend(ax)
    return fig


def _quantiles(df: pd.DataFrame, by: list[str], column: str = "value") -> pd.DataFrame:
    """Per group: the 25th, 50th and 75th percentiles of ``column`` (columns q25, q50, q75)."""
    q = df.groupby(by)[column].quantile(list(QUANTILES)).unstack()
    q.columns = ["q25", "q50", "q75"]
    return q.reset_index()


def _median_band(ax: Axes, q: pd.DataFrame, x: str, colours: dict, labels: Sequence[str]) -> None:
    import seaborn as sns

    for label in labels:
        g = q[q["label"] == label].sort_values(x)
        if g.empty:
            ax.plot([], [], color=colours[label], label=label)
            continue
        sns.lineplot(data=g, x=x, y="q50", color=colours[label], label=label, ax=ax, errorbar=None)
        ax.fill_between(g[x], g["q25"], g["q75"], color=colours[label], alpha=0.2, linewidth=0)


def curves_figure(
    runs: pd.DataFrame, records: pd.DataFrame, colours: dict, split: str = "test"
) -> Figure:
    """Test metric against weight step and against method wall time of one task.

    Median over runs with an interquartile envelope; the time axis of a method is its median
    cumulative method time at each step.
    """
    task, metric = runs["task_key"].iloc[0], runs["metric"].iloc[0]
    lower = bool(runs["lower_is_better"].iloc[0])
    recs = records[(records["split"] == split) & (records["metric"] == metric)]
    recs = recs.merge(runs[["run_id", "label"]], on="run_id")
    recs = recs.assign(value=recs["value"].replace([np.inf, -np.inf], np.nan)).dropna(
        subset=["value"]
    )
    labels = sorted(runs["label"].unique())
    by_step = _quantiles(recs, ["label", "step"])
    times = recs.groupby(["label", "step"])["time_s"].median().rename("time_s").reset_index()
    by_time = by_step.merge(times, on=["label", "step"])
    fig, axes = new_figure(2)
    for ax, q, x, xlabel in (
        (axes[0], by_step, "step", "weight step"),
        (axes[1], by_time, "time_s", "method wall time (s)"),
    ):
        _median_band(ax, q, x, colours, labels)
        _maybe_log(ax, recs["value"].to_numpy(dtype=float))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"{split} {metric} ({_direction(lower)})")
        _legend(ax)
    fig.suptitle(
        f"{task}: {split} {metric} (median and interquartile range over inits)", fontsize=10
    )
    return fig


def hyper_figure(runs: pd.DataFrame, records: pd.DataFrame, colours: dict) -> Figure | None:
    """Hyperparameter trajectories of one task, a panel per hyperparameter (None if none).

    Median and interquartile range over inits; where a ``NAME_std`` record gives the spread of
    a per-element hyperparameter within a run, a dotted band of median ± median std shows it.
    """
    task = runs["task_key"].iloc[0]
    recs = records[records["split"] == "hyper"].merge(runs[["run_id", "label"]], on="run_id")
    names = sorted(m for m in recs["metric"].unique() if not str(m).endswith("_std"))
    if not names:
        return None
    labels = sorted(runs["label"].unique())
    fig, axes = new_figure(len(names), width=4.2)
    for ax, name in zip(axes, names, strict=True):
        q = _quantiles(recs[recs["metric"] == name], ["label", "step"])
        _median_band(ax, q, "step", colours, labels)
        std = recs[recs["metric"] == f"{name}_std"]
        if not std.empty:
            s = std.groupby(["label", "step"])["value"].median().rename("std").reset_index()
            s = s.merge(q, on=["label", "step"])
            for label, g in s.groupby("label"):
                lo = (g["q50"] - g["std"]).clip(lower=g["q50"] * 1e-3)
                ax.fill_between(
                    g["step"], lo, g["q50"] + g["std"], facecolor="none", hatch="..",
                    edgecolor=colours[label], linewidth=0,
                    label=f"{label}: per-element ±1 std",
                )  # fmt: skip
        values = recs.loc[recs["metric"] == name, "value"].to_numpy(dtype=float)
        _maybe_log(ax, values, spread=10.0)
        ax.set_xlabel("weight step")
        ax.set_ylabel(f"{name} (natural value)")
        ax.set_title(name, fontsize=9)
    _legend(axes[0])  # one legend: every panel shows the same methods in the same colours
    fig.suptitle(f"{task}: hyperparameter trajectories (median and IQR over inits)", fontsize=10)
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


def front_figure(summary: pd.DataFrame, colours: dict) -> Figure:
    """Median final test metric against median method time and against peak memory, one task.

    Error bars are the bootstrap interval of the median; the grey line is the Pareto front.
    """
    task, metric = summary["task_key"].iloc[0], summary["metric"].iloc[0]
    lower = bool(summary["lower_is_better"].iloc[0])
    fig, axes = new_figure(2)
    y = summary["median"].to_numpy(dtype=float)
    err = np.abs(np.vstack([y - summary["median_lo"], summary["median_hi"] - y]))
    for ax, x_col, xlabel in (
        (axes[0], "time_s", "median method wall time (s)"),
        (axes[1], "memory_mib", "median peak memory (MiB)"),
    ):
        x = summary[x_col].to_numpy(dtype=float)
        for i, label in enumerate(summary["label"]):
            ax.errorbar(
                x[i : i + 1], y[i : i + 1], yerr=err[:, i : i + 1], fmt="o",
                color=colours[label], label=label, capsize=3,
            )  # fmt: skip
        front = pareto_front(x, y, lower)
        if front.size > 1:
            ax.plot(x[front], y[front], color="grey", linestyle="--", label="Pareto front")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"median final test {metric} ({_direction(lower)})")
        _legend(ax)
    fig.suptitle(f"{task}: test {metric} × wall time × memory", fontsize=10)
    return fig


def profile_figure(profile: pd.DataFrame, colours: dict) -> Figure:
    """Performance profiles: fraction of tasks on which each method is within tau of the fastest."""
    import seaborn as sns

    fig, (ax,) = new_figure(width=5.5)
    for label, g in profile.groupby("label", sort=True):
        sns.lineplot(
            data=g, x="tau", y="fraction", color=colours[label], label=label, ax=ax,
            drawstyle="steps-post", errorbar=None,
        )  # fmt: skip
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("τ: time to target / fastest method's time to target (ratio)")
    ax.set_ylabel("fraction of tasks within τ")
    ax.set_title("Performance profile: time to reach the target test metric", fontsize=10)
    _legend(ax)
    return fig
