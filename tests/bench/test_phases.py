"""Per-phase method time for methods that declare phases (implicit: weights vs hyperstep)."""

from __future__ import annotations

import math

import torch

from hgbench.bench.loop import train
from hgbench.methods import METHODS
from hgbench.methods.core.hyper import sample_initial_hypers
from hgbench.tasks import TASKS


def _phase_records(result, i=0):
    return {m: v for (_, _, split, m, v) in result.inits[i].records if split == "phase"}


def test_phased_method_records_time_per_phase_summing_to_step_time() -> None:
    torch.set_num_threads(1)
    problem = TASKS.get("sk_diabetes")("small").build(dtype=torch.float64)
    method = METHODS.get("implicit")(T=5)
    assert [method.phase(t) for t in range(10)] == ["weights"] * 4 + ["hyperstep"] + [
        "weights"
    ] * 4 + ["hyperstep"]
    hypers = sample_initial_hypers(0, 2)
    w0s = [problem.init_weights(k) for k in range(2)]
    result = train(problem, method, w0s, hypers, budget=20, eval_every=10, batched=True)
    phase_s = result.timings.phase_s
    assert set(phase_s) == {"weights", "hyperstep"}
    assert all(v > 0 for v in phase_s.values())
    # the phases are timed inside the method time, so they cannot exceed it
    assert sum(phase_s.values()) <= result.method_time_s
    rec = _phase_records(result, 1)
    assert math.isclose(rec["hyperstep_time_s"], phase_s["hyperstep"] / 2)
    assert not result.timings.phase_peak_bytes  # CPU: no per-phase allocator peak
    # start-up is init plus the first step of each phase; the rest is steady
    assert result.timings.startup_steps == 2
    assert 0 < result.timings.startup_s < result.method_time_s


def test_method_without_phases_records_none() -> None:
    problem = TASKS.get("sk_diabetes")("small").build(dtype=torch.float64)
    method = METHODS.get("fixed")()
    assert not method.has_phases
    w0 = problem.init_weights(0)
    result = train(
        problem, method, [w0], sample_initial_hypers(0, 1), budget=5, eval_every=5, batched=False
    )
    assert _phase_records(result) == {}
    assert result.timings.startup_steps == 1
