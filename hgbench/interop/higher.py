"""Run a method written as a ``higher.innerloop_ctx`` loop inside hgbench's runner.

A :class:`HigherMethod` writes its whole training run as one generator, :meth:`~HigherMethod.loop`,
in the style of code written for the ``higher`` library (Grefenstette et al., "Generalized
Inner Loop Meta-Learning", arXiv 1910.01727): an ``nn.Module`` (:attr:`HigherRun.model`, the
task's model), a stock ``torch.optim`` optimizer over its parameters, and
:meth:`HigherRun.innerloop_ctx` in place of ``higher.innerloop_ctx(model, opt, ...)``. The loop
``yield``\\ s the training loss after each weight step; the adapter resumes it once per
runner step, so the run is timed, evaluated, stored and reported like any method::

    def loop(self, run):
        opt = torch.optim.SGD(run.model.parameters(), lr=run.initial.lr)
        while True:
            with run.innerloop_ctx(opt) as (fmodel, diffopt):
                loss = fmodel(run.train_batch())
                diffopt.step(loss)
                yield loss

What the adapter adds to ``higher.innerloop_ctx``: ``diffopt.step`` is counted as one gradient
and must be called exactly once per ``yield``; the task's gradient clipping is installed as the
differentiable optimizer's gradient callback; the runner sees the latest fast weights; and on
leaving the context the fast weights and the optimizer state are written back (detached) to
the model and the optimizer, as Clarke et al.'s ``patched_modules`` does, so consecutive
contexts continue one training run, and higher's references to the unrolled graph are dropped
(no graph outlives its context; a loop should not keep a tracked loss alive either).

Counting is approximate, and says so in every stored run (``counts_exact = False``, stored in
the run's ``counts_exact`` column): each
forward pass of the model is counted, and a forward that ``diffopt.step`` differentiates
becomes one gradient; backward passes through the unrolled steps (``loss.backward()`` of a
hypergradient) and work outside the run's model are not seen. ``state_bytes`` counts only the
weights the runner evaluates, not higher's stored graph. Not batchable over inits.
"""

from __future__ import annotations

import importlib
from abc import abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.utils._pytree import tree_map

from hgbench.methods.core.optim import clip_by_global_norm
from hgbench.spec import Batch, InitialHyper, Method, ModelState, Problem, State, Stream


def import_higher() -> Any:
    """The ``higher`` module, or an ImportError saying how to install the extra."""
    try:
        return importlib.import_module("higher")
    except ImportError as exc:
        raise ImportError(
            "this method needs the `higher` library: pip install 'hgbench[higher]'"
        ) from exc


def _detach(tree: Any) -> Any:
    return tree_map(lambda x: x.detach() if isinstance(x, Tensor) else x, tree)


class ProblemModule(nn.Module):
    """A problem's model as an ``nn.Module``: one parameter per tensor of ``problem.layout``
    (in its order); ``forward(batch, stream)`` is the problem's mean loss on ``batch`` at the
    module's (or higher's fast) weights. The model state (buffers, recurrent carries) lives on
    :attr:`run`, is advanced by every forward and is never differentiated. Each forward is one
    counted forward pass."""

    def __init__(self, problem: Problem, w: Tensor, run: HigherRun) -> None:
        super().__init__()
        self.problem, self.run = problem, run
        self.param_names = [f"p{i}" for i in range(len(problem.layout.names))]
        for name, tensor in zip(
            self.param_names, problem.layout.unflatten(w.detach()).values(), strict=True
        ):
            self.register_parameter(name, nn.Parameter(tensor.clone()))

    def flat(self) -> Tensor:
        """The current (fast) weights as one flat vector ``[P]``, differentiable."""
        return torch.cat([getattr(self, n).reshape(-1) for n in self.param_names])

    def forward(self, batch: Batch, stream: Stream = "train") -> Tensor:
        self.problem.counter.add(forward=1)
        loss, mstate = self.problem.loss(self.flat(), self.run.mstate, batch, stream)
        self.run.mstate = _detach(mstate)
        return loss


