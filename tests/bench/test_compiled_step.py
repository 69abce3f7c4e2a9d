"""The batched step compiled with torch.compile (hgbench.bench.compiled, ``--compile-step``):
equal to the eager batched step for every batchable method (float64, CPU), with the same cost
counts, no new graph per step, an eager fallback with its reason where a step does not
compile, and a method's own errors still raised."""

from __future__ import annotations

import gc
import shutil

import pytest
import torch
from torch._dynamo.utils import counters
from torch.utils._pytree import tree_leaves

from hgbench.bench.config import RunConfig
from hgbench.bench.loop import BatchedStepper, train
from hgbench.methods import METHODS
from hgbench.methods.core.hyper import sample_initial_hypers
from hgbench.methods.fixed import Fixed
from tests.batching import BATCHABLE, close, diabetes_float64

N = 3
STEPS = 8
#: settings that put hyper-steps inside STEPS (every 3 weight steps)
SHORT_PERIODS = {
    "implicit": {"T": 3, "K": 2},
    "lorraine": {"T": 3, "K": 2},
    "unrolled": {"T": 3, "k": 2},
    "random_search": {"T": 3},
}
#: the CPU backend (inductor) compiles C++: without a compiler every step falls back to eager
CXX = any(shutil.which(c) for c in ("g++", "c++", "clang++"))
needs_cxx = pytest.mark.skipif(not CXX, reason="no C++ compiler: torch.compile's CPU backend")
#: the methods whose step does not compile with torch 2.13 (they stay eager, with a reason):
#: random search vmaps its members itself, through torch._C._functorch calls dynamo skips
EAGER = {"random_search"}


@pytest.fixture(scope="module")
def problem():
    return diabetes_float64()


def _run(problem, method, compile_step: bool, steps: int = STEPS):
    hypers = sample_initial_hypers(seed=3, n=N)
    w0s = [problem.init_weights(k) for k in range(N)]
    problem.counter.reset()
    stepper = BatchedStepper(problem, method, N, chunk=N, compile=compile_step)
    try:
        state = stepper.init(w0s, problem.init_model_state(), hypers)
        for t in range(steps):
            state = stepper.step(state, t)
    finally:
        stepper.close()
    return state, problem.counter.as_dict(), stepper


@pytest.mark.parametrize("key", BATCHABLE)
def test_the_compiled_step_equals_the_eager_one(problem, key: str, recwarn) -> None:
    method = METHODS.get(key)(**SHORT_PERIODS.get(key, {}))
    eager, eager_counts, _ = _run(problem, method, False)
    compiled, compiled_counts, stepper = _run(problem, method, True)
    assert compiled_counts == eager_counts
    for a, b in zip(tree_leaves(compiled), tree_leaves(eager), strict=True):
        assert close(a, b), key
    reason = stepper._compiled.reason
    if not CXX:  # every step eager, and said so
        assert reason
    elif key not in EAGER:
        assert reason is None, f"{key}: {reason}"
    else:
        assert reason and any("compiled step off" in str(w.message) for w in recwarn)


def _graphs_after_each_step(problem, method, steps: int) -> list[int]:
    counters.clear()
    hypers = sample_initial_hypers(seed=3, n=N)
    stepper = BatchedStepper(problem, method, N, chunk=N, compile=True)
    graphs = []
    try:
        state = stepper.init([problem.init_weights(k) for k in range(N)],
                             problem.init_model_state(), hypers)  # fmt: skip
        for t in range(steps):
            state = stepper.step(state, t)
            graphs.append(counters["stats"]["unique_graphs"])
    finally:
        stepper.close()
    return graphs


@needs_cxx
def test_no_new_graph_per_step_and_one_per_phase(problem) -> None:
    """The step index is symbolic after the warm-up: steps add no graph; a method's
    hyper-step adds its branch once, at the first, not once per period."""
    fixed = _graphs_after_each_step(problem, Fixed(), 12)
    assert fixed[0] >= 1 and len(set(fixed)) == 1
    implicit = _graphs_after_each_step(problem, METHODS.get("implicit")(T=3, K=2), 13)
    assert implicit[2] > implicit[1]  # the first hyper-step (t = 2) compiles its branch
    assert len(set(implicit[2:])) == 1  # and the three after it reuse it


class _BreaksTheGraph(Fixed):
    key = "breaks_the_graph"

    def step(self, problem, state, t):  # noqa: ANN001, ANN201
        torch._dynamo.graph_break()
        return super().step(problem, state, t)


class _RaisesItsOwnError(Fixed):
    key = "raises_its_own_error"

    def step(self, problem, state, t):  # noqa: ANN001, ANN201
        if t == 2:
            raise ValueError("raises_its_own_error: a method's own check")
        return super().step(problem, state, t)


def test_a_step_that_does_not_compile_runs_eager_and_says_why(problem) -> None:
    eager, counts, _ = _run(problem, Fixed(), False)
    with pytest.warns(UserWarning, match="compiled step off for inits of 'breaks_the_graph'"):
        fallback, fallback_counts, stepper = _run(problem, _BreaksTheGraph(), True)
    assert stepper._compiled.reason and "\n" not in stepper._compiled.reason
    assert fallback_counts == counts
    for a, b in zip(tree_leaves(fallback), tree_leaves(eager), strict=True):
        assert torch.equal(a, b)


def test_a_methods_own_error_is_raised_not_hidden(problem) -> None:
    with pytest.raises(ValueError, match="a method's own check"):
        _run(problem, _RaisesItsOwnError(), True)


def test_train_with_a_compiled_step_records_what_eager_does(problem) -> None:
    method = Fixed()
    hypers = sample_initial_hypers(seed=4, n=N)
    w0s = [problem.init_weights(k) for k in range(N)]
    runs = [train(problem, method, w0s, hypers, budget=6, eval_every=3, batched=True,
                  compile_step=c) for c in (False, True)]  # fmt: skip
    assert runs[0].costs == runs[1].costs
    for a, b in zip(runs[0].inits, runs[1].inits, strict=True):
        assert a.status == b.status == "ok"
        for name, v in a.final.items():
            assert b.final[name] == pytest.approx(v, rel=1e-10, abs=1e-14), name


def _tensors_alive() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is torch.Tensor)


def test_a_compiled_run_leaves_no_tensor_behind(problem) -> None:
    """torch.compile keeps its graphs and the tensors they hold on the code object until
    reset: the run drops them at its end (hundreds of tensors otherwise)."""
    method = METHODS.get("implicit")(T=3, K=2)
    hypers = sample_initial_hypers(seed=4, n=N)
    w0s = [problem.init_weights(k) for k in range(N)]
    before = _tensors_alive()
    result = train(problem, method, w0s, hypers, budget=7, eval_every=7, batched=True,
                   compile_step=True)  # fmt: skip
    assert result.inits[0].status == "ok"
    del result
    assert _tensors_alive() <= before


def test_compile_step_is_part_of_a_runs_identity_and_needs_a_batch() -> None:
    base = RunConfig(task="sk_diabetes", method="fixed", batch_size=4)
    compiled = RunConfig(task="sk_diabetes", method="fixed", batch_size=4, compile_step=True)
    assert "step" not in base.hashed()  # eager runs keep the identity they had
    assert compiled.hashed()["step"] == "torch.compile"
    assert compiled.run_id != base.run_id
    with pytest.raises(ValueError, match="compile_step compiles the batched step"):
        RunConfig(task="sk_diabetes", method="fixed", compile_step=True)
