"""The training loop, written once for one init and for N paired inits trained together.

``train`` drives ``method.step`` for ``budget`` weight steps through a *stepper*: a
:class:`SingleStepper` calls the step directly; a :class:`BatchedStepper` calls it under
``vmap`` over a leading init dimension (:func:`~hgbench.methods.core.stacked.vmap_stacked`, in
chunks of inits where that pays: :mod:`hgbench.bench.chunking`), masks diverged inits per step
without a host synchronisation (``torch.where(alive, new, old)`` over the state tree) and
records the step at which each diverged. The clock runs only around steps (and ``finalize``);
evaluation and recording happen at the cadence ``eval_every``, outside the timed region.
"""

from __future__ import annotations

import math
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch.utils._pytree import keystr, tree_flatten, tree_flatten_with_path, tree_map

from hgbench.bench.chunking import (
    bounds,
    choose_chunk,
    chunk_budget,
    chunked,
    counted_once,
    step_bytes,
)
from hgbench.bench.clock import StepClock, Timings
from hgbench.bench.compiled import CompiledStep
from hgbench.methods.core.stacked import vmap_stacked
from hgbench.spec import InitialHyper, Method, Problem, State

#: one long-format record: (step, cumulative method time, split, metric, value)
Record = tuple[int, float, str, str, float]


@dataclass
class InitResult:
    """The fate of one init: status, curves and final figures."""

    status: str = "ok"
    diverged_step: int | None = None
    steps_done: int = 0
    records: list[Record] = field(default_factory=list)
    final: dict[str, float] = field(default_factory=dict)
    final_hyper: dict[str, float] = field(default_factory=dict)


@dataclass
class TrainResult:
    inits: list[InitResult]
    #: the clock's figures for the whole computation (all ``n`` inits when batched)
    timings: Timings
    eval_time_s: float
    costs: dict[str, int]
    #: the run's CUDA peak allocated bytes above the allocation at its start (0 on CPU)
    cuda_peak_bytes: int = 0
    #: the largest total size of the method's state tensors at a record point (all inits)
    state_bytes: int = 0

    @property
    def method_time_s(self) -> float:
        return self.timings.method_s


def _tree_stack(trees: list[Any]) -> Any:
    return tree_map(lambda *xs: torch.stack(xs), *trees)


def _floats(values: dict[str, Tensor]) -> dict[str, list[float]]:
    """Host copies of a dict of 0-d or [N] tensors as lists of floats (one sync)."""
    if not values:
        return {}
    keys = list(values)
    stacked = torch.stack([values[k].detach().to(torch.float64).reshape(-1) for k in keys])
    rows = stacked.cpu().tolist()
    return dict(zip(keys, rows, strict=True))


