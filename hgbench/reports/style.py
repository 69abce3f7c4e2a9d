"""The look shared by every report figure: method families and styles, canvas, legends, saving.

- **Families.** A method's family is the part of its key before the first underscore
  (``hd_sgd`` -> ``hd``, ``unrolled_full`` -> ``unrolled``), except for the built-in keys in
  :data:`FAMILY_ALIASES` whose names do not carry their family; a label's variants
  (``implicit[variant=wd_lr]``) belong to their method's family. The reports read only stored
  data, so the family is derived from the stored key, not from the method registry.
- **Styles.** Each family gets one hue (``fixed``, the baseline, is black); the variants of a
  family get shades of that hue from dark to light *and* distinct line styles and markers, so
  20 methods stay tellable apart in print and for colour-blind readers.
- **Figures** are drawn on an explicit Agg canvas (no pyplot state; safe headless), at
  :data:`REPORT_WIDTH_IN` inches wide, the width of the report's content column; one legend per
  figure, outside the axes (or one per panel below it, for panels with different methods); no
  tick offset labels (``1e-5+9.989e-1``) on any axis.
"""

from __future__ import annotations

import colorsys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hgbench.reports.layout import arrange

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: built-in method keys whose family is not their key's prefix (their module's family)
FAMILY_ALIASES = {"lorraine": "implicit", "baydin_loglr": "implicit"}
#: the baseline's family, drawn in black
BASELINE_FAMILY = "fixed"
#: width of a report figure, inches: the report's content column at ~120 CSS px per inch
REPORT_WIDTH_IN = 10.0
#: at most this many methods in one axes get interquartile bands (more turn the axes grey)
MAX_BANDS = 4
#: tab10 hues in the order families get them: grey (7) left out (too close to the black
#: baseline), brown (5) last (too close to dark shades of orange and red)
HUE_ORDER = (0, 1, 2, 3, 4, 6, 9, 8, 5)
#: how far the variants of a family are shaded towards dark (-) and light (+)
SHADE_RANGE = 0.45
#: light grey grid on white, no tick marks (seaborn's "whitegrid" look, without importing it)
AXES_STYLE = {
    "axes.grid": True, "axes.axisbelow": True, "axes.facecolor": "white",
    "axes.edgecolor": ".8", "grid.color": ".8", "grid.linestyle": "-", "axes.labelcolor": ".15",
    "xtick.color": ".15", "ytick.color": ".15", "xtick.bottom": False, "ytick.left": False,
    "text.color": ".15", "patch.edgecolor": "w", "patch.force_edgecolor": True,
    "lines.solid_capstyle": "round",
}  # fmt: skip
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)))
MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def family(label: str) -> str:
    """The family of a method label (see the module docstring)."""
    key = label.split("[", 1)[0]
    return FAMILY_ALIASES.get(key, key.split("_", 1)[0])


@dataclass(frozen=True)
class MethodStyle:
    """How one method is drawn: colour, line style and marker."""

    colour: tuple[float, float, float]
    linestyle: object
    marker: str
    family: str

    def line(self) -> dict:
        """Keyword arguments for ``Axes.plot`` / ``step``."""
        return {"color": self.colour, "linestyle": self.linestyle}


def _shade(rgb: Sequence[float], position: float) -> tuple[float, float, float]:
    """``rgb`` made darker (position < 0) or lighter (> 0), position in [-1, 1]."""
    h, lightness, s = colorsys.rgb_to_hls(*rgb[:3])
    lightness = lightness + position * (0.78 - lightness if position > 0 else lightness - 0.18)
    return colorsys.hls_to_rgb(h, lightness, s)


def ordered(labels: Iterable[str]) -> list[str]:
    """Labels grouped by family (baseline first, then families alphabetically), then by name."""

    def key(label: str) -> tuple[int, str, str]:
        fam = family(label)
        return (fam != BASELINE_FAMILY, fam, label)

    return sorted(set(labels), key=key)


def palette(labels: Iterable[str]) -> dict[str, MethodStyle]:
    """A stable style per method label (the same in every figure of a report)."""
    from matplotlib import colormaps

    labels = ordered(labels)
    families = list(dict.fromkeys(family(label) for label in labels))
    others = [f for f in families if f != BASELINE_FAMILY]
    if len(others) <= len(HUE_ORDER):
        tab10 = colormaps["tab10"].colors
        hues = [tuple(tab10[i]) for i in HUE_ORDER]
    else:  # evenly spaced hues at one lightness and saturation
        hues = [colorsys.hls_to_rgb(i / len(others), 0.45, 0.7) for i in range(len(others))]
    hue = {f: hues[i] for i, f in enumerate(others)} | {BASELINE_FAMILY: (0.1, 0.1, 0.1)}
    out = {}
    for fam in families:
        members = [label for label in labels if family(label) == fam]
        positions = (
            np.linspace(-SHADE_RANGE, SHADE_RANGE, len(members)) if len(members) > 1 else [0.0]
        )
        for i, (label, pos) in enumerate(zip(members, positions, strict=True)):
            colour = hue[fam] if fam == BASELINE_FAMILY else _shade(hue[fam], float(pos))
            out[label] = MethodStyle(
                colour=tuple(float(c) for c in colour),
                linestyle=LINESTYLES[i % len(LINESTYLES)],
                marker=MARKERS[i % len(MARKERS)],
                family=fam,
            )
    return out