class HigherRun:
    """What a :meth:`HigherMethod.loop` works with: the problem, its model as an ``nn.Module``,
    the paired initial hyperparameters, data in the runner's order, and the counted
    :meth:`innerloop_ctx`. The loop publishes what the runner records in :attr:`hyper`
    (natural values, 0-d tensors) and :attr:`hypergrad`."""

    def __init__(self, problem: Problem, w0: Tensor, mstate: ModelState, hyper: InitialHyper):
        self.problem, self.initial, self.mstate = problem, hyper, mstate
        self.model = ProblemModule(problem, w0, self)
        self.steps = 0  # weight steps taken (diffopt.step calls)
        self.weights = w0.detach()
        self.hyper: dict[str, Tensor] = {
            n: torch.tensor(v, dtype=problem.dtype, device=problem.device)
            for n, v in hyper.as_dict().items()
        }
        self.hypergrad: dict[str, Tensor] = {}
        self.generator: Iterator[Tensor] | None = None  # the method's loop, set by its init

    def train_batch(self) -> Batch:
        """The batch of the next weight step (the runner's ``train_batch(t)``)."""
        return self.problem.train_batch(self.steps)

    def val_batch(self, i: int) -> Batch:
        return self.problem.val_batch(i)

    def _clip(self, grads: list[Tensor]) -> list[Tensor]:
        flat = clip_by_global_norm(
            torch.cat([g.reshape(-1) for g in grads]), self.problem.grad_clip
        )
        return [
            part.view_as(g)
            for part, g in zip(flat.split([g.numel() for g in grads]), grads, strict=True)
        ]

    @contextmanager
    def innerloop_ctx(
        self, opt: torch.optim.Optimizer, **kwargs: Any
    ) -> Iterator[tuple[nn.Module, Any]]:
        """``higher.innerloop_ctx(self.model, opt, **kwargs)``, counted, clipped and written
        back on exit (see the module docstring)."""
        higher = import_higher()
        with higher.innerloop_ctx(self.model, opt, **kwargs) as (fmodel, diffopt):
            if self.problem.grad_clip is not None:
                diffopt._grad_callback = self._clip
            step = diffopt.step

            def counted_step(loss: Tensor, *args: Any, **kw: Any) -> Any:
                self.problem.counter.add(forward=-1, gradient=1)  # its forward becomes a gradient
                new = step(loss, *args, **kw)
                self.steps += 1
                self.weights = torch.cat([p.detach().reshape(-1) for p in new])
                return new

            diffopt.step = counted_step
            try:
                yield fmodel, diffopt
            finally:
                self._write_back(opt, fmodel, diffopt)
                _release(fmodel, diffopt)

    def _write_back(self, opt: torch.optim.Optimizer, fmodel: Any, diffopt: Any) -> None:
        """Fast weights into the model, the differentiable optimizer's state into ``opt``."""
        with torch.no_grad():
            if fmodel.fast_params is not None:
                for p, fast in zip(self.model.parameters(), fmodel.fast_params, strict=True):
                    p.copy_(fast)
            for group, state in zip(opt.param_groups, diffopt.state, strict=True):
                for index, p in enumerate(group["params"]):
                    if index in state:
                        opt.state[p] = _detach(dict(state[index]))


def _release(fmodel: Any, diffopt: Any) -> None:
    """Drop higher's references to the unrolled graph (its history of fast weights, the
    differentiable optimizer's state and last parameters) once a context is left, so no graph
    outlives its context; ``fmodel`` stays usable at the written-back weights."""
    if fmodel.fast_params is not None:
        detached = [p.detach() for p in fmodel.fast_params]
        fmodel._fast_params = [detached]  # the history goes
        fmodel.update_params(detached)  # and the module's views follow
    diffopt.state = [type(state)(dict) for state in diffopt.state]
    for group in diffopt.param_groups:
        group["params"] = [None] * len(group["params"])


class HigherMethod(Method):
    """A method whose training run is one ``higher``-style generator, :meth:`loop` (see the
    module docstring). Subclasses set ``key`` and a docstring with the algorithm's citation,
    declare settings as usual, and implement :meth:`loop`."""

    supports_batching: ClassVar[bool] = False
    #: forward passes and diffopt steps are counted; backward passes through unrolled steps
    #: and work outside the run's model are not
    counts_exact: ClassVar[bool] = False

    @abstractmethod
    def loop(self, run: HigherRun) -> Iterator[Tensor]:
        """The training run: yield the training loss after each ``diffopt.step``."""

    def init(self, problem: Problem, w0: Tensor, mstate: ModelState, hyper: InitialHyper) -> State:
        import_higher()
        run = HigherRun(problem, w0, mstate, hyper)
        run.generator = self.loop(run)
        return self._state(run)

    def _state(self, run: HigherRun) -> State:
        return {"run": run, "w": run.weights, "mstate": run.mstate, "hypergrad": run.hypergrad}

    def step(self, problem: Problem, state: State, t: int) -> tuple[State, Tensor]:
        run: HigherRun = state["run"]
        before = run.steps
        try:
            loss = next(run.generator)
        except StopIteration:
            raise ValueError(
                f"method {self.key!r}: its higher loop ended at step {t}; it must yield a "
                "loss for every weight step of the budget"
            ) from None
        if run.steps != before + 1:
            raise ValueError(
                f"method {self.key!r}: step {t} took {run.steps - before} diffopt steps "
                "before yielding; yield once after each diffopt.step"
            )
        return self._state(run), loss.detach()

    def hyperparameters(self, state: State) -> dict[str, Tensor]:
        return {n: v.detach() for n, v in state["run"].hyper.items()}

    def finalize(self, problem: Problem, state: State) -> State:
        """Close the loop (its open contexts write their weights back)."""
        run: HigherRun = state["run"]
        run.generator.close()
        return self._state(run)
