"""The runner's CUDA paths on a real GPU (marker ``cuda``; skipped without one; run by
``scripts/device_check.py``).

* synchronised timing: steps whose device work (``torch.cuda._sleep``) returns to the host at
  once are timed at their device duration, unphased (windows closed by a sync) and phased
  (CUDA events);
* run-owned peak memory of a known allocation, exact to the allocator's rounding, and the
  peak of each phase;
* nothing left allocated after a run: ``torch.cuda.memory_allocated()`` back to its value
  before the run;
* no host synchronisation inside a steady step of any batchable method, one init and two
  batched (``torch.cuda.set_sync_debug_mode("error")``);
* batched inits equal to the same inits one by one.

``HGBENCH_CUDA_TEST_DEVICE=cpu`` runs the same tests on the CPU to check the tests' own code
(the allocator checks skip there; timing sleeps on the host instead).
"""

from __future__ import annotations

import gc
import os
import time
from contextlib import contextmanager
from typing import ClassVar

import pytest
import torch
from torch import Tensor

from hgbench.bench.config import RunConfig, WorkItem
from hgbench.bench.loop import BatchedStepper, SingleStepper, train
from hgbench.bench.memory import MemoryProbe
from hgbench.bench.worker import execute
from hgbench.methods import METHODS
from hgbench.methods.core import diff
from hgbench.methods.core.hyper import sample_initial_hypers
from hgbench.spec import InitialHyper, Method, ModelState, Problem, State
from hgbench.tasks import TASKS
from hgbench.tasks.synthetic import register_synthetic_tasks, unregister_synthetic_tasks

DEVICE = os.environ.get("HGBENCH_CUDA_TEST_DEVICE", "cuda")
ON_CUDA = DEVICE == "cuda"
pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(ON_CUDA and not torch.cuda.is_available(), reason="needs a CUDA device"),
]
MIB = 2**20
HYPER = InitialHyper(0, lr=1e-3, weight_decay=1e-4, momentum=0.5)


@pytest.fixture(scope="module", autouse=True)
def synthetic():
    register_synthetic_tasks()
    yield
    unregister_synthetic_tasks()


def energy(width: int = 16) -> Problem:
    """The UCI Energy shapes (full batch: no per-step data movement from the host)."""
    return TASKS.get("synthetic_uci_energy")("small", width=width).build(device=DEVICE)


def allocated() -> int:
    gc.collect()
    torch.cuda.synchronize()
    return int(torch.cuda.memory_allocated())


