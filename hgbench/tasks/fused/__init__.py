"""Fused loss-and-gradient and Hessian-vector-product kernels for batched inits on the CPU,
and when they apply.

Under ``torch.func.vmap`` over N paired inits, autograd computes an MLP's gradient on stacked
activations (``[N, rows, H]`` per layer), which on the UCI data sets streams hundreds of MB
through memory per step; the arithmetic is a small fraction of that. The kernel here computes
every init's loss and exact gradient (or Hessian-vector product) in one pass over the rows,
with nothing of size rows x H stored (``mlp1.c``); the gradient alone takes 0.7-2.3x the time
of the CPU's large GEMM for the same flops, by machine and data set (``docs/roofline.md``).

It applies to a :class:`~hgbench.tasks.base.SupervisedProblem` whose model is exactly
``mlp([D, H, 1])`` with ReLU (the UCI regressors), whose loss is
:func:`~hgbench.tasks.losses.squared_error`, on the CPU in float32 or float64, and only where
:func:`hgbench.methods.core.diff.value_and_grad` (or ``hvp``) runs under ``vmap`` alone with
tensors nothing differentiates through (what a method differentiates through keeps autograd).
One-by-one runs always use autograd, so reference timings compare like with like.

Its numbers equal autograd's to rounding (tested at 1e-10 in float64 for every batchable
method), not bit for bit, so a batched CPU run's identity records which gradient it used
(:func:`identity`). ``HGBENCH_FUSED=0`` turns the kernel off; without a working C compiler it
is off with a one-line warning saying why, and runs keep autograd.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from functools import lru_cache
from typing import NamedTuple

import torch
from torch import Tensor

from hgbench.tasks.fused import mlp1
from hgbench.tasks.fused.build import KernelUnavailable
from hgbench.tasks.losses import squared_error
from hgbench.tasks.models import FlatMLP

#: environment variable that turns the fused kernels off when set to ``0``
ENV = "HGBENCH_FUSED"


class FusedOps(NamedTuple):
    """A model's fused kernels (each returns None where it does not apply to its tensors)."""

    #: ``(w, x, y) -> (loss, grad)``: the mean loss and its gradient in the flat weights
    value_and_grad: Callable[[Tensor, Tensor, Tensor], tuple[Tensor, Tensor] | None]
    #: ``(w, u, x, y) -> H(w) u``: the loss's Hessian-vector product
    hvp: Callable[[Tensor, Tensor, Tensor, Tensor], Tensor | None]


def enabled() -> bool:
    """Whether fused kernels may be used (``HGBENCH_FUSED`` is not ``0``)."""
    return os.environ.get(ENV, "1").strip() != "0"


@lru_cache(maxsize=4)
def unavailable_reason(dtype: torch.dtype) -> str | None:
    """None when the kernel for ``dtype`` builds and loads here, else why not (one line).

    Building happens here, on first use (once per machine: the library is cached on disk)."""
    if dtype not in mlp1.DTYPES:
        return f"no fused kernel for {dtype}"
    try:
        mlp1.builds(dtype)
    except KernelUnavailable as exc:
        return str(exc)
    return None


def available(dtype: torch.dtype) -> bool:
    """Whether the fused kernel can run here for ``dtype`` (warns once with the reason if not)."""
    if not enabled():
        return False
    reason = unavailable_reason(dtype)
    if reason is not None:
        _warn_once(reason)
    return reason is None


@lru_cache(maxsize=8)
def _warn_once(reason: str) -> None:
    warnings.warn(f"hgbench: fused gradient kernel off, autograd instead: {reason}", stacklevel=3)


def identity(dtype: torch.dtype) -> str:
    """What a batched CPU run's gradient is computed with: the kernel's source digest, or
    ``"autograd"`` where the kernel is off or cannot be built."""
    if enabled() and unavailable_reason(dtype) is None:
        return mlp1.digest()
    return "autograd"


def for_mlp(
    flat_forward: object, loss_fn: object, device: torch.device, dtype: torch.dtype
) -> FusedOps | None:
    """The fused kernels of a problem with this forward and per-example loss, or None where
    none applies (decided from the structure alone; nothing is compiled)."""
    if device.type != "cpu" or dtype not in (torch.float32, torch.float64):
        return None
    if loss_fn is not squared_error or not isinstance(flat_forward, FlatMLP):
        return None
    if flat_forward.ops != ("linear", torch.relu, "linear"):
        return None
    (h, d), (h_bias,), (out, h_out), (out_bias,) = (tuple(s) for s in flat_forward.shapes)
    if not (h == h_bias == h_out) or (out, out_bias) != (1, 1):
        return None
    return FusedOps(mlp1.value_and_grad, mlp1.hvp)
