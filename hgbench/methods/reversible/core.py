"""Forward and exact reverse passes of reversible learning (Maclaurin et al. 2015, §3).

Forward step t (velocity form of SGD with momentum, L2 folded into the gradient):
``g_t = ∇L(w_t) + λ w_t;  v_{t+1} = γ_t v_t - (1-γ_t) g_t;  w_{t+1} = w_t + α_t v_{t+1}``
with ``w`` and ``v`` in int64 fixed point and ``γ_t = n_t / 2^16`` applied through the
information buffer (:mod:`.fixedpoint`). The reverse pass walks back from
``dw = ∇f(w_T), dv = 0`` recovering every ``w_t``, ``v_t`` bit for bit and accumulating

``dα_t = dw·v_{t+1}``, ``dγ_t = dv·(v_t + g_t)``, ``dλ -= (1-γ_t) w_t·dv``,
``dw -= (H_t + λ)((1-γ_t) dv)``, ``dv ← γ_t dv``, and finally ``d scale = dw·w_base``,

summed per layer. Update terms are formed in float64 from the exact integers, so the forward
and reverse passes add and subtract bit-identical values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from hgbench.methods.core import diff
from hgbench.methods.core import layout as layout_ids
from hgbench.methods.reversible import fixedpoint as fx
from hgbench.methods.reversible.schedule import expand, group_sum
from hgbench.spec import Batch, ModelState, Problem

BatchFn = Callable[[int], Batch]


@dataclass(frozen=True)
class StepHyper:
    """Natural hyperparameters of one step expanded to the flat weights ``[P]``."""

    alpha: Tensor  # float64
    n: Tensor  # int64 numerators of γ = n / 2^16
    gamma: Tensor  # float64, exactly n / 2^16


def step_hyper(alpha: Tensor, gamma: Tensor, t: int, gid: Tensor) -> StepHyper:
    """Step ``t`` of per-layer schedules ``alpha``, ``gamma`` (``[T, G]``) as flat tensors."""
    n = fx.gamma_numerator(expand(gamma[t], gid))
    return StepHyper(expand(alpha[t], gid).double(), n, fx.rational(n, torch.float64))


def l2_flat(l2: Tensor, gid: Tensor, per_weight: bool) -> Tensor:
    return l2 if per_weight else l2[gid]


def train_gradient(
    problem: Problem, w: Tensor, mstate: ModelState, batch: Batch, l2: Tensor
) -> tuple[Tensor, Tensor, ModelState]:
    """Data loss, gradient of loss + ½Σλw² (one counted gradient), new model state."""
    loss, g, new_state = diff.value_and_grad(problem, w, mstate, batch, "train")
    return loss, g + l2 * w, new_state


def init_fixed(w0: Tensor, radix_bits: int) -> dict:
    """Fixed-point weights, zero velocity and an empty buffer."""
    w_int = fx.to_fixed(w0, radix_bits)
    return {
        "w_int": w_int,
        "v_int": torch.zeros_like(w_int),
        "buffer": fx.empty_buffer(w_int.shape, w_int.device),
    }


def _out_of_range(x: Tensor, limit: float) -> Tensor:
    return ~(torch.isfinite(x) & (x.abs() < limit)).all()


def forward_step(
    problem: Problem,
    exact: dict,
    mstate: ModelState,
    batch: Batch,
    h: StepHyper,
    l2: Tensor,
    radix_bits: int,
) -> tuple[dict, Tensor, ModelState, Tensor]:
    """One exact weight step. Returns the new fixed-point state, the batch's data loss, the
    new model state and a 0-d bool: whether any value left the fixed-point range."""
    limit = fx.fixed_range(radix_bits)
    w = fx.from_fixed(exact["w_int"], radix_bits, problem.dtype)
    loss, g, mstate = train_gradient(problem, w, mstate, batch, l2)
    dec = (1.0 - h.gamma) * g.double()
    v_int, buf = fx.mul_rational(exact["v_int"], h.n, exact["buffer"])
    v_int = v_int - fx.to_fixed(dec, radix_bits)
    move = h.alpha * fx.from_fixed(v_int, radix_bits)
    w_int = exact["w_int"] + fx.to_fixed(move, radix_bits)
    bad = _out_of_range(dec, limit) | _out_of_range(move, limit)
    bad = bad | _out_of_range(fx.from_fixed(w_int, radix_bits), limit)
    bad = bad | _out_of_range(fx.from_fixed(v_int, radix_bits), limit)
    return {"w_int": w_int, "v_int": v_int, "buffer": buf}, loss, mstate, bad


def meta_objective(
    problem: Problem, w: Tensor, mstate: ModelState, batches: list[Batch]
) -> tuple[Tensor, Tensor]:
    """Mean loss over ``batches`` (stream ``"val"``: buffers untouched) and its gradient."""
    total, grad = None, None
    for b in batches:
        loss, g, _ = diff.value_and_grad(problem, w, mstate, b, "val")
        total = loss if total is None else total + loss
        grad = g if grad is None else grad + g
    k = float(len(batches))
    return total / k, grad / k


def reverse_pass(
    problem: Problem,
    exact: dict,
    mstate: ModelState,
    batch_of: BatchFn,
    alpha: Tensor,
    gamma: Tensor,
    l2: Tensor,
    l2_per_weight: bool,
    w_base: Tensor,
    dw: Tensor,
    radix_bits: int,
) -> tuple[dict, dict[str, Tensor]]:
    """Run the ``T = alpha.shape[0]`` steps backwards from ``exact`` (the state after the
    forward pass) with ``dw = ∇f(w_T)``. Returns the recovered initial fixed-point state and
    the natural-value hypergradients ``alpha [T,G]``, ``gamma [T,G]``, ``init_scale [G]``,
    ``l2`` (``[G]`` or ``[P]``) and ``w0 [P]``."""
    gid = layout_ids.group_ids(problem)
    num_groups = alpha.shape[1]
    lam = l2_flat(l2, gid, l2_per_weight)
    w_int, v_int, buf = exact["w_int"], exact["v_int"], exact["buffer"]
    dv = torch.zeros_like(dw)
    dlam = torch.zeros_like(dw)
    d_alpha, d_gamma = [], []
    for t in reversed(range(alpha.shape[0])):
        h = step_hyper(alpha, gamma, t, gid)
        v_next = fx.from_fixed(v_int, radix_bits)
        d_alpha.append(group_sum(dw * v_next.to(dw.dtype), gid, num_groups))
        w_int = w_int - fx.to_fixed(h.alpha * v_next, radix_bits)
        w = fx.from_fixed(w_int, radix_bits, problem.dtype)
        batch = batch_of(t)
        _, g, _ = train_gradient(problem, w, mstate, batch, lam)
        v_int = v_int + fx.to_fixed((1.0 - h.gamma) * g.double(), radix_bits)
        v_int, buf = fx.div_rational(v_int, h.n, buf)
        gam = h.gamma.to(dw.dtype)
        dv = dv + h.alpha.to(dw.dtype) * dw
        v_prev = fx.from_fixed(v_int, radix_bits, dw.dtype)
        d_gamma.append(group_sum(dv * (v_prev + g), gid, num_groups))
        # per-layer γ: the factor (1-γ) multiplies dv *inside* the (symmetric) HVP
        u = (1.0 - gam) * dv
        dw = dw - (diff.hvp(problem, w, mstate, batch, u) + lam * u)
        dlam = dlam - (1.0 - gam) * w * dv
        dv = dv * gam
    grads = {
        "alpha": torch.stack(d_alpha[::-1]),
        "gamma": torch.stack(d_gamma[::-1]),
        "init_scale": group_sum(dw * w_base, gid, num_groups),
        "l2": dlam if l2_per_weight else group_sum(dlam, gid, num_groups),
        "w0": dw,
    }
    return {"w_int": w_int, "v_int": v_int, "buffer": buf}, grads