class SingleStepper:
    """One init: the step as the method wrote it; divergence found at the next check."""

    n = 1

    def __init__(self, problem: Problem, method: Method) -> None:
        self.problem, self.method = problem, method
        self.window: list[Tensor] = []
        self.window_start = 0
        self.alive = [True]
        self.diverged_at: list[int | None] = [None]
        self.checked: set[str] = set()

    def init(self, w0s: list[Tensor], mstate: Any, hypers: list[InitialHyper]) -> State:
        return self.method.init(self.problem, w0s[0], mstate, hypers[0])

    def step(self, state: State, t: int) -> State:
        new, loss = self.method.step(self.problem, state, t)
        self.contract(state, new, loss, t)
        self.window.append(loss.detach())
        return new

    def contract(self, before: State, after: State, loss: Tensor, t: int) -> None:
        """Check the state contract at the first step of each phase (cheap, start-up): a
        batchable method keeps its state's structure; every method returns a 0-d loss."""
        phase = self.method.phase(t)
        if phase in self.checked:
            return
        self.checked.add(phase)
        if self.method.supports_batching:
            check_structure(self.method, before, after, t)
        shape = () if self.n == 1 and not isinstance(self, BatchedStepper) else (self.n,)
        if not isinstance(loss, Tensor) or tuple(loss.shape) != shape:
            got = tuple(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__
            raise ValueError(
                f"method {self.method.key!r}: step {t} must return (state, loss) with the "
                f"training loss a 0-d tensor, got {got}"
            )

    def hyperparameters(self, state: State) -> dict[str, Tensor]:
        return self.method.hyperparameters(state)

    def evaluate(self, state: State, split: str) -> dict[str, Tensor]:
        w, mstate = self.method.weights(state)
        return self.problem.evaluate(w, mstate, split)

    def finalize(self, state: State) -> State:
        return self.method.finalize(self.problem, state)

    def close(self) -> None:
        """The end of the run (a batched stepper drops its compiled graphs)."""

    def check(self, step: int, hyper: dict[str, list[float]]) -> list[float]:
        """Mean train loss of the window per init; marks inits that diverged (host sync)."""
        losses = torch.stack(self.window).reshape(len(self.window), -1)
        self.window = []
        start, self.window_start = self.window_start, step
        finite = torch.isfinite(losses)
        bad_steps = (~finite).any(dim=1).nonzero().reshape(-1).tolist()
        mean = losses.to(torch.float64).mean(dim=0).tolist()
        for i in range(self.n):
            if not self.alive[i]:
                continue
            bad = [s for s in bad_steps if not bool(finite[s, i])]
            if bad:
                self._diverge(i, start + bad[0])
            elif any(not math.isfinite(v[i]) for v in hyper.values()):
                self._diverge(i, step - 1)
        return mean

    def _diverge(self, i: int, step: int) -> None:
        self.alive[i] = False
        self.diverged_at[i] = step


class BatchedStepper(SingleStepper):
    """N paired inits stacked along a leading dimension and stepped under ``vmap``, ``chunk``
    inits per call (default: chosen at ``init`` by :func:`~hgbench.bench.chunking.choose_chunk`,
    from the largest tensor one init's step creates; ``chunk >= n`` is one call). With
    ``compile``, the step is :class:`~hgbench.bench.compiled.CompiledStep` (``torch.compile``;
    eager where it does not compile)."""

    def __init__(
        self, problem: Problem, method: Method, n: int, chunk: int | None = None,
        compile: bool = False,
    ) -> None:  # fmt: skip
        super().__init__(problem, method)
        self.n = n
        self.chunk = chunk
        what = f"inits of {method.key!r}"

        def eager(state: State, t: int) -> Any:
            return vmap_stacked(lambda s: self._step_one(s, t), what)(state)

        self._compiled = CompiledStep(problem, self._step_one, eager, what) if compile else None
        #: the step of the stacked inits at ``t``: compiled, or eager under ``vmap_stacked``
        self._step_fn = self._compiled or eager
        self.alive = [True] * n
        self.diverged_at = [None] * n
        self.alive_t: Tensor | None = None
        self.diverged_t: Tensor | None = None
        self._hyper = vmap_stacked(method.hyperparameters, what)
        #: while no init has diverged, a CPU step whose inits all stay finite skips the freeze
        #: (a host check costs nothing there; on CUDA it would synchronise: always freeze)
        self._none_frozen = problem.device.type == "cpu"

    def init(self, w0s: list[Tensor], mstate: Any, hypers: list[InitialHyper]) -> State:
        with counted_once(self.problem.counter, self.n):
            states = [
                self.method.init(self.problem, w0, mstate, h)
                for w0, h in zip(w0s, hypers, strict=True)
            ]
        device = w0s[0].device
        self.alive_t = torch.ones(self.n, dtype=torch.bool, device=device)
        self.diverged_t = torch.full((self.n,), -1, dtype=torch.long, device=device)
        stacked = _tree_stack(states)
        if self.chunk is None:
            budget = chunk_budget() if device.type == "cpu" else None
            largest = (
                step_bytes(self.problem, self.method, stacked, 0, batched=True)[1] if budget else 0
            )
            self.chunk = choose_chunk(self.n, largest, budget, device)
        if self._compiled is not None:
            copy = tree_map(torch.clone, stacked)
            self._compiled.warm_up(lambda t: self._chunked(lambda s: self._step_fn(s, t), copy,
                                                           vmapped=True))  # fmt: skip
        return stacked

    def _chunked(self, fn: Any, state: State, vmapped: bool = False) -> Any:
        """``fn`` vmapped over the inits of ``state`` (already a function of stacked inits when
        ``vmapped``), ``self.chunk`` inits per call (the cost counters, issued once per call,
        count once: they are per init)."""
        vmapped = fn if vmapped else vmap_stacked(fn, f"inits of {self.method.key!r}")
        chunk = self.chunk or self.n
        with counted_once(self.problem.counter, len(bounds(self.n, chunk))):
            return chunked(vmapped, state, self.n, chunk, self.problem.device)

    def step(self, state: State, t: int) -> State:
        new, loss, hyper = self._chunked(lambda s: self._step_fn(s, t), state, vmapped=True)
        self.contract(state, new, loss, t)
        finite = torch.isfinite(loss)
        for v in hyper.values():  # on the stacked tensors: a few µs an op, against 15-30 under vmap
            finite = finite & torch.isfinite(v).view(self.n, -1).all(dim=1)
        self.window.append(loss.detach())
        if self._none_frozen and bool(finite.all()):  # nothing to freeze
            return new
        newly = self.alive_t & ~finite
        self.diverged_t = torch.where(newly, t, self.diverged_t)
        self.alive_t = alive = self.alive_t & finite
        self._none_frozen = False

        def keep(n_: Tensor, o: Tensor) -> Tensor:
            return torch.where(alive.view(-1, *([1] * (n_.dim() - 1))), n_, o)

        return tree_map(keep, new, state)

    def _step_one(self, state: State, t: int) -> tuple[State, Tensor, dict[str, Tensor]]:
        """One init's step, its loss, and its hyperparameters after the step (what must stay
        finite with the loss), in the same vmapped call: one call per step."""
        new, loss = self.method.step(self.problem, state, t)
        if not isinstance(loss, Tensor) or loss.dim() != 0:  # the contract check names it
            return new, loss, {}
        return new, loss, self.method.hyperparameters(new)

    def hyperparameters(self, state: State) -> dict[str, Tensor]:
        return self._hyper(state)

    def evaluate(self, state: State, split: str) -> dict[str, Tensor]:
        def one(s: State) -> dict[str, Tensor]:
            w, mstate = self.method.weights(s)
            return self.problem.evaluate(w, mstate, split)

        return self._chunked(one, state)

    def finalize(self, state: State) -> State:
        return self._chunked(lambda s: self.method.finalize(self.problem, s), state)

    def close(self) -> None:
        if self._compiled is not None:
            self._compiled.close()

    def check(self, step: int, hyper: dict[str, list[float]]) -> list[float]:
        losses = torch.stack(self.window)
        self.window = []
        self.window_start = step
        diverged = self.diverged_t.tolist()
        for i, d in enumerate(diverged):
            if self.alive[i] and d >= 0:
                self._diverge(i, d)
        masked = torch.where(torch.isfinite(losses), losses, torch.nan)
        return masked.to(torch.float64).mean(dim=0).tolist()


def state_nbytes(state: Any) -> int:
    """Total bytes of the tensors in a state pytree (views counted at their own size)."""
    leaves, _ = tree_flatten(state)
    return sum(x.numel() * x.element_size() for x in leaves if isinstance(x, Tensor))


def check_structure(method: Method, before: State, after: State, t: int) -> None:
    """The runner's state contract: ``step`` returns a state of the structure ``init`` made
    (keys, nesting, leaf shapes and dtypes); else a ValueError naming the method and key."""
    flat_b, spec_b = tree_flatten_with_path(before)
    flat_a, spec_a = tree_flatten_with_path(after)
    where = f"method {method.key!r}: step {t}"
    if spec_a != spec_b:
        keys_b = {keystr(k) for k, _ in flat_b}
        keys_a = {keystr(k) for k, _ in flat_a}
        added, missing = sorted(keys_a - keys_b), sorted(keys_b - keys_a)
        parts = [f"adds {', '.join(added)} (not made by init)"] if added else []
        parts += [f"drops {', '.join(missing)}"] if missing else []
        detail = "; ".join(parts) or "changes the state's nesting"
        raise ValueError(
            f"{where} returned a state whose structure differs from init's: it {detail}. "
            "A state's keys and shapes must stay fixed across steps (batched inits stack them)."
        )
    for (path, a), (_, b) in zip(flat_a, flat_b, strict=True):
        if isinstance(a, Tensor) and isinstance(b, Tensor):
            if a.shape != b.shape or a.dtype != b.dtype:
                raise ValueError(
                    f"{where} changed state{keystr(path)} from {b.dtype} {tuple(b.shape)} to "
                    f"{a.dtype} {tuple(a.shape)}; a state's leaves keep their shape and dtype"
                )


def train(
    problem: Problem,
    method: Method,
    w0s: list[Tensor],
    hypers: list[InitialHyper],
    *,
    budget: int,
    eval_every: int,
    batched: bool,
    memory_baseline: int = 0,
    chunk: int | None = None,
    compile_step: bool = False,
) -> TrainResult:
    """Train ``len(w0s)`` paired inits (together when ``batched``) and record their curves.

    Records at step 0 and every ``eval_every`` steps: val and test metrics, hyperparameters
    and the mean train loss over the steps since the last record (``time_s`` is the
    cumulative method time including start-up, divided by ``n`` when batched). Diverged
    inits stop recording. Timing is :class:`~hgbench.bench.clock.StepClock`'s: start-up (init
    and the first step of each phase) apart from steady state. The first step of each phase
    is also where the state contract is checked (:func:`check_structure`). ``chunk``: inits
    per vmapped call when batched (default: chosen at start-up, see ``BatchedStepper``).
    ``compile_step``: the batched step compiled (:mod:`hgbench.bench.compiled`; one by one it
    stays eager).
    """
    n = len(w0s)
    if not batched and n != 1:
        raise ValueError("unbatched training takes exactly one init")
    stepper = (
        BatchedStepper(problem, method, n, chunk, compile=compile_step)
        if batched
        else SingleStepper(problem, method)
    )
    results = [InitResult() for _ in range(n)]
    problem.counter.reset()
    clock = StepClock(problem.device, per_step=method.has_phases, baseline_bytes=memory_baseline)
    eval_time = 0.0
    state_bytes = 0

    def record(step: int, state: State) -> None:
        nonlocal eval_time, state_bytes
        clock.pause()
        te = clock.now()
        state_bytes = max(state_bytes, state_nbytes(state))
        share = clock.t.method_s / n
        hyper = _floats(stepper.hyperparameters(state))
        rows: list[list[Record]] = [[] for _ in range(n)]
        if step > 0:
            train_loss = stepper.check(step, hyper)
            for i in range(n):
                rows[i].append((step, share, "train", "loss", train_loss[i]))
        for split in ("val", "test"):
            for metric, vals in _floats(stepper.evaluate(state, split)).items():
                for i in range(n):
                    rows[i].append((step, share, split, metric, vals[i]))
        for name, vals in hyper.items():
            for i in range(n):
                rows[i].append((step, share, "hyper", name, vals[i]))
        for i in range(n):
            if stepper.alive[i]:
                results[i].records.extend(rows[i])
        eval_time += clock.now() - te
        clock.resume()

    with closing(stepper):  # a compiled step's graphs go with the run
        with clock.init():
            state = stepper.init(w0s, problem.init_model_state(), hypers)
        record(0, state)
        steps = 0
        for t in range(budget):
            phase = method.phase(t)
            with clock.step(t, phase):
                state = stepper.step(state, t)
            steps = t + 1
            if steps % eval_every == 0 or steps == budget:
                record(steps, state)
                if not any(stepper.alive):
                    break
        with clock.finalize():
            state = stepper.finalize(state)
        te = clock.now()
        final = {s: _floats(stepper.evaluate(state, s)) for s in ("train", "val", "test")}
        final_hyper = _floats(stepper.hyperparameters(state))
        eval_time += clock.now() - te
        timings = clock.timings()
        phase_rows = _phase_records(timings, steps, n) if method.has_phases else []
        for i, res in enumerate(results):
            res.records.extend(phase_rows)
            res.final_hyper = {k: v[i] for k, v in final_hyper.items()}
            if stepper.alive[i]:
                res.steps_done = steps
                res.final = {
                    "final_train_loss": final["train"]["loss"][i],
                    "final_val_loss": final["val"]["loss"][i],
                    "final_test_loss": final["test"]["loss"][i],
                    "final_test_metric": final["test"][problem.metric][i],
                }
            else:
                res.status = "diverged"
                res.diverged_step = stepper.diverged_at[i]
                res.steps_done = (res.diverged_step or 0) + 1
                res.final = dict.fromkeys(FINAL_KEYS, math.nan)
        return TrainResult(
            results,
            timings,
            eval_time,
            problem.counter.as_dict(),
            clock.run_peak_bytes(),
            state_bytes,
        )


def _phase_records(timings: Timings, step: int, n: int) -> list[Record]:
    """Long-format rows (split ``"phase"``): per-init time share and peak of each phase."""
    share = timings.method_s / n
    rows = [(step, share, "phase", f"{k}_time_s", v / n) for k, v in timings.phase_s.items()]
    rows += [(step, share, "phase", f"{k}_peak_bytes", float(v))
             for k, v in timings.phase_peak_bytes.items()]  # fmt: skip
    return rows


FINAL_KEYS = ("final_train_loss", "final_val_loss", "final_test_loss", "final_test_metric")
