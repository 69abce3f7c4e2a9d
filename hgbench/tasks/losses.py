"""Per-example losses and metrics (``(outputs, targets) -> [N]``) shared by the tasks."""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor


def squared_error(out: Tensor, y: Tensor) -> Tensor:
    """Per-example squared error of a one-output regressor (``out`` is ``[N, 1]`` or ``[N]``)."""
    return (out.reshape(y.shape) - y).square()


def scaled_squared_error(scale: float) -> Callable[[Tensor, Tensor], Tensor]:
    """Squared error in the original target units when targets were divided by ``scale``."""

    def metric(out: Tensor, y: Tensor) -> Tensor:
        return squared_error(out, y) * (scale * scale)

    return metric


def cross_entropy(out: Tensor, y: Tensor) -> Tensor:
    """Per-example cross-entropy of logits ``[N, C]`` against class indices ``[N]``."""
    return F.cross_entropy(out, y, reduction="none")


def accuracy(out: Tensor, y: Tensor) -> Tensor:
    """Per-example 0/1 correctness of the arg-max class (float)."""
    return (out.argmax(dim=-1) == y).to(out.dtype)
