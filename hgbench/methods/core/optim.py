"""The functional optimizer core: pure update functions over flat weights.

``update(w, g, state, hyper) -> (w, state)``: ``w`` and ``g`` are flat ``[P]`` vectors, ``state``
a dict of tensors, ``hyper`` natural hyperparameter tensors (0-d, or ``[P]`` for per-element).
Every update is a few whole-vector ops (the flat layout makes them multi-tensor by
construction), differentiable in ``w`` and in ``hyper``, and safe under ``vmap``.
"""

from __future__ import annotations

from torch import Tensor


def clip_by_global_norm(g: Tensor, max_norm: float | None) -> Tensor:
    """``torch.nn.utils.clip_grad_norm_`` as a pure function (coefficient capped at 1)."""
    if max_norm is None:
        return g
    coef = (max_norm / (g.norm() + 1e-6)).clamp(max=1.0)
    return g * coef


def sgd_init(w: Tensor) -> dict[str, Tensor]:
    return {"momentum_buffer": w.new_zeros(w.shape)}


def sgd(
    w: Tensor,
    g: Tensor,
    state: dict[str, Tensor],
    lr: Tensor,
    weight_decay: Tensor | float = 0.0,
    momentum: Tensor | float = 0.0,
    nesterov: bool = False,
) -> tuple[Tensor, dict[str, Tensor]]:
    """SGD with momentum and L2 in PyTorch's form: ``b = μ b + g + wd·w; w -= η b``.

    With a zero initial buffer the first step equals ``torch.optim.SGD``'s (buffer = d).
    Nesterov steps along ``d + μ b``. Returns new weights and ``{"momentum_buffer": b}``.
    """
    d = g + weight_decay * w
    buf = momentum * state["momentum_buffer"] + d
    direction = d + momentum * buf if nesterov else buf
    return w - lr * direction, {"momentum_buffer": buf}
