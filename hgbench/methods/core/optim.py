"""The functional optimizer core: pure update functions over flat weights.

``update(w, g, state, **hyper) -> (w, state)``: ``w`` and ``g`` are flat ``[P]`` vectors, ``state``
a dict of tensors, ``hyper`` natural hyperparameter tensors (0-d, or ``[P]`` for per-element).
Every update is a few whole-vector ops (the flat layout makes them multi-tensor by
construction), differentiable in ``w`` and in ``hyper``, and safe under ``vmap``.

Each optimizer is split into a *direction* and the step ``w - lr * direction`` so that
hypergradient descent (Baydin et al. 2018) can reuse the direction it stepped along. The
forms follow ``torch.optim`` exactly (L2 weight decay folded into the gradient), which the
oracle tests check step for step in float64.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

Hyper = Tensor | float


def clip_by_global_norm(g: Tensor, max_norm: float | None) -> Tensor:
    """``torch.nn.utils.clip_grad_norm_`` as a pure function (coefficient capped at 1)."""
    if max_norm is None:
        return g
    coef = (max_norm / (g.norm() + 1e-6)).clamp(max=1.0)
    return g * coef


# ----------------------------------------------------------------------------------- SGD


def _is_zero(x: Hyper) -> bool:
    return isinstance(x, int | float) and x == 0


def add_scaled(x: Tensor, a: Hyper, y: Tensor, sign: float = 1.0) -> Tensor:
    """``x + sign·a·y`` as one fused op (``addcmul`` for a tensor ``a``, ``add(alpha=)`` for a
    number): the same values as the spelled-out expression, one dispatch instead of two."""
    if isinstance(a, Tensor):
        return torch.addcmul(x, a, y, value=sign)
    return torch.add(x, y, alpha=sign * a)


def step_along(w: Tensor, lr: Hyper, direction: Tensor) -> Tensor:
    """The step ``w - lr·direction`` every optimizer takes (one fused op)."""
    return add_scaled(w, lr, direction, -1.0)


def sgd_init(w: Tensor) -> dict[str, Tensor]:
    return {"momentum_buffer": w.new_zeros(w.shape)}


def sgd_direction(
    w: Tensor,
    g: Tensor,
    state: dict[str, Tensor],
    weight_decay: Hyper = 0.0,
    momentum: Hyper = 0.0,
    nesterov: bool = False,
) -> tuple[Tensor, dict[str, Tensor]]:
    """The SGD step direction (``w`` moves by ``-lr`` times it) and the new buffer.

    A Python zero ``weight_decay`` or ``momentum`` skips its (exactly neutral) arithmetic;
    tensors are always applied, so the same call traces and vmaps.
    """
    d = g if _is_zero(weight_decay) else add_scaled(g, weight_decay, w)
    if _is_zero(momentum):
        return d, {"momentum_buffer": d}
    buf = add_scaled(d, momentum, state["momentum_buffer"])
    direction = add_scaled(d, momentum, buf) if nesterov else buf
    return direction, {"momentum_buffer": buf}


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
    direction, new_state = sgd_direction(w, g, state, weight_decay, momentum, nesterov)
    return step_along(w, lr, direction), new_state


# ---------------------------------------------------------------------------------- Adam


def adam_init(w: Tensor, v0: float = 0.0) -> dict[str, Tensor]:
    """Adam state: moments, and the step count as a 0-d tensor (``v0``: initial 2nd moment)."""
    return {
        "exp_avg": w.new_zeros(w.shape),
        "exp_avg_sq": torch.full_like(w, v0),
        "step": w.new_zeros(()),
    }


def adam_direction(
    w: Tensor,
    g: Tensor,
    state: dict[str, Tensor],
    weight_decay: Hyper = 0.0,
    beta1: Hyper = 0.9,
    beta2: Hyper = 0.999,
    eps: float = 1e-8,
    *,
    eps_on: str = "v_hat",
) -> tuple[Tensor, dict[str, Tensor]]:
    """Adam's direction (L2 form) and new state.

    ``eps_on="v_hat"``: ``m̂ / (√v̂ + ε)`` (``torch.optim.Adam`` today). ``eps_on="v"``:
    ``√(1-β2^t)/(1-β1^t) · m / (√v + ε)``, the "more efficient" order of Kingma & Ba's
    Section 2, used by older ``torch.optim.Adam`` and by Baydin et al.'s AdamHD; it equals the
    first with ε scaled by ``1/√(1-β2^t)``. ``state["step"]`` may be a 0-d tensor or a Python
    number (then the bias corrections are Python floats). A Python zero ``weight_decay``
    skips its arithmetic.
    """
    d = g if _is_zero(weight_decay) else add_scaled(g, weight_decay, w)
    step = state["step"] + 1
    # β m + (1-β) d as one lerp each (torch.optim.Adam's own form for m)
    m = torch.lerp(state["exp_avg"], d, 1 - beta1)
    v = torch.lerp(state["exp_avg_sq"], d * d, 1 - beta2)
    c1, c2 = 1 - beta1**step, 1 - beta2**step
    if eps_on == "v_hat":
        direction = (m / c1) / ((v / c2).sqrt() + eps)
    elif eps_on == "v":
        direction = (c2**0.5 / c1) * m / (v.sqrt() + eps)
    else:
        raise ValueError(f"adam: eps_on must be 'v_hat' or 'v', got {eps_on!r}")
    return direction, {"exp_avg": m, "exp_avg_sq": v, "step": step}


def adam(
    w: Tensor,
    g: Tensor,
    state: dict[str, Tensor],
    lr: Hyper,
    weight_decay: Hyper = 0.0,
    beta1: Hyper = 0.9,
    beta2: Hyper = 0.999,
    eps: float = 1e-8,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Adam (Kingma & Ba 2015) as ``torch.optim.Adam`` computes it (no AMSGrad)."""
    direction, new_state = adam_direction(w, g, state, weight_decay, beta1, beta2, eps)
    return step_along(w, lr, direction), new_state


