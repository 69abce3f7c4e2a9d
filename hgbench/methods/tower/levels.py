"""The level optimizers of a recursive tower, parametrised as in the reference code of
Chandra et al. 2022 (``gdtuo.py``).

Every level optimizes one flat vector ``x`` (the weights for the bottom level, the raw
hyperparameter vector of the level below otherwise) with its own raw hyperparameter vector
``h``. A level is a pure ``delta(g, state, h, step, ids) -> (delta, new_state)`` with the
update ``x ← x - delta``; the tower differentiates ``delta`` in ``h``: by the level's closed-form
``vjp`` where it has one (``sgd``, ``adam``, ``adam_alpha``: the cheap levels' cost is the
autograd recomputation), else by reverse mode through ``delta`` (``torch.func.vjp``).

The ``sgdm``, ``adam`` and ``adam_alpha`` levels step along the functional core's directions
(:mod:`hgbench.methods.core.optim`); ``adagrad`` and ``rmsprop`` are gdtuo's own forms (ε inside
the square root, AdaGrad's accumulator starting at 0.1, RMSProp's lr as a square), which
``torch.optim`` and the core do not offer.

=============  ======================  ==============================================
name           raw ``h``               update direction
=============  ======================  ==============================================
``sgd``        α                       ``α g``
``sgdm``       α, μ (raw)              ``α b``, ``b = μ b + g`` (b₀ = 0)
``adam``       α, c₁, c₂               β = (tanh c + 1)/2, v₀ = ε = 1e-8, bias-corrected
``adam_alpha`` α                       Adam with β₁ = 0.9, β₂ = 0.999 held constant
``adagrad``    α                       ``α g / √(G + 1e-10)``, ``G = G + g²``, G₀ = 0.1
``rmsprop``    a, c                    α = a², γ = (tanh c + 1)/2, ``α g / √(s + 1e-8)``
``sgd_pt``     α per tensor            ``α[tensor of each element] g``
=============  ======================  ==============================================
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from hgbench.methods.core.optim import adam_direction, adam_init, sgd_direction, sgd_init

ADAM_EPS = 1e-8
ADAGRAD_G0 = 0.1


def squash(c: Tensor) -> Tensor:
    """``(tanh c + 1) / 2``: the reference's map from a raw value to (0, 1)."""
    return (torch.tanh(c) + 1) / 2


def unsquash(y: float) -> float:
    return math.atanh(2 * y - 1)


Delta = Callable[[Tensor, dict, Tensor, int, Tensor | None], tuple[Tensor, dict]]
#: ``vjp(u, g, before, after, h) = (∂delta/∂h)ᵀ u`` for the update that took the optimizer
#: state ``before`` to ``after`` with input ``g``
DeltaVJP = Callable[[Tensor, Tensor, dict, dict, Tensor], Tensor]


@dataclass(frozen=True)
class Level:
    """One level optimizer: its hyperparameter names, raw <-> natural maps and update."""

    name: str
    #: names of the natural hyperparameters (per-tensor levels: one name, many entries)
    hypers: tuple[str, ...]
    #: natural values -> raw vector entries
    to_raw: Callable[[dict[str, float]], list[float]]
    #: raw vector -> natural tensors
    natural: Callable[[Tensor], dict[str, Tensor]]
    init_state: Callable[[Tensor], dict[str, Tensor]]
    delta: Delta
    #: default step size when this level optimizes the level below (reference defaults)
    default_alpha: float
    per_tensor: bool = False
    #: closed-form VJP of ``delta`` in ``h`` (None: reverse mode through ``delta``)
    vjp: DeltaVJP | None = None


def _sgd_delta(g, state, h, step, ids):
    return h[0] * g, state


def _sgdm_delta(g, state, h, step, ids):
    direction, new = sgd_direction(g, g, state, momentum=h[1])  # b = μ b + g
    return h[0] * direction, new


def _adam_delta(g, state, h, step, ids):
    d, new = adam_direction(g, g, state, 0.0, squash(h[1]), squash(h[2]), ADAM_EPS)
    return h[0] * d, new


def _adam_alpha_delta(g, state, h, step, ids):
    d, new = adam_direction(g, g, state, 0.0, 0.9, 0.999, ADAM_EPS)
    return h[0] * d, new


def _sgd_vjp(u, g, before, after, h):
    return torch.dot(u, g).unsqueeze(0)


def _adam_parts(after, beta1, beta2):
    """Bias corrections, ``v̂``, ``√v̂ + ε`` and the direction of the update that gave ``after``."""
    step = after["step"]
    c1, c2 = 1 - beta1**step, 1 - beta2**step
    v_hat = after["exp_avg_sq"] / c2
    root = v_hat.sqrt()
    den = root + ADAM_EPS
    return step, c1, c2, v_hat, root, den, after["exp_avg"] / c1 / den