class SleepSGD(Method):
    """Plain SGD whose step also keeps the device busy for ``seconds[phase]`` (on the CPU:
    the host sleeps) and holds ``transient_mib[phase]`` MiB while it does."""

    key: ClassVar[str] = "cuda_test_sleep"
    has_phases: ClassVar[bool] = False
    seconds: tuple[float, float] = (0.005, 0.005)
    transient_mib: tuple[int, int] = (0, 0)
    cycles_per_s: float = 1e9

    def phase(self, t: int) -> str:
        return ("a", "b")[t % 2] if self.has_phases else "step"

    def init(self, problem: Problem, w0: Tensor, mstate: ModelState, hyper: InitialHyper) -> State:
        return {"w": w0, "mstate": mstate}

    def step(self, problem: Problem, state: State, t: int) -> tuple[State, Tensor]:
        i = t % 2 if self.has_phases else 0
        scratch = torch.ones(self.transient_mib[i] * MIB // 4, device=problem.device)
        if problem.device.type == "cuda":
            torch.cuda._sleep(int(self.seconds[i] * self.cycles_per_s))
        else:
            time.sleep(self.seconds[i])
        loss, g, mstate = diff.value_and_grad(
            problem, state["w"], state["mstate"], problem.train_batch(t)
        )
        del scratch
        return {"w": state["w"] - 1e-3 * g, "mstate": mstate}, loss

    def hyperparameters(self, state: State) -> dict[str, Tensor]:
        return {}


class PhasedSleepSGD(SleepSGD):
    key: ClassVar[str] = "cuda_test_phased_sleep"
    has_phases: ClassVar[bool] = True


def cycles_per_second() -> float:
    if not ON_CUDA:
        return 1e9
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda._sleep(100_000_000)  # let the clocks rise
    start.record()
    torch.cuda._sleep(20_000_000)
    end.record()
    end.synchronize()
    return 20_000_000 / (start.elapsed_time(end) / 1e3)


def run(problem: Problem, method: Method, budget: int = 24, eval_every: int = 6):
    probe = MemoryProbe(problem.device).start()
    result = train(problem, method, [problem.init_weights(0)], [HYPER], budget=budget,
                   eval_every=eval_every, batched=False, memory_baseline=probe.baseline)  # fmt: skip
    return result, probe


def test_steps_are_timed_at_their_device_duration():
    problem, cps = energy(), cycles_per_second()
    flat, _ = run(problem, SleepSGD(seconds=(0.005, 0.005), cycles_per_s=cps))
    # unsynchronised, a step would read as its launch (~0.1 ms); the bounds allow for the
    # device clock changing after the calibration
    assert 0.4 * 0.005 <= flat.timings.step_s <= 3.0 * 0.005  # windows closed by a sync
    phased, _ = run(problem, PhasedSleepSGD(seconds=(0.004, 0.012), cycles_per_s=cps))
    t = phased.timings
    assert 0.4 * 0.008 <= t.step_s <= 3.0 * 0.008  # CUDA events: half a, half b
    extra = 12 * (0.012 - 0.004)  # 12 steps of each phase; the common work cancels
    assert 0.5 * extra <= t.phase_s["b"] - t.phase_s["a"] <= 2.0 * extra
    assert t.startup_steps == 2


def test_run_owned_and_phase_peaks_are_the_known_allocations():
    if not ON_CUDA:
        pytest.skip("the CUDA caching allocator's figures only")
    problem = energy()
    run(problem, PhasedSleepSGD(seconds=(0.0, 0.0)), budget=4)  # warm: library workspaces
    peaks = {}
    for big in (32, 96):
        result, probe = run(problem, PhasedSleepSGD(seconds=(0.0, 0.0), transient_mib=(4, big)))
        phase = result.timings.phase_peak_bytes
        # both phases hold the same state, so the difference is the transients' exactly
        assert phase["b"] - phase["a"] == (big - 4) * MIB
        assert big * MIB <= phase["b"] < big * MIB + 2 * MIB
        peaks[big] = probe.peak(result.cuda_peak_bytes)
        assert peaks[big] >= phase["b"]
    assert peaks[96] - peaks[32] == 64 * MIB  # exact to the allocator's 512-byte rounding


def test_known_allocation_through_the_runner_is_exact(toys):
    if not ON_CUDA:
        pytest.skip("the CUDA caching allocator's figures only")

    def peak(mib: int) -> int:
        cfg = RunConfig(task="toy_quadratic", method="toy_allocate", device="cuda",
                        method_settings={"mib": mib})  # fmt: skip
        (row,) = execute(WorkItem((cfg,)))["runs"]
        assert row["status"] == "ok", row["message"]
        return row["peak_memory_bytes"]

    peak(8)  # warm
    small, large = peak(64), peak(192)
    assert large - small == 128 * MIB
    assert 64 * MIB <= small <= 64 * MIB + MIB


LEAK_CONFIGS = [
    ("fixed", {}), ("hd_sgd", {}), ("tower", {"levels": "sgd/sgd"}),
    ("tower", {"levels": "adam/adam"}), ("implicit", {"T": 5}), ("unrolled", {"T": 5, "k": 3}),
    ("random_search", {"n": 2}), ("reversible", {"horizon": 5, "meta_iterations": 2}),
]  # fmt: skip


def _ids(configs: list[tuple[str, dict]]) -> list[str]:
    return [k + "".join(f"-{a}={b}" for a, b in s.items()) for k, s in configs]


@pytest.mark.parametrize("key,settings", LEAK_CONFIGS, ids=_ids(LEAK_CONFIGS))
def test_nothing_is_left_allocated_after_a_run(key, settings):
    if not ON_CUDA:
        pytest.skip("the CUDA caching allocator's figures only")

    def one_run() -> None:
        cfg = RunConfig(task="synthetic_uci_energy", method=key, method_settings=settings,
                        device="cuda", budget_steps=10, eval_every=5)  # fmt: skip
        (row,) = execute(WorkItem((cfg,)))["runs"]
        assert row["status"] == "ok", row["message"]

    one_run()  # warm: cuBLAS workspaces live as long as the process
    before = allocated()
    one_run()
    assert allocated() == before


FAST = {"implicit": {"T": 2, "K": 2}, "lorraine": {"T": 2, "K": 2}, "unrolled": {"T": 2, "k": 2},
        "random_search": {"n": 2}}  # fmt: skip
BATCHABLE = [k for k in METHODS.names() if METHODS.get(k).supports_batching]


@contextmanager
def no_host_sync():
    """Any synchronising CUDA call raises (CPU: nothing to check)."""
    if not ON_CUDA:
        yield
        return
    torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode("default")


@pytest.mark.parametrize("key", BATCHABLE)
@pytest.mark.parametrize("batched", [False, True], ids=["one", "batched"])
def test_steady_steps_never_synchronise(key, batched):
    problem = TASKS.get("synthetic_cifar10")("small", width=4, batch_size=8, train_rows=64,
                                              val_rows=16, test_rows=16).build(device=DEVICE)  # fmt: skip
    method = METHODS.get(key)(**FAST.get(key, {}))
    n = 2 if batched else 1
    stepper = BatchedStepper(problem, method, n) if batched else SingleStepper(problem, method)
    for t in range(8):  # the epoch orders, made on the host and moved once per epoch
        problem.train_batch(t), problem.val_batch(t)
    w0s = [problem.init_weights(k) for k in range(n)]
    state = stepper.init(w0s, problem.init_model_state(), sample_initial_hypers(0, n))
    seen: set[str] = set()
    for t in range(8):
        phase = method.phase(t)
        if phase in seen:  # steady: the first step of each phase may trace and sync
            with no_host_sync():
                state = stepper.step(state, t)
        else:
            seen.add(phase)
            state = stepper.step(state, t)
    assert len(stepper.window) == 8


BATCH_CONFIGS = [
    ("fixed", {}), ("hd_sgd", {}), ("tower", {}), ("baydin_loglr", {}), ("implicit", {"T": 5}),
    ("lorraine", {"T": 5}), ("unrolled", {"T": 5, "k": 2}), ("random_search", {"n": 2}),
]  # fmt: skip


@pytest.mark.parametrize("key,settings", BATCH_CONFIGS, ids=_ids(BATCH_CONFIGS))
def test_batched_inits_equal_one_by_one(key, settings):
    def cfg(k: int, size: int) -> RunConfig:
        return RunConfig(task="synthetic_uci_energy", method=key, method_settings=settings,
                         init_index=k, device=DEVICE, batch_size=size, budget_steps=20,
                         eval_every=10)  # fmt: skip

    batch = execute(WorkItem(tuple(cfg(k, 3) for k in range(3))))
    assert batch["batch"] is not None, "ran one by one, not batched"
    for k, row in enumerate(batch["runs"]):
        (single,) = execute(WorkItem((cfg(k, 1),)))["runs"]
        assert row["status"] == single["status"] == "ok", (row["message"], single["message"])
        for col in ("final_train_loss", "final_test_loss"):
            assert row[col] == pytest.approx(single[col], rel=1e-3, abs=1e-6), col
