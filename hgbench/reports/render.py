"""Saving a report's figures: queued while the report is assembled, written at the end.

Drawing is most of a report's time (ticks, text, layout; the statistics take a fraction of
it), and the figures are independent. :meth:`FigureQueue.write` draws them here, one by one,
unless asked for ``jobs`` > 1: then in worker processes forked from this one (they inherit the
built figures, nothing is pickled but the index), unless the platform cannot fork or other
threads are running (a fork would copy their locks). The files are the same either way. On the
2-core machine of docs/measurements.md each figure took about five times as long in a forked
drawer as in the parent (the quick suite's report: 7.3–7.5 s serial, 12.7–14.3 s with two
drawers), so one is the default.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hgbench.reports.document import Figure
from hgbench.reports.style import save_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure as MplFigure

#: CSS pixels per figure inch in the page (a 10-inch figure fills the 1200 px column)
CSS_PX_PER_INCH = 120


@dataclass
class _Job:
    figure: MplFigure
    stem: Path
    title: str
    methods: list[str]
    dpi: int
    pdf: bool

    def write(self) -> None:
        save_figure(self.figure, self.stem, title=self.title, methods=self.methods,
                    dpi=self.dpi, pdf=self.pdf)  # fmt: skip


#: the queue being written by forked workers (they read it from the inherited memory)
_WRITING: list[_Job] = []


class FigureQueue:
    """Figures of a report, saved as ``figures_dir/<stem>.png`` (and ``.pdf`` with ``pdf``)."""

    def __init__(self, figures_dir: Path, dpi: int, pdf: bool) -> None:
        self.figures_dir, self.dpi, self.pdf = figures_dir, dpi, pdf
        self.jobs: list[_Job] = []

    def __call__(
        self, figure: MplFigure, stem: str, caption: str, look: str, methods: Sequence[str]
    ) -> Figure:
        """Queue ``figure``; returns the document's figure (its files exist after write)."""
        path = self.figures_dir / stem
        self.jobs.append(_Job(figure, path, caption, list(methods), self.dpi, self.pdf))
        width = int(figure.get_size_inches()[0] * CSS_PX_PER_INCH)
        pdf = path.with_suffix(".pdf") if self.pdf else None
        return Figure(png=path.with_suffix(".png"), pdf=pdf, caption=caption, look=look,
                      width_px=width)  # fmt: skip

    def write(self, jobs: int | None = None) -> None:
        """Draw and save every queued figure, ``jobs`` processes at a time (default 1: here)."""
        global _WRITING
        jobs = min(jobs or 1, len(self.jobs))
        forkable = "fork" in multiprocessing.get_all_start_methods()
        if jobs <= 1 or not forkable or threading.active_count() > 1:
            for job in self.jobs:
                job.write()
        else:
            _WRITING = self.jobs
            try:
                context = multiprocessing.get_context("fork")
                with ProcessPoolExecutor(jobs, mp_context=context) as pool:
                    list(pool.map(_write_forked, range(len(self.jobs))))
            finally:
                _WRITING = []
        self.jobs = []


def _write_forked(i: int) -> None:
    _WRITING[i].write()
