"""Differentiation of a problem's loss over flat weights, counted on ``problem.counter``.

Every method takes its gradients, Hessian-vector products and extra forward passes through
these helpers (or counts by hand what it differentiates otherwise), so its cost is known
exactly. All are pure ``torch.func`` compositions and run under ``vmap``.
"""

from __future__ import annotations

from torch import Tensor
from torch.func import grad, jvp

from hgbench.spec import Batch, ModelState, Problem, Stream


def forward(
    problem: Problem, w: Tensor, mstate: ModelState, batch: Batch, stream: Stream = "train"
) -> tuple[Tensor, ModelState]:
    """Loss only (one counted forward pass)."""
    problem.counter.add(forward=1)
    return problem.loss(w, mstate, batch, stream)


def value_and_grad(
    problem: Problem, w: Tensor, mstate: ModelState, batch: Batch, stream: Stream = "train"
) -> tuple[Tensor, Tensor, ModelState]:
    """Loss, its gradient in ``w`` and the new model state (one counted gradient)."""
    problem.counter.add(gradient=1)

    def f(w_: Tensor) -> tuple[Tensor, tuple[Tensor, ModelState]]:
        loss, new_state = problem.loss(w_, mstate, batch, stream)
        return loss, (loss, new_state)

    g, (loss, new_state) = grad(f, has_aux=True)(w)
    return loss.detach(), g, new_state


def hvp(
    problem: Problem,
    w: Tensor,
    mstate: ModelState,
    batch: Batch,
    v: Tensor,
    stream: Stream = "train",
) -> Tensor:
    """Hessian-vector product ``H(w) v`` of the loss (forward-over-reverse; one counted HVP)."""
    problem.counter.add(hvp=1)

    def g(w_: Tensor) -> Tensor:
        return grad(lambda x: problem.loss(x, mstate, batch, stream)[0])(w_)

    return jvp(g, (w,), (v,))[1]
