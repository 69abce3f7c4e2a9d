"""The ``unrolled_full`` method: the same schedule learning by naive reverse mode.

Differentiates the meta-objective through the whole stored float trajectory of a training run
with ``torch.func.grad`` (every step's activations and second-order graph kept alive: memory
O(T·P) and more), the method reversible learning replaces. It is the oracle for
``reversible`` and its memory baseline.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from hgbench.methods import METHODS
from hgbench.methods.core import layout as layout_ids
from hgbench.methods.reversible import core
from hgbench.methods.reversible import schedule as sch
from hgbench.methods.reversible.method import ScheduleMethod
from hgbench.spec import InitialHyper, ModelState, Problem, State


def velocity_step(
    problem: Problem,
    w: Tensor,
    v: Tensor,
    mstate: ModelState,
    batch,
    alpha: Tensor,
    gamma: Tensor,
    lam: Tensor,
) -> tuple[Tensor, Tensor, Tensor, ModelState]:
    """``v ← γ v - (1-γ)(∇L(w) + λw); w ← w + α v`` in floats (one counted gradient)."""
    loss, g, mstate = core.train_gradient(problem, w, mstate, batch, lam)
    v = gamma * v - (1.0 - gamma) * g
    return w + alpha * v, v, loss, mstate


@METHODS.register("unrolled_full")
class UnrolledFull(ScheduleMethod):
    """Full unrolled differentiation of a training run — the naive baseline of Maclaurin,
    Duvenaud & Adams, "Gradient-based Hyperparameter Optimization through Reversible
    Learning", ICML 2015 (arXiv 1502.03492), §2: reverse-mode through the stored trajectory.

    Same settings, hyperparameters, step mapping and meta-optimizer as ``reversible`` (whose
    docstring lists them). Steps ``0..T-2`` of a meta-iteration train in floats; step ``T-1``
    replays the run from its initial weights under ``torch.func.grad`` and backpropagates the
    meta-objective through it, so the forward work of a meta-iteration is done twice. Momenta
    are used as floats (no rational rounding). Counted cost per meta-iteration: ``2T - 1``
    training gradients, ``T`` HVP-equivalent backward steps and ``meta_batches`` gradients.

    See also: ``reversible`` (the same hypergradient in O(P) memory).
    """

    key: ClassVar[str] = "unrolled_full"
    supports_batching: ClassVar[bool] = False

    def init(self, problem: Problem, w0: Tensor, mstate: ModelState, hyper: InitialHyper) -> State:
        state = self._common_state(problem, w0, mstate, hyper)
        state["v"] = torch.zeros_like(state["w"])
        state["mstate0"] = mstate
        return state

    def step(self, problem: Problem, state: State, t: int) -> tuple[State, Tensor]:
        m, k = divmod(t, self.horizon)
        batch_of = self._batch_of(problem, m)
        if k == 0:
            w0 = self._initial_weights(problem, state)
            state = {**state, "w": w0, "v": torch.zeros_like(w0), "mstate0": state["mstate"]}
        state = {**state, "k": torch.full_like(state["k"], k)}
        if k < self.horizon - 1:
            nat = sch.natural(state["hyper"])
            gid = layout_ids.group_ids(problem)
            lam = core.l2_flat(nat["l2"], gid, self.l2_per_weight)
            w, v, loss, mstate = velocity_step(
                problem,
                state["w"],
                state["v"],
                state["mstate"],
                batch_of(k),
                nat["alpha"][k][gid],
                nat["gamma"][k][gid],
                lam,
            )
            return {**state, "w": w, "v": v, "mstate": mstate}, loss
        nat_grad, (f, w, v, loss, mstate) = self.hypergradient(problem, state, batch_of)
        state = {**state, "w": w, "v": v, "mstate": mstate, "meta_objective": f}
        bad = ~torch.isfinite(f)
        return self._meta_update(state, nat_grad, bad), loss

    def hypergradient(self, problem: Problem, state: State, batch_of):
        """Natural-value hypergradients of the meta-objective by reverse mode through the
        replayed run, and ``(f, w_T, v_T, last loss, model state)``."""
        gid = layout_ids.group_ids(problem)
        meta_batches = self._meta_batches(problem)
        w_base, mstate0 = state["w_base"], state["mstate0"]

        def run(nat: dict[str, Tensor]):
            w = sch.expand(nat["init_scale"], gid) * w_base
            v = torch.zeros_like(w)
            lam = core.l2_flat(nat["l2"], gid, self.l2_per_weight)
            mstate, loss = mstate0, None
            for t in range(self.horizon):
                w, v, loss, mstate = velocity_step(
                    problem,
                    w,
                    v,
                    mstate,
                    batch_of(t),
                    nat["alpha"][t][gid],
                    nat["gamma"][t][gid],
                    lam,
                )
            f = sum(problem.loss(w, mstate, b, "val")[0] for b in meta_batches) / len(meta_batches)
            return f, (f.detach(), w.detach(), v.detach(), loss, mstate)

        problem.counter.add(hvp=self.horizon, gradient=len(meta_batches))
        nat = sch.natural(state["hyper"])
        nat_grad, aux = torch.func.grad(run, has_aux=True)(nat)
        return nat_grad, aux


__all__ = ["UnrolledFull", "velocity_step"]
