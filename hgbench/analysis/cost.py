"""Counter-implied cost of a run, and its ratio to ``fixed`` for the same weight steps.

A run's cost counters (``CostCounter``: gradients, HVPs, extra forward passes) imply a cost
``gradient·c_g + hvp·c_h + forward·c_f`` in units of one gradient. The unit costs are either
assumed (:data:`ASSUMED`: an HVP by forward-over-reverse ≈ 2 gradients, a forward ≈ 1/3
gradient) or calibrated once per task by timing a gradient, an HVP and a forward on it
(:func:`calibrate_unit_costs`). Elementwise work (optimizer updates, meta-Adam, vjps of the
update) is not counted: where the measured ratio exceeds the implied one, that is the gap.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from hgbench.methods.core.diff import forward, hvp, value_and_grad
from hgbench.spec import ModelState, Problem


@dataclass(frozen=True)
class UnitCosts:
    """Cost of each counted operation in units of one gradient."""

    gradient: float = 1.0
    hvp: float = 2.0
    forward: float = 1.0 / 3.0

    def as_dict(self) -> dict[str, float]:
        return {"gradient": self.gradient, "hvp": self.hvp, "forward": self.forward}


ASSUMED = UnitCosts()


def implied_cost(counts: Mapping[str, int], units: UnitCosts = ASSUMED) -> float:
    """Cost in gradient units implied by a run's counters."""
    return (
        counts.get("gradient", 0) * units.gradient
        + counts.get("hvp", 0) * units.hvp
        + counts.get("forward", 0) * units.forward
    )


def cost_ratio(
    counts: Mapping[str, int], fixed_counts: Mapping[str, int], units: UnitCosts = ASSUMED
) -> float:
    """Counter-implied cost of a run over that of ``fixed`` for the same weight steps."""
    base = implied_cost(fixed_counts, units)
    if base <= 0:
        raise ValueError(f"fixed run has no counted work: {dict(fixed_counts)}")
    return implied_cost(counts, units) / base


def _median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        if isinstance(out, Tensor) and out.is_cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def calibrate_unit_costs(
    problem: Problem, w: Tensor, mstate: ModelState, repeats: int = 50
) -> UnitCosts:
    """Unit costs measured on ``problem`` (median of ``repeats`` timings each, train batch 0)
    through the same counted helpers the methods use; the counters are left unchanged."""
    saved = problem.counter.as_dict()
    batch = problem.train_batch(0)
    v = torch.randn_like(w)
    t_g = _median_seconds(lambda: value_and_grad(problem, w, mstate, batch)[1], repeats)
    t_h = _median_seconds(lambda: hvp(problem, w, mstate, batch, v), repeats)
    t_f = _median_seconds(lambda: forward(problem, w, mstate, batch)[0], repeats)
    problem.counter.reset()
    problem.counter.add(**saved)
    return UnitCosts(gradient=1.0, hvp=t_h / t_g, forward=t_f / t_g)
