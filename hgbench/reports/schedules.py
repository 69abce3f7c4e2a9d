"""The learned per-step, per-layer schedules of reversible learning (Maclaurin et al. 2015).

Methods that learn a schedule over the ``horizon`` weight steps of a training run record, at
each cadence point, the value of that step's hyperparameter for each layer as
``<name>_l<layer>`` (``alpha_l0``, ``gamma_l1``...). This figure plots them against the step
within a meta-iteration, for the first meta-iteration (dashed: the initial schedule) and the
last one (solid: the learned schedule), one panel per hyperparameter, one colour per layer,
the median over inits.
"""

from __future__ import annotations

import json
import re

import pandas as pd
from matplotlib.figure import Figure

from hgbench.reports.style import figure_legend, maybe_log, new_figure

SCHEDULE_METRIC = re.compile(r"^(?P<name>[A-Za-z0-9]+(?:_[a-z]+)*)_l(?P<layer>\d+)$")


def schedule_records(runs: pd.DataFrame, records: pd.DataFrame) -> pd.DataFrame:
    """Per-layer schedule records of runs whose settings declare a ``horizon``, with columns
    ``label, name, layer, meta_iteration ("first" | "last"), position, value``."""
    horizon = runs["method_settings"].map(lambda s: json.loads(s or "{}").get("horizon"))
    runs = runs.assign(horizon=horizon).dropna(subset=["horizon"])
    if runs.empty:
        return pd.DataFrame()
    recs = records[(records["split"] == "hyper") & records["run_id"].isin(runs["run_id"])]
    parts = recs["metric"].str.extract(SCHEDULE_METRIC)
    recs = recs.assign(name=parts["name"], layer=pd.to_numeric(parts["layer"])).dropna(
        subset=["name"]
    )
    recs = recs.merge(runs[["run_id", "label", "horizon", "steps_done"]], on="run_id")
    h = recs["horizon"].astype(int)
    last_start = ((recs["steps_done"].astype(int) - 1).clip(lower=0) // h) * h
    first = recs["step"] < h
    last = (recs["step"] >= last_start) & (recs["step"] < last_start + h)
    out = []
    for which, mask, start in (("first", first, 0), ("last", last, last_start)):
        part = recs[mask]
        start_of = start if isinstance(start, int) else start[mask]
        out.append(part.assign(meta_iteration=which, position=part["step"] - start_of))
    return pd.concat(out, ignore_index=True)[
        ["label", "name", "layer", "meta_iteration", "position", "value"]
    ]


def schedule_figure(runs: pd.DataFrame, records: pd.DataFrame) -> Figure | None:
    """Learned schedules of one task (None when no run records per-layer schedules)."""
    from matplotlib import colormaps

    sched = schedule_records(runs, records)
    if sched.empty:
        return None
    task = runs["task_key"].iloc[0]
    panels = sorted(sched[["label", "name"]].drop_duplicates().itertuples(index=False))
    fig, axes = new_figure(len(panels), wrap=3, panel_height=2.6)
    layers = sorted(sched["layer"].unique())
    viridis = colormaps["viridis"]
    colours = {layer: viridis(i / max(len(layers) - 1, 1)) for i, layer in enumerate(layers)}
    for ax, (label, name) in zip(axes, panels, strict=True):
        data = sched[(sched["label"] == label) & (sched["name"] == name)]
        med = data.groupby(["meta_iteration", "layer", "position"])["value"].median()
        for (which, layer), g in med.groupby(level=["meta_iteration", "layer"]):
            ax.plot(
                g.index.get_level_values("position"), g.to_numpy(), color=colours[layer],
                linestyle="-" if which == "last" else "--",
                label=f"layer {int(layer)} ({which} meta-iteration)",
            )  # fmt: skip
        maybe_log(ax, data["value"].to_numpy(dtype=float), spread=10.0)
        ax.set_xlabel("weight step within a meta-iteration")
        ax.set_ylabel(f"{name} (natural value)")
        ax.set_title(f"{label.split('[', 1)[0]}: {name}", fontsize=9)
    handles, layer_names = axes[0].get_legend_handles_labels()  # the same in every panel
    figure_legend(fig, handles, layer_names)
    names = ", ".join(sorted(sched["label"].unique()))
    fig.suptitle(
        f"{task}: learned per-layer schedules (dashed: initial, solid: learned)\n{names}",
        fontsize=9,
    )
    return fig
