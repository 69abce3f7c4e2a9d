"""The clock's and the memory probe's CUDA code paths, on the CPU, against a fake CUDA runtime.

The fake stands in for the four things those paths call: ``synchronize`` (counted),
timing ``Event``\\ s on a fake device clock that the test advances (device work that costs
no host time), and the caching allocator's ``memory_allocated`` / ``max_memory_allocated`` /
``reset_peak_memory_stats``. The real thing is checked by ``tests/cuda`` on a GPU.
"""

from __future__ import annotations

import pytest
import torch

from hgbench.bench.clock import StepClock
from hgbench.bench.memory import MemoryProbe

CUDA = torch.device("cuda")


class FakeCuda:
    def __init__(self) -> None:
        self.syncs = 0
        self.device_time = 0.0  # seconds on the fake device clock
        self.current = 0
        self.peak = 0

    def work(self, seconds: float, transient: int = 0) -> None:
        """Device work of ``seconds`` that allocates and frees ``transient`` bytes."""
        self.device_time += seconds
        self.current += transient
        self.peak = max(self.peak, self.current)
        self.current -= transient

    def hold(self, nbytes: int) -> None:
        self.current += nbytes
        self.peak = max(self.peak, self.current)


@pytest.fixture
def fake(monkeypatch):
    cuda = FakeCuda()

    class Event:
        def __init__(self, enable_timing: bool = False) -> None:
            assert enable_timing
            self.at: float | None = None

        def record(self) -> None:
            self.at = cuda.device_time

        def elapsed_time(self, end: Event) -> float:
            return (end.at - self.at) * 1e3  # milliseconds, as torch's

    def synchronize(device=None) -> None:
        cuda.syncs += 1

    def reset_peak(device=None) -> None:
        cuda.peak = cuda.current

    monkeypatch.setattr(torch.cuda, "synchronize", synchronize)
    monkeypatch.setattr(torch.cuda, "Event", Event)
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", reset_peak)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: cuda.peak)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device=None: cuda.current)
    return cuda


def _phase(t: int) -> str:
    return "hyper" if t % 3 == 2 else "weights"


def test_phased_steps_are_timed_by_events_without_a_sync(fake):
    clock = StepClock(CUDA, per_step=True)
    with clock.init():
        fake.work(0.0, transient=1000)  # a transient at init, before any per-step reset
    for t in range(6):
        phase = _phase(t)
        before = fake.syncs
        with clock.step(t, phase):
            fake.work(0.01 if phase == "weights" else 0.05, 10 if phase == "weights" else 30)
        if t >= 3:  # both phases seen: steady steps
            assert fake.syncs == before, f"step {t} synchronised the device"
    tm = clock.timings()
    # weights ran 4 steps (0.01 s each on the device), hyper 2 (0.05 s): weighed by counts
    assert tm.step_s == pytest.approx(4 / 6 * 0.01 + 2 / 6 * 0.05)
    assert tm.phase_peak_bytes == {"weights": 10, "hyper": 30}
    assert clock.run_peak_bytes() == 1000  # the init's transient is not lost to a reset


def test_unphased_window_syncs_only_at_its_ends(fake):
    clock = StepClock(CUDA, per_step=False)
    with clock.init():
        pass
    with clock.step(0):
        fake.work(0.01)
    before = fake.syncs
    for t in range(1, 9):
        with clock.step(t):
            fake.work(0.01)
    assert fake.syncs - before == 1  # the window opens with one sync, none inside
    clock.pause()
    assert fake.syncs - before == 2  # and closes with one


def test_probe_measures_above_the_allocation_at_the_start(fake):
    fake.hold(5000)  # held before the run: not the run's
    probe = MemoryProbe(CUDA).start()
    assert probe.kind == "cuda_run_allocated" and probe.baseline == 5000
    fake.hold(300)  # the run's data
    clock = StepClock(CUDA, per_step=True, baseline_bytes=probe.baseline)
    with clock.init():
        fake.work(0.0, transient=700)
    for t in range(4):
        with clock.step(t, _phase(t)):
            fake.work(0.0, transient=50)
    assert probe.peak(clock.run_peak_bytes()) == 1000  # 300 held + 700 transient
    assert probe.process_peak() == 6000  # across the loop's per-step resets
