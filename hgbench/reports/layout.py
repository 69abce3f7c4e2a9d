"""Margins of a report figure, measured once instead of by matplotlib's constrained layout.

Constrained layout measures every tick label of every axes several times per save; on the
quick suite it was a quarter of a report's build time. The report's figures are simple grids
of panels with, at most, a figure legend on the right and a legend below each panel, so
:func:`arrange` sizes the margins from the few things that vary: the tick labels' and the
y-labels' widths (estimated from their strings), the legends' real sizes (measured), and
whether the figure has a suptitle and the panels titles. Sizes are in inches, converted to
the grid's figure fractions.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from matplotlib.transforms import ScaledTranslation

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

PAD = 0.12  # inches around and between things


def _rooms(ax: Axes, renderer, dpi: float) -> tuple[float, float, float]:
    """Inches a panel's decorations take left of, below and above its frame: its y tick
    labels and y label, its x tick labels and x label, its title (measured once)."""
    frame = ax.get_window_extent(renderer)
    y, x = ax.yaxis.get_tightbbox(renderer), ax.xaxis.get_tightbbox(renderer)
    left = (frame.x0 - y.x0) / dpi if y is not None else 0.0
    below = (frame.y0 - x.y0) / dpi if x is not None else 0.0
    above = 0.0
    if ax.get_title():
        above = (ax.title.get_window_extent(renderer).y1 - frame.y1) / dpi
    return max(left, 0.0), max(below, 0.0), max(above, 0.0)


def _extent_in(artist, renderer, dpi: float) -> tuple[float, float]:
    box = artist.get_window_extent(renderer)
    return box.width / dpi, box.height / dpi


def arrange(fig: Figure) -> None:
    """Place the grid of ``fig``'s axes (from ``style.new_figure``) and its legends."""
    axes = [ax for ax in fig.axes if ax.get_visible() and ax.get_subplotspec() is not None]
    if not axes:
        return
    grid = axes[0].get_subplotspec().get_gridspec()
    rows, cols = grid.nrows, grid.ncols
    width, height = fig.get_size_inches()
    renderer = fig.canvas.get_renderer()
    dpi = fig.dpi
    below = 0.0  # legends under panels
    for ax in axes:
        legend = ax.get_legend()
        if legend is not None:
            below = max(below, _extent_in(legend, renderer, dpi)[1] + PAD)
    right = PAD
    for legend in fig.legends:
        right = max(right, _extent_in(legend, renderer, dpi)[0] + 2 * PAD)
    rooms = {ax: _rooms(ax, renderer, dpi) for ax in axes}
    above = max(r[2] for r in rooms.values())
    under = max(r[1] for r in rooms.values())
    suptitle = getattr(fig, "_suptitle", None)  # no public accessor of the Text
    title_h = _extent_in(suptitle, renderer, dpi)[1] + PAD if suptitle is not None else 0.0
    top = PAD + title_h + above
    bottom = under + below + PAD
    first = [ax for ax in axes if ax.get_subplotspec().colspan.start == 0]
    others = [ax for ax in axes if ax.get_subplotspec().colspan.start > 0]
    left = max(rooms[ax][0] for ax in first) + PAD
    wspace = max((rooms[ax][0] for ax in others), default=0.0) + 2 * PAD
    hspace = under + below + above + 2 * PAD
    panel_w = (width - left - right - (cols - 1) * wspace) / cols
    panel_h = (height - top - bottom - (rows - 1) * hspace) / rows
    if panel_w <= 0.5 or panel_h <= 0.5:
        log.warning("figure %gx%g in is too small for its labels: default margins", width, height)
        return
    grid.update(
        left=left / width, right=1 - right / width, bottom=bottom / height,
        top=1 - top / height, wspace=wspace / panel_w, hspace=hspace / panel_h,
    )  # fmt: skip
    for ax in axes:  # GridSpec.update repositions only pyplot's figures' axes
        ax.set_position(ax.get_subplotspec().get_position(fig))
        legend = ax.get_legend()
        if legend is not None:  # just under the panel's x label
            offset = ScaledTranslation(0, -rooms[ax][1] - PAD / 2, fig.dpi_scale_trans)
            legend.set_bbox_to_anchor((0.5, 0.0), transform=ax.transAxes + offset)
    for legend in fig.legends:
        legend.set_bbox_to_anchor((1 - (right - PAD) / width, 1 - top / height),
                                  transform=fig.transFigure)  # fmt: skip
    if suptitle is not None:
        suptitle.set_y(1 - PAD / height)
        suptitle.set_va("top")
