"""Reports: tables and figures generated from stored results alone.

``build_report(results_path, out_dir)`` writes ``index.html``, ``report.md``, ``tables/*.tex``
(+ CSV) and ``figures/*.png|pdf``; ``render_report`` does the same from DataFrames.
"""

from hgbench.reports.builder import build_report, render_report
from hgbench.reports.history import benchmark_history_section

__all__ = ["benchmark_history_section", "build_report", "render_report"]
