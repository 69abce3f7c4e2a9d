"""Issue 20 oracles: a batch stepped in chunks of inits (each chunk one vmapped call) equals
the same batch as one vmapped call, for every registered method that supports batching
(float64, CPU), and the chunk size follows the cost model."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch.utils._pytree import tree_flatten

from hgbench.bench.chunking import (
    MIN_CHUNK,
    bounds,
    choose_chunk,
    chunked,
    last_level_cache,
    step_bytes,
)
from hgbench.bench.loop import BatchedStepper, train
from hgbench.methods import METHODS
from hgbench.methods.core.hyper import sample_initial_hypers
from hgbench.tasks import fused
from hgbench.tasks.fused import mlp1
from tests.batching import BATCHABLE, close, diabetes_float64

N = 5
STEPS = 12


@pytest.fixture(scope="module")
def problem():
    return diabetes_float64()


def _run(problem, method, hypers, chunk):
    w0s = [problem.init_weights(k) for k in range(len(hypers))]
    stepper = BatchedStepper(problem, method, len(hypers), chunk=chunk)
    torch.manual_seed(0)
    s = stepper.init(w0s, problem.init_model_state(), hypers)
    for t in range(STEPS):
        s = stepper.step(s, t)
    return stepper.finalize(s), stepper


@pytest.mark.parametrize("key", BATCHABLE)
def test_chunks_equal_one_vmapped_call(problem, key: str) -> None:
    method = METHODS.get(key)()
    hypers = sample_initial_hypers(seed=4, n=N)
    whole, _ = _run(problem, method, hypers, chunk=N)
    parts, stepper = _run(problem, method, hypers, chunk=2)
    assert stepper.chunk == 2
    leaves_w, spec_w = tree_flatten(whole)
    leaves_p, spec_p = tree_flatten(parts)
    assert spec_w == spec_p
    for a, b in zip(leaves_p, leaves_w, strict=True):
        assert a.shape == b.shape and close(a, b), key
    h_whole = torch.func.vmap(method.hyperparameters)(whole)
    h_parts = stepper.hyperparameters(parts)
    for name, v in h_whole.items():
        assert close(h_parts[name], v), (key, name)


def test_chunked_training_records_equal_one_call(problem) -> None:
    method = METHODS.get("hd_sgd")()
    hypers = sample_initial_hypers(seed=5, n=N)
    w0s = [problem.init_weights(k) for k in range(N)]
    kw = {"budget": STEPS, "eval_every": 4, "batched": True}
    whole = train(problem, method, w0s, hypers, chunk=N, **kw)
    parts = train(problem, method, w0s, hypers, chunk=3, **kw)
    assert parts.costs == whole.costs
    for a, b in zip(parts.inits, whole.inits, strict=True):
        assert a.status == b.status
        for name, v in b.final.items():
            assert math.isclose(a.final[name], v, rel_tol=1e-10, abs_tol=1e-14), name
        assert [r[2:4] for r in a.records] == [r[2:4] for r in b.records]


def test_chunks_share_one_random_draw() -> None:
    """Each chunk starts from the RNG state of the first, as one call with randomness='same'."""
    fn = torch.func.vmap(lambda x: x + torch.rand(()), randomness="same")
    x = torch.zeros(7, dtype=torch.float64)
    torch.manual_seed(3)
    whole = fn(x)
    torch.manual_seed(3)
    parts = chunked(fn, x, 7, 3, torch.device("cpu"))
    assert torch.equal(parts, whole)


def test_choose_chunk_follows_the_cache_model() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert choose_chunk(200, 10 * 2**20, 32 * 2**20, cpu) == 3  # 200 in 67 chunks of <= 3
    assert choose_chunk(200, 2**10, 32 * 2**20, cpu) == 200  # all fit
    assert choose_chunk(200, 2**30, 32 * 2**20, cpu) == MIN_CHUNK
    assert choose_chunk(200, 10 * 2**20, 32 * 2**20, cuda) == 200
    assert choose_chunk(10, 0, 32 * 2**20, cpu) == 10
    assert choose_chunk(200, 10 * 2**20, None, cpu) == 200  # freed memory kept: one call
    assert bounds(7, 3) == [(0, 3), (3, 6), (6, 7)]


def test_step_bytes_counts_new_tensors_and_leaves_counters(problem) -> None:
    method = METHODS.get("fixed")()
    hypers = sample_initial_hypers(seed=6, n=2)
    stepper = BatchedStepper(problem, method, 2, chunk=2)
    s = stepper.init([problem.init_weights(k) for k in range(2)], problem.init_model_state(),
                     hypers)  # fmt: skip
    before = problem.counter.as_dict()
    rng = torch.get_rng_state()
    rows = problem.train_batch(0).inputs.shape[0]
    total, largest = step_bytes(problem, method, s, 0)
    assert problem.counter.as_dict() == before
    assert torch.equal(torch.get_rng_state(), rng)
    assert total >= largest >= rows * 8  # at least one activation of the batch, float64


def test_the_default_chunk_follows_the_path_the_batch_takes(problem, monkeypatch) -> None:
    """The chunk is sized by a batched step's own tensors: with the fused kernel (nothing of
    rows x H stored) a budget below one init's activations still steps every init in one call;
    with the kernel off, autograd's activations set it."""
    if fused.unavailable_reason(torch.float64) is not None:
        pytest.skip("no C compiler: no fused kernel")
    method = METHODS.get("fixed")()
    hypers = sample_initial_hypers(seed=8, n=N)
    stepper = BatchedStepper(problem, method, N, chunk=N)
    s = stepper.init([problem.init_weights(k) for k in range(N)], problem.init_model_state(),
                     hypers)  # fmt: skip
    rows, d = problem.train_batch(0).inputs.shape
    weights = s["w"].shape[1]
    hidden = mlp1.hidden_width(weights, d)
    _, unbatched = step_bytes(problem, method, s, 0)
    _, batched = step_bytes(problem, method, s, 0, batched=True)
    assert unbatched >= rows * hidden * 8 > weights * 8 == batched  # float64: [rows, H] against [P]
    monkeypatch.setenv("HGBENCH_CHUNK_BYTES", str(2 * batched))
    assert _run(problem, method, hypers, chunk=None)[1].chunk == 2  # 2 * P fits, not N * P
    monkeypatch.setenv("HGBENCH_CHUNK_BYTES", str(N * weights * 8))
    assert _run(problem, method, hypers, chunk=None)[1].chunk == N
    monkeypatch.setenv("HGBENCH_FUSED", "0")
    assert _run(problem, method, hypers, chunk=None)[1].chunk == MIN_CHUNK  # activations


