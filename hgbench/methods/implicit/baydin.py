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

#: the two update rules of ``baydin_loglr`` (see :class:`BaydinLogLR`)
FORMS = ("reference", "chain_rule")


@METHODS.register("baydin_loglr")
class BaydinLogLR(Method):
    """Hypergradient descent on the log10 learning rate, every step, on the training loss.

    Baydin, Cornish, Martínez Rubio, Schmidt and Wood, "Online Learning Rate Adaptation with
    Hypergradient Descent", ICLR 2018 (arXiv 1703.04782), as the "Baydin" baseline of Clarke,
    Oldewage and Hernández-Lobato, ICLR 2022 (arXiv 2110.10461): SGD with momentum and L2
    (PyTorch form), lr stored as ``x = log10 lr`` and clamped to [-10, 0] after each update,
    wd and momentum fixed at the paired init, ``x`` stepped by plain SGD with ``meta_lr``
    (the reference config ``Baydin.yaml``: ``SGD, lr: 0.001``), one weight step per
    hyper-step. With ``g_t = ∇L_train(w_t)`` on train batch t (unclipped, without the L2
    term), at every step ``t ≥ 1``, before the weight step ``t``:

    ``form="reference"`` (default) — the rule of the reference code
    (``BaydinHypergradientDescent`` in ``optimisers.py`` of
    rmclarke/OptimisingWeightUpdateHyperparameters): the negated dot product of the two
    latest training-loss gradients is written, as it is, into the gradient of ``x``::

        h = -(g_t · g_{t-1}),      x ← clamp(x - meta_lr · h).

    This is SGD-HD's hypergradient of the *raw* lr (``∂L(w_t)/∂α`` for plain SGD) applied to
    ``log10 α``: it omits the chain-rule factor ``dα/dx = 10^x ln 10``, and it uses the
    previous gradient where the calculus asks for the previous update direction (the
    momentum buffer, L2 term included). So it is not the derivative of the loss in ``x``; it
    is what the paper's "Baydin" numbers were produced with. At lr ≈ 5e-4 the omitted factor
    is ≈ 1.2e-3, so the reference rule moves ``x`` about 800 times further per step than the
    exact one.

    ``form="chain_rule"`` — the exact derivative of ``L(w_{t-1} - 10^x u_{t-1})`` in ``x``,
    with ``u`` the momentum buffer (``u_0 = 0``)::

        h = -(g_t · u_{t-1}) 10^x ln 10,      x ← clamp(x - meta_lr · h).

    Data: the reference computes ``g_{t-1}`` on the training batch of the weight step and
    the second gradient on a batch drawn from a second pass over the training set at the new
    weights (its config sets ``validation_proportion: 0``, so its "validation" loader is the
    training set), then recomputes a gradient for the next weight step. Here ``g_t`` is the
    gradient of weight step ``t`` itself (Baydin et al.'s own choice: the batches of two
    consecutive weight steps), so one gradient per step, like ``fixed``. On full-batch tasks
    (UCI) the two are the same numbers; on minibatch tasks they are the same in
    distribution. The first step (``t = 0``) has no previous gradient and makes no update,
    as in the reference, whose first hyper-step follows the first weight step.

    ``state["hypergrad"]["lr"]`` is ``h``, the value written into the gradient of ``x``.

    See also: ``hd_sgd`` (Baydin et al.'s own raw-lr form), ``implicit``.
    """

    key: ClassVar[str] = "baydin_loglr"
    uses_validation = False

    meta_lr: float = setting(1e-3, low=0.0, low_open=True, doc="SGD step on log10 lr")
    form: str = setting(
        "reference",
        choices=FORMS,
        doc="reference: -(g_t·g_{t-1}) as the gradient of log10 lr (Clarke et al.'s code); "
        "chain_rule: the exact derivative -(g_t·u_{t-1}) 10^x ln 10",
    )

    def init(self, problem: Problem, w0: Tensor, mstate: ModelState, hyper: InitialHyper) -> State:
        raw = common.initial_raw(hyper, w0)
        state = common.sgd_state(problem, w0, mstate, raw, ("lr",))
        state.pop("meta_m"), state.pop("meta_v")
        if self.form == "reference":
            state["previous_gradient"] = torch.zeros_like(w0)
        return state

    def hypergradient(self, state: State, g: Tensor) -> Tensor:
        """The value written into the gradient of ``x = log10 lr`` at a step with training
        gradient ``g`` (see the class docstring for both forms)."""
        if self.form == "reference":
            return -torch.dot(g, state["previous_gradient"])
        u_prev, x = state["momentum_buffer"], state["raw"]["lr"]
        # closed form of the vjp of the update in x (a torch.func transform per step costs more)
        return -torch.dot(g, u_prev) * torch.pow(10.0, x) * math.log(10.0)

    def step(self, problem: Problem, state: State, t: int) -> tuple[State, Tensor]:
        w, raw = state["w"], state["raw"]
        loss, g, mstate = value_and_grad(problem, w, state["mstate"], problem.train_batch(t))
        h = self.hypergradient(state, g)
        if t > 0:
            raw = common.SGD_SPACE.clamp({**raw, "lr": raw["lr"] - self.meta_lr * h})
        w_new, buf = common.sgd_step(w, g, state["momentum_buffer"], raw, problem.grad_clip)
        new_state = {
            **state,
            "w": w_new,
            "momentum_buffer": buf,
            "mstate": mstate,
            "raw": {n: v.detach() for n, v in raw.items()},
            "hypergrad": {"lr": h.detach()},
        }
        if self.form == "reference":
            new_state["previous_gradient"] = g.detach()
        return new_state, loss

    def hyperparameters(self, state: State) -> dict[str, Tensor]:
        return common.sgd_hyperparameters(state)