def new_figure(
    ncols: int = 1,
    *,
    wrap: int = 4,
    width: float = REPORT_WIDTH_IN,
    panel_height: float = 3.0,
) -> tuple[Figure, list[Axes]]:
    """A ``width``-inch figure with ``ncols`` axes on an Agg canvas (:data:`AXES_STYLE`),
    wrapped into rows of at most ``wrap`` panels (the last row's free cells stay empty); the
    margins are set when it is saved (:func:`hgbench.reports.layout.arrange`)."""
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cols = max(1, min(ncols, wrap))
    rows = -(-ncols // cols)
    with rc_context(AXES_STYLE):
        fig = Figure(figsize=(width, panel_height * rows))
        FigureCanvasAgg(fig)
        grid = fig.add_gridspec(rows, cols)
        axes = [fig.add_subplot(grid[i // cols, i % cols]) for i in range(ncols)]
    return fig, axes


def figure_legend(
    fig: Figure, handles: list, labels: list[str], *, title: str | None = None
) -> None:
    """One legend for the whole figure, right of the axes (placed by ``layout.arrange``)."""
    ncol = 1 if len(labels) <= 16 else 2
    fig.legend(
        handles, labels, loc="upper left", fontsize="small", ncol=ncol, title=title,
        title_fontsize="small", frameon=False, borderaxespad=0.0,
    )  # fmt: skip


def panel_legend(ax: Axes, *, ncol: int = 2) -> None:
    """A legend of this panel's own artists, below the panel, outside its axes."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(
            handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.22), fontsize="x-small",
            ncol=ncol, frameon=False, borderaxespad=0.0,
        )  # fmt: skip  # moved just under the x label by layout.arrange


def maybe_log(ax: Axes, values: np.ndarray, axis: str = "y", spread: float = 100.0) -> None:
    """Log scale on ``axis`` when the positive ``values`` span more than ``spread``."""
    values = values[np.isfinite(values)]
    if values.size and values.min() > 0 and values.max() / values.min() > spread:
        (ax.set_yscale if axis == "y" else ax.set_xscale)("log")


def finish(fig: Figure) -> Figure:
    """No tick offsets or scale factors on any axis; flat linear axes widened so their ticks stay readable;
    log axes labelled with plain numbers (``0.6``, ``1e-05``) instead of ``6×10^-1``, minor
    ticks at 2 and 5 only; at most ~6 ticks on a linear axis (ticks are most of the drawing
    time of a figure); then the margins (:func:`hgbench.reports.layout.arrange`)."""
    from matplotlib.ticker import (
        FuncFormatter,
        LogLocator,
        MaxNLocator,
        NullFormatter,
        ScalarFormatter,
    )

    for ax in fig.axes:
        for axis, get_lim, set_lim in (
            (ax.xaxis, ax.get_xlim, ax.set_xlim),
            (ax.yaxis, ax.get_ylim, ax.set_ylim),
        ):
            formatter = axis.get_major_formatter()
            if isinstance(formatter, ScalarFormatter):
                formatter.set_useOffset(False)
                formatter.set_scientific(False)  # no "1e-5" above the axis either
                if type(axis.get_major_locator()).__name__ == "AutoLocator":
                    axis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
                lo, hi = get_lim()
                middle = (lo + hi) / 2
                if middle and hi - lo < 1e-3 * abs(middle):  # a flat line: show ±1%
                    set_lim(middle - 0.01 * abs(middle), middle + 0.01 * abs(middle))
            elif axis.get_scale() == "log":
                lo, hi = get_lim()
                axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))
                axis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
                few = lo > 0 and hi / lo < 30  # under ~1.5 decades: label the minor ticks too
                axis.set_minor_formatter(
                    FuncFormatter(lambda v, _: f"{v:.3g}") if few else NullFormatter()
                )
    arrange(fig)
    return fig


def save_figure(
    fig: Figure,
    path_stem: Path,
    *,
    title: str,
    methods: Sequence[str],
    dpi: int,
    pdf: bool = True,
) -> tuple[Path, Path | None]:
    """Write ``path_stem.png`` (and ``.pdf`` when ``pdf``); the methods shown go into the files'
    metadata. Returns the PNG's and the PDF's paths (None without a PDF)."""
    finish(fig)
    path_stem.parent.mkdir(parents=True, exist_ok=True)
    names = "methods: " + ", ".join(methods)
    png = path_stem.with_suffix(".png")
    # zlib level 1: a fifth of level 6's encoding time for files ~1.3x as large
    fig.savefig(png, dpi=dpi, metadata={"Title": title, "Description": names},
                pil_kwargs={"compress_level": 1})  # fmt: skip
    if not pdf:
        return png, None
    pdf_path = path_stem.with_suffix(".pdf")
    fig.savefig(pdf_path, metadata={"Title": title, "Subject": names, "Keywords": names})
    return png, pdf_path