def test_default_chunk_is_the_budget_s(problem, monkeypatch) -> None:
    """HGBENCH_CHUNK_BYTES sets the budget: below one init's largest tensor, MIN_CHUNK."""
    method = METHODS.get("fixed")()
    hypers = sample_initial_hypers(seed=7, n=N)
    monkeypatch.setenv("HGBENCH_CHUNK_BYTES", "1")
    _, stepper = _run(problem, method, hypers, chunk=None)
    assert stepper.chunk == MIN_CHUNK
    monkeypatch.setenv("HGBENCH_CHUNK_BYTES", "1G")
    _, stepper = _run(problem, method, hypers, chunk=None)
    assert stepper.chunk == N


def test_last_level_cache_reads_sysfs(tmp_path: Path) -> None:
    for i, (level, kind, size, cpus) in enumerate(
        [(1, "Data", "48K", "0"), (1, "Instruction", "32K", "0"), (2, "Unified", "1024K", "0"),
         (3, "Unified", "32768K", "0-1")]
    ):  # fmt: skip
        d = tmp_path / f"index{i}"
        d.mkdir()
        for name, value in (("level", level), ("type", kind), ("size", size),
                            ("shared_cpu_list", cpus)):  # fmt: skip
            (d / name).write_text(f"{value}\n")
    assert last_level_cache(tmp_path) == (32 * 2**20, 2)
    assert last_level_cache(tmp_path / "missing")[1] == 1
