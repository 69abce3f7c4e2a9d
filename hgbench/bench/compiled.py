"""A batched step compiled with ``torch.compile``: the opt-in alternative to the eager vmapped
step (``RunConfig.compile_step``, ``hgbench run --compile-step``).

:class:`CompiledStep` compiles ``torch.func.vmap`` of one init's step (``fullgraph=True``).
It is built for what keeps a graph from being reused on every call:

* the cost counters are Python integers a method increments inside its step; ``torch.compile``
  guards on their values, so each call would recompile. Each call runs with a scratch counter
  at zero in ``problem.counter`` and adds what it counted to the real one afterwards: the
  guard holds, the counts stay exact;
* the step index ``t`` is a Python int, specialised in the first graph; the second value makes
  it symbolic (``torch.compile``'s automatic dynamic), after which a new ``t`` is no new
  graph and a method's branch on ``t`` is a guard, compiled once per branch taken.
  :meth:`CompiledStep.warm_up` takes the steps 0 and 1 on a throwaway copy of the state at
  start-up, so that recompile is not timed as a steady step. (``dynamic=True``, symbolic
  sizes from the start, fails inside ``jvp(grad(...))`` with torch 2.13: "Cannot call
  storage_offset() on tensor with symbolic sizes", the implicit methods' Neumann terms);
* random draws take eager's generator (``fallback_random``), so a compiled step draws what the
  eager one does.

A compiled step takes autograd (the fused CPU kernels are C calls it cannot trace:
:func:`hgbench.methods.core.diff` skips them while compiling); its numbers equal the eager
step's to rounding (``tests/bench/test_compiled_step.py``: every batchable method, float64).
Compiling is start-up: it happens in the warm-up, inside the batch's ``init`` (and in the first
step of a phase that takes a new branch), which the clock times apart from steady state. Where
a step does not compile (a graph break, an op the compiler lacks, no C++ compiler for the CPU
backend; with torch 2.13 random search's members, and a minibatch task's data order, drawn from
a ``torch.Generator`` made inside the step), it stays eager, with a one-line warning saying
why.
"""

from __future__ import annotations

import types
import warnings
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import torch

from hgbench.bench.chunking import discarded
from hgbench.spec import CostCounter, Problem, State


class CompiledStep:
    """``fn(state, t)`` of one init, compiled and vmapped over the stacked inits of ``state``
    (``t`` shared); falls back to ``eager`` (the same function vmapped eagerly, a function of
    ``(stacked state, t)``) for good when it does not compile."""

    def __init__(
        self,
        problem: Problem,
        fn: Callable[[State, int], Any],
        eager: Callable[[State, int], Any],
        what: str,
    ) -> None:
        self.problem, self.eager, self.what = problem, eager, what
        self.scratch = CostCounter()
        vmapped = torch.func.vmap(fn, in_dims=(0, None), randomness="same")

        def step(state: State, t: int) -> Any:
            return vmapped(state, t)

        own = _own_code(step)
        self._code = own.__code__
        self.compiled: Callable[[State, int], Any] | None = torch.compile(
            own, fullgraph=True, options={"fallback_random": True}
        )
        #: why the step runs eagerly (None while it compiles)
        self.reason: str | None = None

    def __call__(self, state: State, t: int) -> Any:
        if self.compiled is None:
            return self.eager(state, t)
        real = self.problem.counter
        self.scratch.reset()
        self.problem.counter = self.scratch
        try:
            out = self.compiled(state, t)
        except Exception as exc:  # noqa: BLE001 - what is not a compile error (a method's own
            self.problem.counter = real  # check, a bad state) the eager step raises again
            self.compiled = None
            self.reason = _first_line(exc)
            _warn_once(self.what, self.reason)
            return self.eager(state, t)
        finally:
            self.problem.counter = real
        real.add(**self.scratch.as_dict())
        return out

    def close(self) -> None:
        """Drop the compiled graphs: ``torch.compile`` keeps them on the code object, with the
        tensors they hold (hundreds of a run's tensors, measured), until reset; the end of a
        run. Later calls are eager."""
        torch._dynamo.reset_code(self._code)
        self.compiled = None

    def warm_up(self, call: Callable[[int], Any]) -> None:
        """``call(t)`` (the batch's step at ``t`` on a throwaway copy of its state) for t = 0
        and 1, with the random state and the cost counters put back after: the compiles of
        the first graph and of its symbolic ``t`` happen here."""
        with discarded(self.problem):
            for t in (0, 1):
                call(t)


def _own_code(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` with a code object of its own: ``torch.compile`` keeps its graphs, and its limit
    of 8 per function, on the code object, which every ``CompiledStep``'s ``step`` shares (the
    ninth stepper of a process would hit the limit; the graphs now go with their stepper)."""
    return types.FunctionType(
        fn.__code__.replace(), fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__
    )


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


@lru_cache(maxsize=64)
def _warn_once(what: str, reason: str) -> None:
    warnings.warn(f"hgbench: compiled step off for {what}, eager instead: {reason}", stacklevel=3)
