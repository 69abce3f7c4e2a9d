"""The "Baydin" arm of Clarke et al. (2022)'s comparison: hypergradient descent on log10 lr."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor

from hgbench.methods import METHODS
from hgbench.methods.core.diff import value_and_grad
from hgbench.methods.implicit import common
from hgbench.settings import setting
from hgbench.spec import InitialHyper, Method, ModelState, Problem, State


@METHODS.register("baydin_loglr")
class BaydinLogLR(Method):
    """Hypergradient descent on the log10 learning rate, every step, on the training loss.

    Baydin, Cornish, Martínez Rubio, Schmidt and Wood, "Online Learning Rate Adaptation with
    Hypergradient Descent", ICLR 2018 (arXiv 1703.04782), in the form used as the "Baydin"
    baseline by Clarke, Oldewage and Hernández-Lobato, ICLR 2022 (arXiv 2110.10461): SGD with
    momentum and L2 (PyTorch form), lr in log10 space clamped to [-10, 0], wd and momentum
    fixed at the paired init.

    At step t, with ``g_t = ∇L_train(w_t)`` on batch t and ``u_{t-1}`` the previous update
    direction (momentum buffer; ``u_0 = 0``), ``w_t = w_{t-1} - 10^x u_{t-1}`` gives the
    hypergradient ``h = ∂L(w_t)/∂x = -(g_t · u_{t-1}) 10^x ln 10`` (a vjp of the update);
    then ``x ← x - meta_lr · h`` (plain SGD, the reference's ``lr: 0.001``), clamp, and the
    weight step with the new lr reuses ``g_t``: one gradient per step, like ``fixed``.

    See also: ``hd_sgd`` (Baydin et al.'s own raw-lr form), ``implicit``.
    """

    key: ClassVar[str] = "baydin_loglr"
    uses_validation = False

    meta_lr: float = setting(1e-3, low=0.0, low_open=True, doc="SGD step on log10 lr")

    def init(self, problem: Problem, w0: Tensor, mstate: ModelState, hyper: InitialHyper) -> State:
        raw = common.initial_raw(hyper, w0)
        state = common.sgd_state(problem, w0, mstate, raw, ("lr",))
        state.pop("meta_m"), state.pop("meta_v")
        return state

    def step(self, problem: Problem, state: State, t: int) -> tuple[State, Tensor]:
        w, u_prev, raw = state["w"], state["momentum_buffer"], state["raw"]
        loss, g, mstate = value_and_grad(problem, w, state["mstate"], problem.train_batch(t))

        # ∂/∂x of L(w_{t-1} - 10^x u_{t-1}) = -(g_t · u_{t-1}) 10^x ln 10 (closed form; a vjp
        # of the update gives the same number but costs a torch.func transform per step)
        h = -(g * u_prev).sum() * torch.pow(10.0, raw["lr"]) * math.log(10.0)
        new_raw = common.SGD_SPACE.clamp({**raw, "lr": raw["lr"] - self.meta_lr * h})
        w_new, buf = common.sgd_step(w, g, u_prev, new_raw, problem.grad_clip)
        new_state = {
            **state,
            "w": w_new,
            "momentum_buffer": buf,
            "mstate": mstate,
            "raw": {n: v.detach() for n, v in new_raw.items()},
            "hypergrad": {"lr": h.detach()},
        }
        return new_state, loss

    def hyperparameters(self, state: State) -> dict[str, Tensor]:
        return common.sgd_hyperparameters(state)
