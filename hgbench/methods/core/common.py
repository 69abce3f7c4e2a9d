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
