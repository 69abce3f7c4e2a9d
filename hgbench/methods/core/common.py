"""Small pieces every online method shares: the clipped training gradient of step ``t`` and
scalar hyperparameters as tensors of the problem's dtype and device."""

from __future__ import annotations

import torch
from torch import Tensor

from hgbench.methods.core.diff import value_and_grad
from hgbench.methods.core.optim import clip_by_global_norm
from hgbench.spec import ModelState, Problem


def training_gradient(
    problem: Problem, w: Tensor, mstate: ModelState, t: int
) -> tuple[Tensor, Tensor, ModelState]:
    """Loss, gradient (clipped to ``problem.grad_clip``) and new model state on batch ``t``
    (one counted gradient)."""
    loss, g, new_mstate = value_and_grad(problem, w, mstate, problem.train_batch(t))
    return loss, clip_by_global_norm(g, problem.grad_clip), new_mstate


def scalar(problem: Problem, value: float) -> Tensor:
    """A 0-d tensor on the problem's device and dtype."""
    return torch.tensor(float(value), dtype=problem.dtype, device=problem.device)


def check_choice(name: str, value: object, choices: tuple[object, ...]) -> None:
    """Raise a clear ``ValueError`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")


def check_bool(name: str, value: object) -> bool:
    """``value`` itself if it is a ``bool``; else a clear ``ValueError``."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def check_number(
    name: str, value: object, *, low: float | None = None, allow_equal: bool = True
) -> float:
    """A finite float, at least (or above) ``low`` when given; else a clear ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {value!r}")
    v = float(value)
    if v != v or v in (float("inf"), float("-inf")):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if low is not None and (v < low or (v == low and not allow_equal)):
        relation = ">=" if allow_equal else ">"
        raise ValueError(f"{name} must be {relation} {low}, got {value!r}")
    return v
