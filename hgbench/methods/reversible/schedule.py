"""The hyperparameters of reversible learning and their meta-optimizer.

Maclaurin et al. (2015) learn, per layer (``ParamLayout.group_ids``): a schedule of step sizes
``α_t`` (as ``log α``) and momenta ``γ_t`` (as ``logit γ``) over the ``T`` steps of a training
run, the log scale of the initial weights, and an L2 penalty (``log λ``; per layer or per
weight). Raw values are held in a dict of tensors:

=====================  ============  =====================================
key                    shape         natural value
=====================  ============  =====================================
``log_alpha``          ``[T, G]``    α_t = exp(raw)
``logit_gamma``        ``[T, G]``    γ_t = sigmoid(raw) (clamped to (2^-16, 1-2^-16))
``log_init_scale``     ``[G]``       w_0 = exp(raw) · w_base
``log_l2``             ``[G]``/``[P]``  λ = exp(raw); loss + ½ Σ λ w²
=====================  ============  =====================================

The meta-optimizer is Adam on the raw values (the paper's step 0.04).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor

from hgbench.methods.core.optim import tree_adam
from hgbench.methods.reversible.fixedpoint import DENOM

Hyper = dict[str, Tensor]

HYPER_KEYS = ("log_alpha", "logit_gamma", "log_init_scale", "log_l2")
#: learnable groups by their user-facing names
LEARNABLE = {
    "alpha": "log_alpha",
    "gamma": "logit_gamma",
    "init_scale": "log_init_scale",
    "l2": "log_l2",
}
#: momentum stays a rational n/2^16 with 1 <= n < 2^16
LOGIT_GAMMA_MAX = math.log((DENOM - 1) / 1.0)
#: an L2 of zero is held as this tiny value so that its log stays finite
L2_FLOOR = 1e-30


def check_open_unit(name: str, value: float) -> float:
    v = float(value)
    if not math.isfinite(v) or not 0.0 < v < 1.0:
        raise ValueError(f"{name} must lie in the open interval (0, 1), got {value!r}")
    return v


def check_positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    v = float(value)
    ok = math.isfinite(v) and (v >= 0.0 if allow_zero else v > 0.0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value!r}")
    return v


def check_learn(learn: Iterable[str]) -> tuple[str, ...]:
    out = tuple(learn)
    unknown = sorted(set(out) - set(LEARNABLE))
    if unknown:
        raise ValueError(
            f"learn: unknown hyperparameter(s) {', '.join(unknown)}; valid: {', '.join(LEARNABLE)}"
        )
    return out


def initial_hyper(
    *,
    horizon: int,
    num_groups: int,
    num_weights: int,
    alpha: float,
    gamma: float,
    l2: float,
    log_init_scale: float,
    l2_per_weight: bool,
    dtype: torch.dtype,
    device: torch.device | str,
) -> Hyper:
    """Constant schedules from natural values (validated)."""
    check_positive("alpha", alpha)
    check_open_unit("gamma", gamma)
    check_positive("l2", l2, allow_zero=True)
    if not math.isfinite(float(log_init_scale)):
        raise ValueError(f"log_init_scale must be finite, got {log_init_scale!r}")
    kw = {"dtype": dtype, "device": device}
    logit = min(max(math.log(gamma / (1.0 - gamma)), -LOGIT_GAMMA_MAX), LOGIT_GAMMA_MAX)
    return {
        "log_alpha": torch.full((horizon, num_groups), math.log(alpha), **kw),
        "logit_gamma": torch.full((horizon, num_groups), logit, **kw),
        "log_init_scale": torch.full((num_groups,), float(log_init_scale), **kw),
        "log_l2": torch.full(
            (num_weights if l2_per_weight else num_groups,), math.log(max(l2, L2_FLOOR)), **kw
        ),
    }


def natural(hyper: Hyper) -> dict[str, Tensor]:
    """Natural values: ``alpha [T,G]``, ``gamma [T,G]``, ``init_scale [G]``, ``l2``."""
    return {
        "alpha": hyper["log_alpha"].exp(),
        "gamma": torch.sigmoid(hyper["logit_gamma"]),
        "init_scale": hyper["log_init_scale"].exp(),
        "l2": hyper["log_l2"].exp(),
    }


def expand(per_group: Tensor, gid: Tensor) -> Tensor:
    """A per-layer tensor ``[..., G]`` expanded to the flat weights ``[..., P]`` (or a
    per-weight ``[P]`` tensor returned as it is)."""
    if per_group.shape[-1] == gid.shape[0]:
        return per_group
    return per_group[..., gid]


def group_sum(x: Tensor, gid: Tensor, num_groups: int) -> Tensor:
    """Sum a flat ``[P]`` tensor over layers: ``[G]``."""
    return x.new_zeros(num_groups).index_add(0, gid, x)


def raw_gradient(hyper: Hyper, nat_grad: dict[str, Tensor], learn: tuple[str, ...]) -> Hyper:
    """Chain natural-value hypergradients to the raw space; zero for what is not learned."""
    nat = natural(hyper)
    g = {
        "log_alpha": nat_grad["alpha"] * nat["alpha"],
        "logit_gamma": nat_grad["gamma"] * nat["gamma"] * (1.0 - nat["gamma"]),
        "log_init_scale": nat_grad["init_scale"] * nat["init_scale"],
        "log_l2": nat_grad["l2"] * nat["l2"],
    }
    learned = {LEARNABLE[k] for k in learn}
    return {k: v if k in learned else torch.zeros_like(v) for k, v in g.items()}


def adam_step(
    hyper: Hyper, grad: Hyper, state: dict, lr: float, betas: tuple[float, float] = (0.9, 0.999)
) -> tuple[Hyper, dict]:
    """One Adam step (the core's :func:`~hgbench.methods.core.optim.tree_adam`) on the raw
    hyperparameters, then the momentum logits are clamped so that γ stays a valid rational."""
    new, state = tree_adam(hyper, grad, state, lr, *betas)
    new["logit_gamma"] = new["logit_gamma"].clamp(-LOGIT_GAMMA_MAX, LOGIT_GAMMA_MAX)
    return new, state


def record(hyper: Hyper, k: Tensor, num_groups: int) -> dict[str, Tensor]:
    """0-d values for the runner's hyperparameter trajectory at step ``k`` of a meta-iteration:
    the PyTorch-form ``lr = α(1-γ)``, ``momentum = γ`` and ``weight_decay = λ`` averaged over
    layers, and per layer ``alpha_l{g}``, ``gamma_l{g}``, ``init_scale_l{g}``, ``l2_l{g}``."""
    nat = natural(hyper)
    alpha = nat["alpha"].index_select(0, k.reshape(1))[0]
    gamma = nat["gamma"].index_select(0, k.reshape(1))[0]
    out = {
        "lr": (alpha * (1 - gamma)).mean(),
        "momentum": gamma.mean(),
        "weight_decay": nat["l2"].mean(),
    }
    for g in range(num_groups):
        out[f"alpha_l{g}"] = alpha[g]
        out[f"gamma_l{g}"] = gamma[g]
        out[f"init_scale_l{g}"] = nat["init_scale"][g]
        if nat["l2"].shape[0] == num_groups:
            out[f"l2_l{g}"] = nat["l2"][g]
    return out
