"""The method clock's arithmetic on a fake clock: start-up, steady per-step time, phases."""

from __future__ import annotations

import pytest
import torch

from hgbench.bench import clock as clock_module
from hgbench.bench.clock import StepClock


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake(monkeypatch) -> FakeTime:
    t = FakeTime()
    monkeypatch.setattr(clock_module.time, "perf_counter", t)
    return t


def _run(fake: FakeTime, durations: list[float], phases: list[str], per_step: bool,
         eval_every: int, init_s: float = 0.0) -> StepClock:  # fmt: skip
    clock = StepClock(torch.device("cpu"), per_step=per_step)
    with clock.init():
        fake.now += init_s
    for t, (d, p) in enumerate(zip(durations, phases, strict=True)):
        with clock.step(t, p):
            fake.now += d
        if (t + 1) % eval_every == 0:
            clock.pause()
            fake.now += 100.0  # evaluation: never method time
            clock.resume()
    with clock.finalize():
        pass
    return clock


def test_windowed_clock_separates_the_first_step(fake):
    # init 0.5 s; first step 1.0 s (0.9 s of tracing); then 0.1 s per step, evaluated every 10
    timings = _run(fake, [1.0] + [0.1] * 39, ["step"] * 40, per_step=False, eval_every=10,
                   init_s=0.5).timings()  # fmt: skip
    assert timings.method_s == pytest.approx(0.5 + 1.0 + 39 * 0.1)
    assert timings.step_s == pytest.approx(0.1)
    assert timings.startup_s == pytest.approx(0.5 + 0.9)  # the first step's excess only
    assert timings.steady_s == pytest.approx(40 * 0.1)


def test_a_rare_costly_phase_stays_in_steady_time(fake):
    # every 5th step is a 1.0 s hyper-step, others 0.1 s; the first of each costs 0.5 s more
    phases = ["hyper" if (t + 1) % 5 == 0 else "weights" for t in range(20)]
    durations = [(1.0 if p == "hyper" else 0.1) for p in phases]
    durations[0] += 0.5
    durations[4] += 0.5
    timings = _run(fake, durations, phases, per_step=True, eval_every=10).timings()
    assert timings.startup_s == pytest.approx(1.0)  # the two excesses, not the hyper-step work
    assert timings.step_s == pytest.approx((16 * 0.1 + 4 * 1.0) / 20)
    assert timings.phase_s == pytest.approx({"weights": 16 * 0.1 + 0.5, "hyper": 4 * 1.0 + 0.5})


def test_a_phase_that_runs_once_is_steady(fake):
    phases = ["forward"] * 9 + ["reverse"]
    timings = _run(fake, [0.1] * 9 + [3.0], phases, per_step=True, eval_every=10).timings()
    assert timings.startup_s == pytest.approx(0.0)
    assert timings.step_s == pytest.approx((9 * 0.1 + 3.0) / 10)
