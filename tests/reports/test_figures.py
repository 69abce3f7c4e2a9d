"""Figures people can read: legends off the data, hyperparameter legends of their own panel,
no tick offsets, a palette that keeps families together and 20 methods apart."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from hgbench.reports import figures as fig
from hgbench.reports.builder import summary_table
from hgbench.reports.hyper import hyper_figure, hyper_records
from hgbench.reports.paired import paired_comparisons
from hgbench.reports.paired_figures import outcomes_figure
from hgbench.reports.stats import classify_runs
from hgbench.reports.style import family, finish, palette
from hgbench.reports.timing import performance_profile
from tests.reports.synthetic import make_records, make_runs

#: label -> the hyperparameters it records (a per-element lr spread for the ``wd_lr`` variant)
METHODS = {
    "fixed": ["lr", "momentum"],
    "hd_sgd": ["lr"],
    "hd_sgdn": ["lr", "momentum"],
    "hd_adam": ["lr"],
    "implicit[variant=wd_lr]": ["lr", "weight_decay"],
    "implicit[variant=wd_lr_m]": ["lr", "weight_decay", "momentum"],
    "lorraine": ["lr", "weight_decay"],
    "tower": ["lr", "level2_lr"],
    "tower[levels=adam/adam]": ["lr", "level2_lr", "beta1"],
    "reversible": ["alpha_l0", "alpha_l1"],
}


def many_methods(n_inits: int = 3, steps: int = 4) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One task, ten methods of five families, paired inits, hyperparameter records."""
    rng = np.random.default_rng(0)
    runs, records = [], []
    for m, (label, hypers) in enumerate(METHODS.items()):
        for i in range(n_inits):
            run_id = f"{label}-{i}"
            curve = np.linspace(5.0, 1.0 + 0.2 * m + 0.1 * i, steps + 1)
            runs.append(
                {"run_id": run_id, "method": label.split("[")[0], "label": label,
                 "init_index": i, "final_test_metric": curve[-1], "step_time_s": 0.01 * (m + 1),
                 "peak_memory_bytes": (m + 1) * 2**20}
            )  # fmt: skip
            for s in range(steps + 1):
                t = 0.05 * s * (m + 1)
                records.append((run_id, s, t, "test", "mse", float(curve[s])))
                for h in hypers:
                    records.append((run_id, s, t, "hyper", h, float(0.1 + 0.01 * rng.random())))
                if label == "implicit[variant=wd_lr]":
                    records.append((run_id, s, t, "hyper", "lr_std", 0.01))
    return classify_runs(make_runs(runs)), make_records(records)


def _overlap(a, b) -> float:
    """Area of the intersection of two display-space boxes."""
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(w, 0.0) * max(h, 0.0)


def legends_off_the_data(figure) -> int:
    """Assert no legend box overlaps any axes' data area; return how many legends there are."""
    finish(figure)
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    legends = list(figure.legends) + [ax.get_legend() for ax in figure.axes if ax.get_legend()]
    for legend, ax in itertools.product(legends, figure.axes):
        if ax.get_visible():
            area = _overlap(legend.get_window_extent(renderer), ax.get_window_extent(renderer))
            assert area == 0.0, f"a legend covers the data of {ax.get_title()!r}"
    return len(legends)


def all_figures():
    runs, records = many_methods()
    styles = palette(runs["label"])
    summary = summary_table(runs, n_boot=10, confidence=0.95, seed=0)
    profile = performance_profile(
        pd.DataFrame({"task_key": "toy", "label": sorted(METHODS), "ratio": np.arange(1.0, 11)}),
        [1.0, 2.0, 4.0, 11.0],
    )
    return {
        "cdf": fig.cdf_figure(runs, styles),
        "curves": fig.curves_figure(runs, records, styles),
        "families": fig.family_curves_figure(runs, records, styles),
        "front": fig.front_figure(summary, styles),
        "profile": fig.profile_figure(profile, styles, "steady time to target"),
        "outcomes": outcomes_figure(paired_comparisons(runs, n_boot=10), "fixed"),
        "hyper": hyper_figure(runs, records, styles, shared=True),
        "hyper_specific": hyper_figure(runs, records, styles, shared=False),
    }


