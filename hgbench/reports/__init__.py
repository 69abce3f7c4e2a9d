"""Reports: tables and figures generated from stored results alone.

``build_report(results_path, out_dir)`` writes ``index.html``, ``report.md``, ``tables/*.tex``
(+ CSV) and ``figures/*.png|pdf``; ``render_report`` does the same from DataFrames.
"""

from typing import Any

_LAZY = {
    "build_report": "hgbench.reports.builder",
    "render_report": "hgbench.reports.builder",
    "benchmark_history_section": "hgbench.reports.history",
}


def __getattr__(name: str) -> Any:  # lazy: the CLI imports this package to add its commands
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'hgbench.reports' has no attribute {name!r}")


__all__ = ["benchmark_history_section", "build_report", "render_report"]