def _adam_vjp(u, g, before, after, h):
    """``delta = α m̂/(√v̂+ε)`` with ``m = β₁m₀ + (1-β₁)g``, ``v = β₂v₀ + (1-β₂)g²``,
    ``m̂ = m/(1-β₁ˢ)``, ``v̂ = v/(1-β₂ˢ)``, ``β = (tanh c + 1)/2``; the moments are read from
    ``after`` instead of recomputed. With ``∂m̂/∂β₁ = (m₀ - g + s β₁^(s-1) m̂)/(1-β₁ˢ)``,
    ``∂v̂/∂β₂ = (v₀ - g² + s β₂^(s-1) v̂)/(1-β₂ˢ)`` and ``dβ/dc = 2β(1-β)``."""
    alpha, beta1, beta2 = h[0], squash(h[1]), squash(h[2])
    step, c1, c2, v_hat, root, den, d = _adam_parts(after, beta1, beta2)
    u_d = torch.dot(u, d)
    d_beta1 = (
        alpha / c1 * (torch.dot(u / den, before["exp_avg"] - g) + step * beta1 ** (step - 1) * u_d)
    )
    q = u * d / (den * 2 * root)  # u ⊙ ∂(m̂/(√v̂+ε))/∂v̂, negated
    dv_hat = before["exp_avg_sq"] - g * g + step * beta2 ** (step - 1) * v_hat
    d_beta2 = -alpha / c2 * torch.dot(q, dv_hat)
    chain = torch.stack([torch.ones_like(alpha), 2 * beta1 * (1 - beta1), 2 * beta2 * (1 - beta2)])
    return torch.stack([u_d, d_beta1, d_beta2]) * chain


def _adam_alpha_vjp(u, g, before, after, h):
    return torch.dot(u, _adam_parts(after, 0.9, 0.999)[-1]).unsqueeze(0)


def _adagrad_delta(g, state, h, step, ids):
    acc = state["G"] + g * g
    return h[0] * g / torch.sqrt(acc + 1e-10), {"G": acc}


def _rmsprop_delta(g, state, h, step, ids):
    gamma = squash(h[1])
    s = gamma * state["s"] + (1 - gamma) * g * g
    return h[0].square() * g / torch.sqrt(s + 1e-8), {"s": s}


def _sgd_pt_delta(g, state, h, step, ids):
    return (h if ids is None else h[ids]) * g, state


def _adam_state(x: Tensor) -> dict[str, Tensor]:
    return adam_init(x, v0=ADAM_EPS)


def _none(x: Tensor) -> dict[str, Tensor]:
    return {}


LEVELS: dict[str, Level] = {
    lv.name: lv
    for lv in (
        Level(
            "sgd",
            ("lr",),
            lambda n: [n["lr"]],
            lambda h: {"lr": h[0]},
            _none,
            _sgd_delta,
            0.01,
            vjp=_sgd_vjp,
        ),
        Level(
            "sgdm",
            ("lr", "momentum"),
            lambda n: [n["lr"], n["momentum"]],
            lambda h: {"lr": h[0], "momentum": h[1]},
            sgd_init,
            _sgdm_delta,
            0.01,
        ),
        Level(
            "adam",
            ("lr", "beta1", "beta2"),
            lambda n: [n["lr"], unsquash(n["beta1"]), unsquash(n["beta2"])],
            lambda h: {"lr": h[0], "beta1": squash(h[1]), "beta2": squash(h[2])},
            _adam_state,
            _adam_delta,
            0.001,
            vjp=_adam_vjp,
        ),
        Level(
            "adam_alpha",
            ("lr",),
            lambda n: [n["lr"]],
            lambda h: {"lr": h[0]},
            _adam_state,
            _adam_alpha_delta,
            0.001,
            vjp=_adam_alpha_vjp,
        ),
        Level(
            "adagrad",
            ("lr",),
            lambda n: [n["lr"]],
            lambda h: {"lr": h[0]},
            lambda x: {"G": torch.full_like(x, ADAGRAD_G0)},
            _adagrad_delta,
            0.01,
        ),
        Level(
            "rmsprop",
            ("lr", "gamma"),
            lambda n: [math.sqrt(n["lr"]), unsquash(n["gamma"])],
            lambda h: {"lr": h[0].square(), "gamma": squash(h[1])},
            lambda x: {"s": torch.zeros_like(x)},
            _rmsprop_delta,
            0.01,
        ),
        Level(
            "sgd_pt",
            ("lr",),
            lambda n: [n["lr"]],  # expanded to one entry per tensor by the tower
            lambda h: {"lr": h if h.shape[0] > 1 else h[0]},
            _none,
            _sgd_pt_delta,
            0.01,
            per_tensor=True,
        ),
    )
}

#: natural defaults of the non-learning-rate hyperparameters at construction
DEFAULTS: dict[str, float] = {"momentum": 0.9, "beta1": 0.9, "beta2": 0.999, "gamma": 0.99}


def parse_levels(spec: str) -> tuple[Level, ...]:
    """``"adam/sgd"`` (bottom first) -> the level objects, with a clear error."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"levels must be a string such as 'sgd/sgd', got {spec!r}")
    names = [s.strip() for s in spec.split("/")]
    bad = [n for n in names if n not in LEVELS]
    if bad:
        raise ValueError(
            f"unknown tower level(s) {', '.join(map(repr, bad))} in levels={spec!r}; "
            f"valid: {', '.join(LEVELS)}"
        )
    return tuple(LEVELS[n] for n in names)
