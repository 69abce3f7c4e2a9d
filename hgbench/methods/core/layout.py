"""Index tensors over a problem's flat weights, built once per problem.

``ParamLayout.tensor_ids`` and ``group_ids`` build their index from Python lists: on a GPU
each call is a host-to-device copy, which synchronises the stream. Methods that need them
inside a step take them from here instead: built on the CPU once, moved to the problem's
device once, and kept only as long as the problem lives (no memory outlives a run).
"""

from __future__ import annotations

from weakref import WeakKeyDictionary

from torch import Tensor

from hgbench.spec import Problem

_CACHE: WeakKeyDictionary[Problem, dict[str, Tensor]] = WeakKeyDictionary()


def _cached(problem: Problem, kind: str) -> Tensor:
    entry = _CACHE.setdefault(problem, {})
    if kind not in entry:
        layout = problem.layout
        ids = layout.tensor_ids("cpu") if kind == "tensor" else layout.group_ids("cpu")
        entry[kind] = ids.to(problem.device)
    return entry[kind]


def tensor_ids(problem: Problem) -> Tensor:
    """Index of the parameter tensor each flat weight belongs to (``[P]`` int64, on the
    problem's device; shared: do not modify)."""
    return _cached(problem, "tensor")


def group_ids(problem: Problem) -> Tensor:
    """Index of the layer each flat weight belongs to (``[P]`` int64, on the problem's
    device; shared: do not modify)."""
    return _cached(problem, "group")