@pytest.mark.parametrize("kind", list(all_figures()))
def test_legends_sit_outside_every_axes(kind: str) -> None:
    figure = all_figures()[kind]
    n_legends = legends_off_the_data(figure)
    assert n_legends >= 1
    if not kind.startswith("hyper"):  # one legend per figure; hyper: one per panel
        assert n_legends == 1


@pytest.mark.parametrize("kind", list(all_figures()))
def test_nothing_is_cut_off_at_the_edges_or_overlaps_a_neighbour(kind: str) -> None:
    figure = all_figures()[kind]
    finish(figure)  # sets the margins
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    page = figure.bbox
    boxes = [legend.get_window_extent(renderer) for legend in figure.legends]
    boxes += [ax.get_tightbbox(renderer) for ax in figure.axes]
    for box in boxes:
        assert box.x0 >= page.x0 - 1 and box.y0 >= page.y0 - 1, kind
        assert box.x1 <= page.x1 + 1 and box.y1 <= page.y1 + 1, kind
    # a panel's labels and legend stay clear of the other panels' frames
    for a, b in itertools.permutations(figure.axes, 2):
        assert _overlap(a.get_tightbbox(renderer), b.get_window_extent(renderer)) == 0.0, kind


def test_a_hyperparameter_panel_lists_only_the_methods_that_have_it() -> None:
    runs, records = many_methods()
    recs = hyper_records(runs, records)
    having = recs[~recs["std"]].groupby("name")["label"].agg(set)
    seen = set()
    for shared in (True, False):
        figure = hyper_figure(runs, records, palette(runs["label"]), shared=shared)
        for ax in figure.axes:
            name = ax.get_title().split(" ")[0]
            entries = {t.get_text().split(" · ")[0] for t in ax.get_legend().get_texts()}
            entries.discard("per-element ±1 std")
            drawn = {str(line.get_label()).split(" · ")[0] for line in ax.get_lines()}
            assert entries == drawn == having[name], name
            seen.add(name)
    assert seen == set(having.index)  # every hyperparameter has its panel
    assert having["beta1"] == {"tower[levels=adam/adam]"}  # e.g. a one-method panel


def test_no_axis_shows_an_offset() -> None:
    runs, records = many_methods()
    # a hyperparameter that hardly moves: matplotlib would label it 1e-5+9.989e-1
    flat = records[records["metric"] == "momentum"].assign(
        value=lambda d: 0.9989 + 1e-6 * d["step"]
    )
    records = pd.concat([records[records["metric"] != "momentum"], flat])
    for figure in [*all_figures().values(), hyper_figure(runs, records, palette(runs["label"]))]:
        finish(figure)
        figure.canvas.draw()
        for ax in figure.axes:
            for axis in (ax.xaxis, ax.yaxis):
                assert axis.get_offset_text().get_text() == "", ax.get_title()


def test_palette_groups_families_and_keeps_twenty_methods_apart() -> None:
    labels = [f"m{f}_v{v}" for f in range(5) for v in range(4)]  # 5 families x 4 variants
    styles = palette(labels)
    assert {family(label) for label in labels} == {f"m{f}" for f in range(5)}
    keys = {(s.colour, s.linestyle) for s in styles.values()}
    assert len(keys) == 20  # no two methods drawn alike
    # variants of a family share a hue, families differ in hue
    import colorsys

    hue = {label: colorsys.rgb_to_hls(*s.colour)[0] for label, s in styles.items()}
    for f in range(5):
        same = [hue[f"m{f}_v{v}"] for v in range(4)]
        assert max(same) - min(same) < 0.02
    assert len({round(hue[f"m{f}_v0"], 2) for f in range(5)}) == 5
    assert family("lorraine") == family("implicit[variant=wd_lr]") == "implicit"
    assert family("unrolled_full") == "unrolled" and family("hd_adam") == "hd"
    assert styles["m0_v0"] == palette(reversed(labels))["m0_v0"]  # stable
