"""Differentiation of a problem's loss over flat weights, counted on ``problem.counter``.

Every method takes its gradients, Hessian-vector products and extra forward passes through
these helpers (or counts by hand what it differentiates otherwise), so its cost is known
exactly. All are pure ``torch.func`` compositions and run under ``vmap``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch._C._functorch import (
    TransformType,
    get_interpreter_stack,
    get_unwrapped,
    is_batchedtensor,
    peek_interpreter_stack,
)
from torch.func import grad, jvp, vjp

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
    """Loss, its gradient in ``w`` and the new model state (one counted gradient).

    Outside any ``torch.func`` transform and on a ``w`` that carries no autograd history, the
    gradient is taken with plain reverse mode (``torch.autograd.grad``): the same numbers,
    without ``torch.func.grad``'s per-op wrapping, which doubled the cost of a small-model
    step. Under ``vmap`` alone, on weights nothing differentiates through, it is the
    problem's fused kernel where it has one (:meth:`hgbench.spec.Problem.fused_value_and_grad`:
    batched UCI inits on the CPU). Otherwise under ``vmap``/``grad`` (or when ``w`` requires
    grad) it is ``torch.func.grad``.
    """
    problem.counter.add(gradient=1)
    if peek_interpreter_stack() is None and not w.requires_grad:
        return _eager_value_and_grad(problem, w, mstate, batch, stream)
    if _under_vmap_only(w):
        fused = problem.fused_value_and_grad(w, mstate, batch, stream)
        if fused is not None:
            return fused

    def f(w_: Tensor) -> tuple[Tensor, tuple[Tensor, ModelState]]:
        loss, new_state = problem.loss(w_, mstate, batch, stream)
        return loss, (loss, new_state)

    g, (loss, new_state) = grad(f, has_aux=True)(w)
    return loss.detach(), g, new_state


def _under_vmap_only(*tensors: Tensor) -> bool:
    """Whether only ``vmap`` transforms are active and no tensor carries autograd history
    beneath them: where a problem's fused kernels serve (nothing differentiates them). Never
    while ``torch.compile`` traces: the kernels are C calls it cannot trace (a compiled step
    takes autograd)."""
    if torch.compiler.is_compiling():
        return False
    stack = get_interpreter_stack()
    if not stack or any(i.key() != TransformType.Vmap for i in stack):
        return False
    for base in tensors:
        while is_batchedtensor(base):
            base = get_unwrapped(base)
        if base.requires_grad:
            return False
    return True


def _eager_value_and_grad(
    problem: Problem, w: Tensor, mstate: ModelState, batch: Batch, stream: Stream
) -> tuple[Tensor, Tensor, ModelState]:
    with torch.enable_grad():
        w_ = w.detach().requires_grad_()
        loss, new_state = problem.loss(w_, mstate, batch, stream)
        (g,) = torch.autograd.grad(loss, w_)
    return loss.detach(), g, _detached(new_state)


def _detached(tree: object) -> object:
    """``tree`` with every tensor detached (model states are dicts, lists and tuples of
    tensors; a plain walk, cheaper per step than a general pytree map)."""
    if isinstance(tree, Tensor):
        return tree.detach()
    if isinstance(tree, dict):
        return {k: _detached(v) for k, v in tree.items()}
    if isinstance(tree, list | tuple):
        items = [_detached(v) for v in tree]
        return type(tree)(*items) if hasattr(tree, "_fields") else type(tree)(items)
    return tree


def hvp(
    problem: Problem,
    w: Tensor,
    mstate: ModelState,
    batch: Batch,
    v: Tensor,
    stream: Stream = "train",
) -> Tensor:
    """Hessian-vector product ``H(w) v`` of the loss (one counted HVP).

    Outside any ``torch.func`` transform (and on tensors without autograd history) it is plain
    reverse-over-reverse (``torch.autograd.grad`` twice, the graph freed on return): measured
    2.7x faster than ``torch.func``'s forward-over-reverse on the UCI MLP (1.7 vs 4.6 ms; about
    two gradients, as theory says). Under ``vmap`` alone, on tensors nothing differentiates
    through, it is the problem's fused kernel where it has one
    (:meth:`hgbench.spec.Problem.fused_hvp`). Otherwise under ``vmap``/``grad`` it is
    ``jvp(grad(loss))``; while ``torch.compile`` traces (a compiled batched step,
    :mod:`hgbench.bench.compiled`) it is ``vjp(grad(loss))`` (the same product, the Hessian
    being symmetric, equal to rounding: torch 2.13's compiler fails on forward mode there,
    with a meta and a CPU tensor in one op).
    """
    problem.counter.add(hvp=1)
    if peek_interpreter_stack() is None and not (w.requires_grad or v.requires_grad):
        with torch.enable_grad():
            w_ = w.detach().requires_grad_()
            loss, _ = problem.loss(w_, mstate, batch, stream)
            (g_,) = torch.autograd.grad(loss, w_, create_graph=True)
            (hv,) = torch.autograd.grad(g_, w_, v)
        return hv
    if _under_vmap_only(w, v):
        fused = problem.fused_hvp(w, mstate, batch, v, stream)
        if fused is not None:
            return fused

    def g(w_: Tensor) -> Tensor:
        return grad(lambda x: problem.loss(x, mstate, batch, stream)[0])(w_)

    if torch.compiler.is_compiling():  # forward mode fails to trace there: reverse over reverse
        return vjp(g, w)[1](v)[0]
    return jvp(g, (w,), (v,))[1]


def vjp_through(fn: Callable[[Tensor], Tensor], primal: Tensor, cotangent: Tensor) -> Tensor:
    """``(∂fn/∂primal)ᵀ cotangent`` for a cheap, uncounted function (an optimizer update).

    Plain reverse mode outside ``torch.func`` transforms (no graph outlives the call), else
    ``torch.func.vjp``.
    """
    if peek_interpreter_stack() is None and not primal.requires_grad:
        with torch.enable_grad():
            p = primal.detach().requires_grad_()
            (out,) = torch.autograd.grad(fn(p), p, cotangent)
        return out
    _, pullback = vjp(fn, primal)
    return pullback(cotangent)[0]
