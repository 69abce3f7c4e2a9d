"""Shared machinery of the Clarke et al. (2022) comparison: tuned SGD hyperparameters in
transformed space, the SGD weight step as a function of them, and a pure meta-Adam.

Every method of :mod:`hgbench.methods.implicit` and :mod:`hgbench.methods.unrolled` keeps the
three SGD hyperparameters (lr, weight decay, momentum) as raw tensors in ``state["raw"]``
(log10 lr clamped to [-10, 0], log10 wd, logit momentum; lr optionally per element). Only the
*tuned* ones receive hypergradients and meta-updates; the others stay at the paired init.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from hgbench.methods.core.diff import value_and_grad
from hgbench.methods.core.hyper import LOG10, LOG10_LR, LOGIT, HyperSpace, summarise
from hgbench.methods.core.optim import clip_by_global_norm, sgd, sgd_init, tree_adam
from hgbench.spec import InitialHyper, ModelState, Problem, State

#: The transformed space of the SGD hyperparameters (Clarke et al., 2022).
SGD_SPACE = HyperSpace({"lr": LOG10_LR, "weight_decay": LOG10, "momentum": LOGIT})
HYPER_NAMES = ("lr", "weight_decay", "momentum")


def check_tuned(owner: str, tuned: Sequence[str]) -> tuple[str, ...]:
    unknown = [n for n in tuned if n not in HYPER_NAMES]
    if unknown or not tuned:
        raise ValueError(
            f"{owner}: tuned hyperparameters must be a non-empty subset of {HYPER_NAMES}, "
            f"got {tuple(tuned)!r}"
        )
    return tuple(tuned)


def initial_raw(
    hyper: InitialHyper, w0: Tensor, *, per_element_lr: bool = False
) -> dict[str, Tensor]:
    """Raw (transformed) hyperparameters of a paired init; lr shaped like ``w0`` if asked."""
    shapes = {"lr": tuple(w0.shape)} if per_element_lr else None
    return SGD_SPACE.to_raw(hyper.as_dict(), dtype=w0.dtype, device=w0.device, shapes=shapes)


def natural(raw: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return SGD_SPACE.natural(raw)


def sgd_step(
    w: Tensor, g: Tensor, buf: Tensor, raw: Mapping[str, Tensor], grad_clip: float | None
) -> tuple[Tensor, Tensor]:
    """The core SGD update as a function of *raw* hyperparameters (differentiable in all)."""
    nat = natural(raw)
    w_new, opt = sgd(
        w,
        clip_by_global_norm(g, grad_clip),
        {"momentum_buffer": buf},
        nat["lr"],
        nat["weight_decay"],
        nat["momentum"],
    )
    return w_new, opt["momentum_buffer"]


def sgd_state(
    problem: Problem, w0: Tensor, mstate: ModelState, raw: dict[str, Tensor], tuned: Sequence[str]
) -> State:
    """The common part of every tuned-SGD state, with zeroed meta-Adam moments and
    ``hypergrad`` (the last raw hypergradient, zeros before the first hyper-step)."""
    zeros = {n: torch.zeros_like(raw[n]) for n in tuned}
    return {
        "w": w0.detach().clone(),
        "mstate": mstate,
        "momentum_buffer": sgd_init(w0)["momentum_buffer"],
        "raw": {n: v.detach().clone() for n, v in raw.items()},
        "meta_m": dict(zeros),
        "meta_v": {n: z.clone() for n, z in zeros.items()},
        "hypergrad": {n: z.clone() for n, z in zeros.items()},
    }


def plain_step(problem: Problem, state: State, t: int) -> tuple[State, Tensor]:
    """One untracked SGD weight step on train batch ``t`` (one counted gradient)."""
    loss, g, mstate = value_and_grad(problem, state["w"], state["mstate"], problem.train_batch(t))
    w, buf = sgd_step(state["w"], g, state["momentum_buffer"], state["raw"], problem.grad_clip)
    return {**state, "w": w, "momentum_buffer": buf, "mstate": mstate}, loss


def apply_hypergradient(
    state: State,
    grads: Mapping[str, Tensor],
    count: int,
    lr: float,
    betas: tuple[float, float],
) -> State:
    """Meta-Adam step (the core's :func:`~hgbench.methods.core.optim.tree_adam`) on the tuned
    hyperparameters, clamp, detach; store the hypergradient. ``count`` is the 1-based
    hyper-step number (a Python int, so the bias correction needs no tensor state)."""
    adam_state = {"exp_avg": state["meta_m"], "exp_avg_sq": state["meta_v"], "step": count - 1}
    raw, out = tree_adam(state["raw"], grads, adam_state, lr, *betas)
    m, v = out["exp_avg"], out["exp_avg_sq"]
    raw = {n: t.detach() for n, t in SGD_SPACE.clamp(raw).items()}
    return {
        **state,
        "raw": raw,
        "meta_m": m,
        "meta_v": v,
        "hypergrad": {n: g.detach() for n, g in grads.items()},
    }


def sgd_hyperparameters(state: State) -> dict[str, Tensor]:
    """0-d natural values for recording (per-element lr as mean and std)."""
    return summarise(natural(state["raw"]))


def zeros_like_tree(tree: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return {n: torch.zeros_like(t) for n, t in tree.items()}