def tree_adam_init(params: Mapping[str, Tensor]) -> dict[str, Any]:
    """Adam state for a dict of tensors (e.g. raw hyperparameters): per-entry moments and one
    step count, the state :func:`tree_adam` updates."""
    any_leaf = next(iter(params.values()))
    return {
        "exp_avg": {k: torch.zeros_like(v) for k, v in params.items()},
        "exp_avg_sq": {k: torch.zeros_like(v) for k, v in params.items()},
        "step": any_leaf.new_zeros(()),
    }


def tree_adam(
    params: Mapping[str, Tensor],
    grads: Mapping[str, Tensor],
    state: Mapping[str, Any],
    lr: Hyper,
    beta1: Hyper = 0.9,
    beta2: Hyper = 0.999,
    eps: float = 1e-8,
) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """One Adam step on the entries of ``params`` that have a gradient in ``grads`` (the
    others are returned unchanged): :func:`adam_direction` per entry with a shared step count.
    The meta-optimizer of the implicit, unrolled and reversible methods."""
    new_params, m, v = dict(params), dict(state["exp_avg"]), dict(state["exp_avg_sq"])
    step = state["step"]
    for name, g in grads.items():
        entry = {"exp_avg": m[name], "exp_avg_sq": v[name], "step": state["step"]}
        direction, out = adam_direction(g, g, entry, 0.0, beta1, beta2, eps)
        new_params[name] = params[name] - lr * direction
        m[name], v[name], step = out["exp_avg"], out["exp_avg_sq"], out["step"]
    return new_params, {"exp_avg": m, "exp_avg_sq": v, "step": step}


# ------------------------------------------------------------------------------- AdaGrad


def adagrad_init(w: Tensor, initial_accumulator_value: float = 0.0) -> dict[str, Tensor]:
    return {"sum": torch.full_like(w, initial_accumulator_value), "step": w.new_zeros(())}


