"""The training loop, written once for one init and for N paired inits trained together.

``train`` drives ``method.step`` for ``budget`` weight steps through a *stepper*: a
:class:`SingleStepper` calls the step directly; a :class:`BatchedStepper` calls it under
``torch.func.vmap`` over a leading init dimension, masks diverged inits per step without a
host synchronisation (``torch.where(alive, new, old)`` over the state tree) and records the
step at which each diverged. The clock runs only around steps (and ``finalize``); evaluation
and recording happen at the cadence ``eval_every``, outside the timed region.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch.utils._pytree import tree_map

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
    method_time_s: float
    eval_time_s: float
    costs: dict[str, int]
    #: per-phase method time (methods with ``has_phases``), seconds for the whole batch
    phase_time_s: dict[str, float] = field(default_factory=dict)
    #: per-phase peak allocated bytes (CUDA only)
    phase_peak_bytes: dict[str, int] = field(default_factory=dict)
    #: the run's CUDA peak across per-phase counter resets (0 when no phase clock ran)
    cuda_peak_bytes: int = 0


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

    def init(self, w0s: list[Tensor], mstate: Any, hypers: list[InitialHyper]) -> State:
        return self.method.init(self.problem, w0s[0], mstate, hypers[0])

    def step(self, state: State, t: int) -> State:
        state, loss = self.method.step(self.problem, state, t)
        self.window.append(loss.detach())
        return state

    def hyperparameters(self, state: State) -> dict[str, Tensor]:
        return self.method.hyperparameters(state)

    def evaluate(self, state: State, split: str) -> dict[str, Tensor]:
        w, mstate = self.method.weights(state)
        return self.problem.evaluate(w, mstate, split)

    def finalize(self, state: State) -> State:
        return self.method.finalize(self.problem, state)

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
    """N paired inits stacked along a leading dimension and stepped under ``vmap``."""

    def __init__(self, problem: Problem, method: Method, n: int) -> None:
        super().__init__(problem, method)
        self.n = n
        self.alive = [True] * n
        self.diverged_at = [None] * n
        self.alive_t: Tensor | None = None
        self.diverged_t: Tensor | None = None
        self._hyper = torch.func.vmap(method.hyperparameters)

    def init(self, w0s: list[Tensor], mstate: Any, hypers: list[InitialHyper]) -> State:
        counter = self.problem.counter
        before = counter.as_dict()
        states = [
            self.method.init(self.problem, w0, mstate, h) for w0, h in zip(w0s, hypers, strict=True)
        ]
        for k, v in counter.as_dict().items():  # counts are per init: init ran n times
            setattr(counter, k, before[k] + (v - before[k]) // self.n)
        device = w0s[0].device
        self.alive_t = torch.ones(self.n, dtype=torch.bool, device=device)
        self.diverged_t = torch.full((self.n,), -1, dtype=torch.long, device=device)
        return _tree_stack(states)

    def step(self, state: State, t: int) -> State:
        new, loss = torch.func.vmap(
            lambda s: self.method.step(self.problem, s, t), randomness="same"
        )(state)
        finite = torch.isfinite(loss)
        for h in self._hyper(new).values():
            finite = finite & torch.isfinite(h)
        newly = self.alive_t & ~finite
        self.diverged_t = torch.where(newly, t, self.diverged_t)
        self.alive_t = alive = self.alive_t & finite

        def keep(n_: Tensor, o: Tensor) -> Tensor:
            return torch.where(alive.view(-1, *([1] * (n_.dim() - 1))), n_, o)

        self.window.append(loss.detach())
        return tree_map(keep, new, state)

    def hyperparameters(self, state: State) -> dict[str, Tensor]:
        return self._hyper(state)

    def evaluate(self, state: State, split: str) -> dict[str, Tensor]:
        def one(s: State) -> dict[str, Tensor]:
            w, mstate = self.method.weights(s)
            return self.problem.evaluate(w, mstate, split)

        return torch.func.vmap(one, randomness="same")(state)

    def finalize(self, state: State) -> State:
        return torch.func.vmap(lambda s: self.method.finalize(self.problem, s), randomness="same")(
            state
        )

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


def train(
    problem: Problem,
    method: Method,
    w0s: list[Tensor],
    hypers: list[InitialHyper],
    *,
    budget: int,
    eval_every: int,
    batched: bool,
    sync: Callable[[], None] = lambda: None,
) -> TrainResult:
    """Train ``len(w0s)`` paired inits (together when ``batched``) and record their curves.

    Records at step 0 and every ``eval_every`` steps: val and test metrics, hyperparameters
    and the mean train loss over the steps since the last record (``time_s`` is the
    cumulative method time, divided by ``n`` when batched). Diverged inits stop recording.
    """
    n = len(w0s)
    if not batched and n != 1:
        raise ValueError("unbatched training takes exactly one init")
    stepper = BatchedStepper(problem, method, n) if batched else SingleStepper(problem, method)
    results = [InitResult() for _ in range(n)]
    problem.counter.reset()
    method_time = eval_time = 0.0

    def clock() -> float:
        sync()
        return time.perf_counter()

    def record(step: int, state: State) -> None:
        share = method_time / n
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

    t0 = clock()
    state = stepper.init(w0s, problem.init_model_state(), hypers)
    method_time += clock() - t0
    te = clock()
    record(0, state)
    eval_time += clock() - te
    steps = 0
    phases = PhaseClock(problem.device, clock) if method.has_phases else None
    t0 = clock()
    for t in range(budget):
        if phases is None:
            state = stepper.step(state, t)
        else:
            with phases.timing(method.phase(t)):
                state = stepper.step(state, t)
        steps = t + 1
        if steps % eval_every == 0 or steps == budget:
            method_time += clock() - t0
            te = clock()
            record(steps, state)
            eval_time += clock() - te
            if not any(stepper.alive):
                break
            t0 = clock()
    t0 = clock()
    state = stepper.finalize(state)
    method_time += clock() - t0
    te = clock()
    final = {s: _floats(stepper.evaluate(state, s)) for s in ("train", "val", "test")}
    final_hyper = _floats(stepper.hyperparameters(state))
    eval_time += clock() - te
    phase_rows = phases.records(steps, method_time / n, n) if phases is not None else []
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
        method_time,
        eval_time,
        problem.counter.as_dict(),
        phases.time_s if phases is not None else {},
        phases.peak_bytes if phases is not None else {},
        phases.run_peak_bytes if phases is not None else 0,
    )


class PhaseClock:
    """Method time (and CUDA peak memory) per phase, for methods that declare phases.

    Each step is timed on its own (synchronised on CUDA), so per-phase figures cost one clock
    read per step; methods without phases keep the windowed clock. On CUDA the peak counter is
    reset at each step's start; the run's peak over all phases is kept in ``run_peak_bytes``.
    """

    def __init__(self, device: torch.device, clock: Callable[[], float]) -> None:
        self.cuda = device.type == "cuda"
        self.device, self.clock = device, clock
        self.time_s: dict[str, float] = {}
        self.peak_bytes: dict[str, int] = {}
        self.run_peak_bytes = int(torch.cuda.max_memory_allocated(device)) if self.cuda else 0

    @contextmanager
    def timing(self, name: str) -> Iterator[None]:
        if self.cuda:
            self.run_peak_bytes = max(
                self.run_peak_bytes, torch.cuda.max_memory_allocated(self.device)
            )
            torch.cuda.reset_peak_memory_stats(self.device)
        start = self.clock()
        yield
        self.time_s[name] = self.time_s.get(name, 0.0) + self.clock() - start
        if self.cuda:
            peak = int(torch.cuda.max_memory_allocated(self.device))
            self.peak_bytes[name] = max(self.peak_bytes.get(name, 0), peak)
            self.run_peak_bytes = max(self.run_peak_bytes, peak)

    def records(self, step: int, time_share: float, n: int) -> list[Record]:
        """Long-format rows (split ``"phase"``): per-init time share and peak of each phase."""
        rows = [(step, time_share, "phase", f"{k}_time_s", v / n) for k, v in self.time_s.items()]
        rows += [(step, time_share, "phase", f"{k}_peak_bytes", float(v))
                 for k, v in self.peak_bytes.items()]  # fmt: skip
        return rows


FINAL_KEYS = ("final_train_loss", "final_val_loss", "final_test_loss", "final_test_metric")
