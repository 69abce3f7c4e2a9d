"""The method clock: start-up apart from steady state, steady per-step time, per-phase time.

What counts as **start-up**: the method's ``init`` plus what the *first step of each phase*
took beyond that phase's steady per-step time (a method without phases has one phase, so its
first step): the calls that trace ``vmap`` and ``torch.func`` transforms, allocate buffers and
warm caches. The first step's ordinary share of work stays steady time, so a phase that runs
rarely but costs much (reversible learning's reverse pass) is not hidden in start-up; a phase
that runs only once has no steady time to compare with and counts as steady. Everything else
the method does (the other steps and ``finalize``) is **steady** time.

**Steady per-step time**: the steady steps are timed in windows (between evaluation points, a
window holds ``eval_every`` steps; the clock is read only at window boundaries) and the
per-step time is the median over windows of window time / window steps, with the 25th and
75th percentiles as its spread. A method with phases has each step timed on its own; its
per-step time is ``Σ_phase share_phase × median(step times of the phase)`` (quartiles
combined the same way), so a method that does a costly hyper-step every T steps is charged for
it in proportion, whatever the evaluation cadence.

On CUDA every clock read is preceded by ``torch.cuda.synchronize()``; per-step timing of
phased methods uses CUDA events, read at the next evaluation, so there is no host
synchronisation inside the timed loop. Per-phase peak allocated bytes (CUDA) are measured by
resetting the allocator's peak counter at each phased step; the peak reached since the
previous reset is folded into the run's peak first, so none is lost.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass
class Timings:
    """The clock's figures for one training run (for a batch: the whole batch's)."""

    method_s: float = 0.0
    startup_s: float = 0.0
    startup_steps: int = 0
    step_s: float = math.nan
    step_q25_s: float = math.nan
    step_q75_s: float = math.nan
    phase_s: dict[str, float] = field(default_factory=dict)
    phase_peak_bytes: dict[str, int] = field(default_factory=dict)

    @property
    def steady_s(self) -> float:
        return self.method_s - self.startup_s


def cuda_sync(device: torch.device) -> Callable[[], None]:
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


class StepClock:
    """Times ``init``, each step and ``finalize`` of one training run (see module docstring).

    Use: ``with clock.init(): ...``; per step ``with clock.step(t, phase): ...``; at each
    evaluation point ``clock.pause()`` before and ``clock.resume()`` after; ``with
    clock.finalize(): ...``; then :meth:`timings`.
    """

    def __init__(self, device: torch.device, *, per_step: bool, baseline_bytes: int = 0) -> None:
        self.device = device
        self.cuda = device.type == "cuda"
        self.sync = cuda_sync(device)
        self.per_step = per_step
        self.baseline = baseline_bytes
        self.t = Timings()
        self.seen: set[str] = set()
        self.window_start: float | None = None
        self.window_steps = 0
        self.windows: list[float] = []  # per-step time of each closed window
        self.phase_steps: dict[str, list[float]] = {}
        self.events: list[tuple[str, object, object]] = []  # CUDA (phase, start, end)
        self.run_peak = 0
        self.first_step_s: dict[str, float] = {}  # the first step of each phase

    def now(self) -> float:
        self.sync()
        return time.perf_counter()

    @contextmanager
    def init(self) -> Iterator[None]:
        start = self.now()
        yield
        elapsed = self.now() - start
        self.t.method_s += elapsed
        self.t.startup_s += elapsed

    @contextmanager
    def step(self, t: int, phase: str = "step") -> Iterator[None]:
        first = phase not in self.seen
        if first:  # start-up: timed on its own, synchronised
            self.seen.add(phase)
            self._close_window()
            start = self.now()
            with self._phase_peak(phase):
                yield
            elapsed = self.now() - start
            self.t.method_s += elapsed
            self.first_step_s[phase] = elapsed
            self.t.startup_steps += 1
            self.t.phase_s[phase] = self.t.phase_s.get(phase, 0.0) + elapsed
            return
        if not self.per_step:
            if self.window_start is None:
                self.window_start = self.now()
            yield
            self.window_steps += 1
            return
        with self._phase_peak(phase):
            if self.cuda:
                start_evt = torch.cuda.Event(enable_timing=True)
                end_evt = torch.cuda.Event(enable_timing=True)
                start_evt.record()
                yield
                end_evt.record()
                self.events.append((phase, start_evt, end_evt))
            else:
                start = time.perf_counter()
                yield
                self._add_phase_step(phase, time.perf_counter() - start)

    def _add_phase_step(self, phase: str, elapsed: float) -> None:
        self.phase_steps.setdefault(phase, []).append(elapsed)
        self.t.method_s += elapsed
        self.t.phase_s[phase] = self.t.phase_s.get(phase, 0.0) + elapsed

    @contextmanager
    def _phase_peak(self, phase: str) -> Iterator[None]:
        if not (self.cuda and self.per_step):
            yield
            return
        # the peak since the last reset (init, evaluation, the task's build) is the run's too
        self.run_peak = max(self.run_peak, self._allocated_peak())
        torch.cuda.reset_peak_memory_stats(self.device)
        yield
        peak = self._allocated_peak()
        self.t.phase_peak_bytes[phase] = max(self.t.phase_peak_bytes.get(phase, 0), peak)
        self.run_peak = max(self.run_peak, peak)

    def _allocated_peak(self) -> int:
        return int(torch.cuda.max_memory_allocated(self.device)) - self.baseline

    def run_peak_bytes(self) -> int:
        """CUDA: the run's peak allocated bytes above the baseline, across per-step resets
        (what came before the first reset included: the task's build, init, evaluations)."""
        if not self.cuda:
            return 0
        return max(self.run_peak, self._allocated_peak())

    def _close_window(self) -> None:
        if self.window_start is not None:
            elapsed = self.now() - self.window_start
            self.t.method_s += elapsed
            if self.window_steps:
                self.windows.append(elapsed / self.window_steps)
        self.window_start, self.window_steps = None, 0

    def _drain_events(self) -> None:
        if self.events:
            self.sync()
            for phase, start, end in self.events:
                self._add_phase_step(phase, start.elapsed_time(end) / 1e3)  # type: ignore[attr-defined]
            self.events = []

    def pause(self) -> None:
        """Before an evaluation: close the running window, collect CUDA step events."""
        self._close_window()
        self._drain_events()

    def resume(self) -> None:
        """After an evaluation (windows open lazily at the next step)."""

    @contextmanager
    def finalize(self) -> Iterator[None]:
        self.pause()
        start = self.now()
        yield
        self.t.method_s += self.now() - start

    def timings(self) -> Timings:
        self.pause()
        if self.per_step:
            self._combine_phases()
        else:
            if self.windows:
                q25, q50, q75 = np.quantile(self.windows, [0.25, 0.5, 0.75])
                self.t.step_s, self.t.step_q25_s, self.t.step_q75_s = (float(q50), float(q25),
                                                                       float(q75))  # fmt: skip
                self._excess({p: self.t.step_s for p in self.first_step_s})
            elif self.first_step_s:  # a single step: it is the steady per-step time
                self.t.step_s = self.t.step_q25_s = self.t.step_q75_s = sum(
                    self.first_step_s.values()
                )
        return self.t

    def _excess(self, steady: dict[str, float]) -> None:
        """Start-up += what each phase's first step took beyond its steady per-step time."""
        for phase, first in self.first_step_s.items():
            if phase in steady and math.isfinite(steady[phase]):
                self.t.startup_s += max(0.0, first - steady[phase])

    def _combine_phases(self) -> None:
        samples = {p: list(v) for p, v in self.phase_steps.items() if v}
        self._excess({p: float(np.median(v)) for p, v in samples.items()})
        phases = set(samples) | set(self.first_step_s)
        # each phase weighs by how many steps it took (its first included)
        counts = {p: len(samples.get(p, [])) + (p in self.first_step_s) for p in phases}
        total = sum(counts.values()) or 1
        stats = np.zeros(3)
        for p in phases:
            times = samples.get(p) or [self.first_step_s[p]]  # ran once: its only sample
            stats += counts[p] / total * np.quantile(times, [0.25, 0.5, 0.75])
        self.t.step_q25_s, self.t.step_s, self.t.step_q75_s = (float(x) for x in stats)
