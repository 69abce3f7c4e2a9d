"""Shared by the batched-inits oracle tests: the batchable methods, the float64 problem they
run on, and the tolerance they are held to."""

from __future__ import annotations

import torch

from hgbench.methods import METHODS
from hgbench.spec import Problem
from hgbench.tasks import TASKS

BATCHABLE = [k for k in METHODS.names() if METHODS.get(k).supports_batching]


def diabetes_float64() -> Problem:
    """``sk_diabetes`` at small scale in float64, one torch thread."""
    torch.set_num_threads(1)
    return TASKS.get("sk_diabetes")(scale="small").build(dtype=torch.float64, data_seed=0)


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal to 1e-10 relative (1e-14 absolute), NaN where both are NaN."""
    a, b = a.double(), b.double()
    both_nan = torch.isnan(a) & torch.isnan(b)
    err = (a - b).abs().where(~both_nan, torch.zeros_like(a))
    return bool((err <= 1e-10 * b.abs().clamp_min(1e-12) + 1e-14).all())
