"""A tiny self-contained :class:`hgbench.spec.Problem` for the method tests.

An MLP 3-4-1 (tanh) regressing random targets: 32 train, 16 val, 16 test examples, batches of 8
picked deterministically from ``t``. Small enough for finite differences in float64.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn
from torch.func import functional_call

from hgbench.spec import Batch, CostCounter, ModelState, ParamLayout, Problem, Split, Stream
from hgbench.tasks import TASKS


class TinyProblem(Problem):
    """MLP regression on random data; pure, vmappable, counts nothing itself."""

    name = "tiny"

    def __init__(self, dtype: torch.dtype = torch.float64, batch: int = 8, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.dtype = dtype
        self.device = torch.device("cpu")
        self.counter = CostCounter()
        self.batch = batch
        self.model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).to(dtype)
        self.layout = ParamLayout.from_module(self.model)

        def split(n: int) -> tuple[Tensor, Tensor]:
            x = torch.randn(n, 3, generator=gen, dtype=dtype)
            y = torch.sin(x.sum(-1, keepdim=True)) + 0.1 * torch.randn(
                n, 1, generator=gen, dtype=dtype
            )
            return x, y

        self.data = {"train": split(32), "val": split(16), "test": split(16)}

    def init_weights(self, seed: int) -> Tensor:
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).to(self.dtype)
        return torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def init_model_state(self) -> ModelState:
        return {"buffers": {}, "carry": {}}

    def _predict(self, w: Tensor, x: Tensor) -> Tensor:
        return functional_call(self.model, self.layout.unflatten(w), (x,))

    def loss(
        self, w: Tensor, mstate: ModelState, batch: Batch, stream: Stream = "train"
    ) -> tuple[Tensor, ModelState]:
        out = self._predict(w, batch.inputs)
        return ((out - batch.targets) ** 2).mean(), mstate

    def _batch(self, split: str, i: int) -> Batch:
        x, y = self.data[split]
        n = x.shape[0] // self.batch
        start = (i % n) * self.batch
        return Batch(x[start : start + self.batch], y[start : start + self.batch])

    def train_batch(self, t: int) -> Batch:
        return self._batch("train", t)

    def val_batch(self, i: int) -> Batch:
        return self._batch("val", i)

    def evaluate(self, w: Tensor, mstate: ModelState, split: Split) -> dict[str, Tensor]:
        x, y = self.data[split]
        mse = ((self._predict(w, x) - y) ** 2).mean()
        return {"loss": mse, "mse": mse}

    metric = "mse"


@pytest.fixture
def tiny() -> TinyProblem:
    return TinyProblem()


@pytest.fixture
def make_tiny():
    """Factory: ``make_tiny(batch=8, seed=0)`` builds a fresh :class:`TinyProblem`."""
    return TinyProblem


def stack_states(states: list) -> object:
    """Stack a list of state pytrees along a new leading init dimension."""
    from torch.utils._pytree import tree_map

    return tree_map(lambda *xs: torch.stack(xs), *states)


def assert_vmap_matches_single(
    method, problem, hypers, steps: int = 5, rtol: float = 1e-10
) -> None:
    """``vmap(step)`` over the inits gives the same states as stepping each init alone."""
    from torch.func import vmap
    from torch.utils._pytree import tree_flatten

    singles = [
        method.init(problem, problem.init_weights(k), problem.init_model_state(), h)
        for k, h in enumerate(hypers)
    ]
    batched = stack_states(singles)
    for t in range(steps):
        batched, losses = vmap(lambda s, t=t: method.step(problem, s, t))(batched)
        for k in range(len(singles)):
            singles[k], loss = method.step(problem, singles[k], t)
            torch.testing.assert_close(losses[k], loss, rtol=rtol, atol=1e-14)
    want = tree_flatten(stack_states(singles))[0]
    got = tree_flatten(batched)[0]
    assert len(want) == len(got)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=rtol, atol=1e-14)


@pytest.fixture
def vmap_check():
    return assert_vmap_matches_single


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    """Tiny models: one torch thread (two oversubscribe this 2-core machine ~20x)."""
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def quad() -> Problem:
    """The ridge-regression task with a closed-form hypergradient, in float64."""
    return TASKS.get("quadratic")().build(dtype=torch.float64)
