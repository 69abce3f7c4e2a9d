"""Hyperparameter trajectories of one task: a panel per hyperparameter, only the methods that
have it, each panel with its own legend (below it, outside the axes) of exactly those methods.

Median over inits; interquartile bands only in panels with at most
:data:`~hgbench.reports.style.MAX_BANDS` methods. Where a ``NAME_std`` record gives the spread
of a per-element hyperparameter within a run, a hatched band of median ± median std shows it.
Per-layer records (``alpha_l0``, ``alpha_l1``...) share one panel, a line style per layer;
they are left to the schedule figure (:mod:`hgbench.reports.schedules`) when it shows them.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import TYPE_CHECKING

import pandas as pd

from hgbench.reports.figures import median_lines, quantiles
from hgbench.reports.style import (
    LINESTYLES,
    MAX_BANDS,
    maybe_log,
    new_figure,
    ordered,
    panel_legend,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure


#: a per-layer hyperparameter record: ``<name>_l<layer>``
LAYER_METRIC = re.compile(r"^(?P<name>.+)_l(?P<layer>\d+)$")
#: hyperparameters of at least this many methods are "shared" (their own, wider figure)
SHARED_MIN_METHODS = 3


def hyper_records(
    runs: pd.DataFrame, records: pd.DataFrame, exclude: Collection[str] = ()
) -> pd.DataFrame:
    """Hyperparameter records of one task with their panel: columns ``label, name, layer, std,
    step, value``. ``name`` is the record's metric without a ``_std`` suffix (``std`` True:
    the within-run spread of ``name``) and without an ``_l<k>`` layer suffix (``layer`` k,
    else -1: per-layer values share one panel)."""
    recs = records[(records["split"] == "hyper") & ~records["metric"].isin(exclude)]
    recs = recs.merge(runs[["run_id", "label"]], on="run_id")
    metric = recs["metric"].astype(str)
    std = metric.str.endswith("_std")
    base = metric.where(~std, metric.str.slice(0, -4))
    parts = base.str.extract(LAYER_METRIC)
    layer = pd.to_numeric(parts["layer"], errors="coerce").fillna(-1).astype(int)
    name = parts["name"].where(parts["name"].notna(), base)
    return pd.DataFrame(
        {"label": recs["label"], "name": name, "layer": layer, "std": std,
         "step": recs["step"], "value": recs["value"].astype(float)}
    )  # fmt: skip


def hyper_panels(recs: pd.DataFrame) -> list[tuple[str, list[str]]]:
    """Per panel (hyperparameter name, most methods first): the labels with records of it."""
    members = recs[~recs["std"]].groupby("name")["label"].unique()
    return sorted(((name, ordered(labels)) for name, labels in members.items()),
                  key=lambda item: (-len(item[1]), item[0]))  # fmt: skip


def hyper_figure(
    runs: pd.DataFrame,
    records: pd.DataFrame,
    styles: dict,
    exclude: Collection[str] = (),
    *,
    shared: bool | None = None,
) -> Figure | None:
    """The hyperparameter trajectories of one task (None when no run records any).

    ``shared=True`` draws only hyperparameters of at least :data:`SHARED_MIN_METHODS` methods
    (two panels a row), ``False`` only the others (method-specific ones, three a row), ``None``
    all of them. Per-layer hyperparameters get a line per method and layer (line style: layer).
    """
    recs = hyper_records(runs, records, exclude)
    panels = hyper_panels(recs)
    if shared is not None:
        panels = [p for p in panels if (len(p[1]) >= SHARED_MIN_METHODS) == shared]
    if not panels:
        return None
    task = runs["task_key"].iloc[0]
    wrap = 2 if shared is not False else 3
    ncol = 2 if wrap == 2 else 1
    values = recs[~recs["std"]]
    q = quantiles(values, ["name", "label", "layer", "step"])
    spread = recs[recs["std"]].groupby(["name", "label", "layer", "step"])["value"].median()
    layers = values.groupby("name")["layer"].nunique()
    entries = max(len(labels) * layers[name] for name, labels in panels)
    height = 3.2 + 0.16 * -(-entries // ncol)  # room for the legend below each panel
    fig, axes = new_figure(len(panels), wrap=wrap, panel_height=height)
    for ax, (name, labels) in zip(axes, panels, strict=True):
        panel = q[q["name"] == name]
        if (panel["layer"] >= 0).any():
            _layer_lines(ax, panel, styles, labels)
        else:
            median_lines(ax, panel, "step", styles, labels, bands=len(labels) <= MAX_BANDS)
            _spread_bands(ax, panel, spread, name, styles)
        per_layer = (panel["layer"] >= 0).any()
        banded = len(labels) <= MAX_BANDS and not per_layer
        drawn = panel[["q50", "q25", "q75"] if banded else ["q50"]]
        maybe_log(ax, drawn.to_numpy(float).ravel(), spread=10.0)  # what is drawn decides
        ax.set_xlabel("weight step")
        per_layer = " per layer" if per_layer else ""
        ax.set_ylabel("natural value")  # the title names the hyperparameter
        ax.set_title(f"{name}{per_layer} ({len(labels)} method{'s' * (len(labels) > 1)})",
                     fontsize=9)  # fmt: skip
        panel_legend(ax, ncol=ncol)
    which = {True: "shared ", False: "method-specific ", None: ""}[shared]
    fig.suptitle(f"{task}: {which}hyperparameter trajectories", fontsize=10)
    return fig


def _layer_lines(ax, panel: pd.DataFrame, styles: dict, labels: list[str]) -> None:
    """A median line per method and layer: the method's colour, a line style per layer."""
    for label in labels:
        for layer, g in panel[panel["label"] == label].groupby("layer", sort=True):
            g = g.sort_values("step")
            ax.plot(g["step"].to_numpy(), g["q50"].to_numpy(), color=styles[label].colour,
                    linestyle=LINESTYLES[int(layer) % len(LINESTYLES)], linewidth=1.4,
                    label=f"{label} · layer {int(layer)}")  # fmt: skip


def _spread_bands(ax, panel: pd.DataFrame, spread: pd.Series, name: str, styles: dict) -> None:
    """Hatched median ± median within-run std where ``NAME_std`` records exist."""
    if name not in spread.index.get_level_values("name"):
        return
    s = spread.loc[name].rename("std").reset_index()
    s = s.merge(panel, on=["label", "layer", "step"])
    for label, g in s.groupby("label"):
        g = g.sort_values("step")
        low = (g["q50"] - g["std"]).clip(lower=g["q50"] * 1e-3)
        ax.fill_between(
            g["step"].to_numpy(), low.to_numpy(), (g["q50"] + g["std"]).to_numpy(),
            facecolor="none", hatch="..", edgecolor=styles[label].colour, linewidth=0,
            label="per-element ±1 std",
        )  # fmt: skip
