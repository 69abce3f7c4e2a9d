"""hgbench: a benchmark suite for hypergradient methods.

``hgbench.run(method, task, ...)`` and ``hgbench.load_runs(path)`` are the one-call entry
points; ``hgbench.api`` holds everything a method author needs.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["load_runs", "run"]


def __getattr__(name: str) -> Any:  # lazy: `import hgbench` does not import torch
    if name in __all__:
        from hgbench import api

        return getattr(api, name)
    raise AttributeError(f"module 'hgbench' has no attribute {name!r}")