def adagrad_direction(
    w: Tensor,
    g: Tensor,
    state: dict[str, Tensor],
    weight_decay: Hyper = 0.0,
    lr_decay: Hyper = 0.0,
    eps: float = 1e-10,
) -> tuple[Tensor, dict[str, Tensor]]:
    """AdaGrad's direction ``g / (√Σg² + ε) / (1 + (t-1)·lr_decay)`` and new state."""
    d = add_scaled(g, weight_decay, w)
    step = state["step"] + 1
    acc = state["sum"] + d * d
    direction = d / (acc.sqrt() + eps) / (1 + (step - 1) * lr_decay)
    return direction, {"sum": acc, "step": step}


def adagrad(
    w: Tensor,
    g: Tensor,
    state: dict[str, Tensor],
    lr: Hyper,
    weight_decay: Hyper = 0.0,
    lr_decay: Hyper = 0.0,
    eps: float = 1e-10,
) -> tuple[Tensor, dict[str, Tensor]]:
    """AdaGrad (Duchi et al. 2011) as ``torch.optim.Adagrad`` computes it."""
    direction, new_state = adagrad_direction(w, g, state, weight_decay, lr_decay, eps)
    return step_along(w, lr, direction), new_state


# ------------------------------------------------------------------------------- RMSProp


def rmsprop_init(w: Tensor) -> dict[str, Tensor]:
    return {"square_avg": w.new_zeros(w.shape), "momentum_buffer": w.new_zeros(w.shape)}


def rmsprop_direction(
    w: Tensor,
    g: Tensor,
    state: dict[str, Tensor],
    weight_decay: Hyper = 0.0,
    alpha: Hyper = 0.99,
    momentum: Hyper = 0.0,
    eps: float = 1e-8,
) -> tuple[Tensor, dict[str, Tensor]]:
    """RMSProp's direction (``torch.optim.RMSprop``, not centered) and new state.

    The momentum buffer starts at zero, so with ``momentum = 0`` it is just ``g / (√s + ε)``.
    """
    d = add_scaled(g, weight_decay, w)
    s = alpha * state["square_avg"] + (1 - alpha) * d * d
    buf = momentum * state["momentum_buffer"] + d / (s.sqrt() + eps)
    return buf, {"square_avg": s, "momentum_buffer": buf}


def rmsprop(
    w: Tensor,
    g: Tensor,
    state: dict[str, Tensor],
    lr: Hyper,
    weight_decay: Hyper = 0.0,
    alpha: Hyper = 0.99,
    momentum: Hyper = 0.0,
    eps: float = 1e-8,
) -> tuple[Tensor, dict[str, Tensor]]:
    """RMSProp (Tieleman & Hinton 2012) as ``torch.optim.RMSprop`` computes it."""
    direction, new_state = rmsprop_direction(w, g, state, weight_decay, alpha, momentum, eps)
    return step_along(w, lr, direction), new_state


# ------------------------------------------------------------------------------ registry


@dataclass(frozen=True)
class FunctionalOptimizer:
    """One optimizer of the core: its state initialiser, direction and the hyperparameter
    names it takes from the paired initial hyperparameters (besides ``lr``)."""

    name: str
    init: Callable[..., dict[str, Tensor]]
    direction: Callable[..., tuple[Tensor, dict[str, Tensor]]]
    update: Callable[..., tuple[Tensor, dict[str, Tensor]]]
    paired: tuple[str, ...]


OPTIMIZERS: dict[str, FunctionalOptimizer] = {
    "sgd": FunctionalOptimizer("sgd", sgd_init, sgd_direction, sgd, ("weight_decay", "momentum")),
    "adam": FunctionalOptimizer("adam", adam_init, adam_direction, adam, ("weight_decay",)),
    "adagrad": FunctionalOptimizer(
        "adagrad", adagrad_init, adagrad_direction, adagrad, ("weight_decay",)
    ),
    "rmsprop": FunctionalOptimizer(
        "rmsprop", rmsprop_init, rmsprop_direction, rmsprop, ("weight_decay",)
    ),
}


def get_optimizer(name: str) -> FunctionalOptimizer:
    """The core optimizer called ``name``; a clear error lists the valid names."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name]
