"""Tiny test-local tasks and methods for the harness tests (registered under ``toy_*``).

A least-squares problem on a fixed random design, plain SGD, and methods that misbehave on
purpose: diverge, raise, sleep past a time limit, run out of memory, crash the process.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any, ClassVar

import torch
from torch import Tensor

from hgbench.methods.core import diff
from hgbench.spec import (
    Batch,
    BuildContext,
    CostCounter,
    InitialHyper,
    Method,
    ModelState,
    ParamLayout,
    Problem,
    State,
    Task,
)

P, N, BATCH = 4, 64, 16


class ToyProblem(Problem):
    """Least squares ``mean((X w - y)^2)`` on a fixed random design (Hessian norm ~ 2)."""

    name = "toy_quadratic"
    metric = "mse"

    def __init__(self, device: Any, dtype: torch.dtype, data_seed: int, batchable: bool) -> None:
        g = torch.Generator().manual_seed(1234)
        x = torch.randn(3 * N, P, generator=g, dtype=torch.float64)
        y = x @ torch.randn(P, generator=g, dtype=torch.float64) + 0.1 * torch.randn(
            3 * N, generator=g, dtype=torch.float64
        )
        self.device, self.dtype = torch.device(device), dtype
        self.x, self.y = x.to(device, dtype), y.to(device, dtype)
        self.layout = ParamLayout(("w",), (torch.Size([P]),), (0,))
        self.counter = CostCounter()
        self.data_seed = data_seed
        self.supports_batching = batchable

    def init_weights(self, seed: int) -> Tensor:
        g = torch.Generator().manual_seed(seed)
        return torch.randn(P, generator=g, dtype=torch.float64).to(self.device, self.dtype)

    def init_model_state(self) -> ModelState:
        return {"buffers": {}, "carry": {}}

    def loss(
        self, w: Tensor, mstate: ModelState, batch: Batch, stream: str = "train"
    ) -> tuple[Tensor, ModelState]:
        return ((batch.inputs @ w - batch.targets) ** 2).mean(), mstate

    def _rows(self, lo: int, idx: Tensor) -> Batch:
        return Batch(self.x[lo + idx], self.y[lo + idx])

    def train_batch(self, t: int) -> Batch:
        g = torch.Generator().manual_seed(self.data_seed * 100_000 + t)
        return self._rows(0, torch.randperm(N, generator=g)[:BATCH].to(self.device))

    def val_batch(self, i: int) -> Batch:
        return self._rows(N, torch.arange(N, device=self.device))

    def evaluate(self, w: Tensor, mstate: ModelState, split: str) -> dict[str, Tensor]:
        lo = {"train": 0, "val": N, "test": 2 * N}[split]
        b = self._rows(lo, torch.arange(N, device=self.device))
        mse = ((b.inputs @ w - b.targets) ** 2).mean()
        return {"loss": mse, "mse": mse}


class ToyTask(Task):
    key: ClassVar[str] = "toy_quadratic"
    family: ClassVar[str] = "toy"

    def __init__(self, scale: str = "small", steps: int = 40, batchable: bool = True) -> None:
        super().__init__(scale, steps=steps, batchable=batchable)
        self.steps, self.batchable = steps, batchable

    @property
    def budget_steps(self) -> int:
        return self.steps

    @property
    def eval_every(self) -> int:
        return 10

    def build_problem(self, ctx: BuildContext) -> Problem:
        return ToyProblem(ctx.device, ctx.dtype, ctx.data_seed, self.batchable)


class ToySGD(Method):
    """Plain SGD at the paired initial learning rate times ``lr_scale`` (test toy)."""

    key: ClassVar[str] = "toy_sgd"

    lr_scale: float = 1.0

    def init(self, problem: Problem, w0: Tensor, mstate: ModelState, hyper: InitialHyper) -> State:
        lr = torch.as_tensor(hyper.lr * self.lr_scale, dtype=w0.dtype, device=w0.device)
        return {"w": w0, "mstate": mstate, "lr": lr}

    def step(self, problem: Problem, state: State, t: int) -> tuple[State, Tensor]:
        loss, g, mstate = diff.value_and_grad(
            problem, state["w"], state["mstate"], problem.train_batch(t)
        )
        w = state["w"] - state["lr"] * g
        return {"w": w, "mstate": mstate, "lr": state["lr"]}, loss

    def hyperparameters(self, state: State) -> dict[str, Tensor]:
        return {"lr": state["lr"]}


class ToyRaise(ToySGD):
    key: ClassVar[str] = "toy_raise"

    def step(self, problem: Problem, state: State, t: int) -> tuple[State, Tensor]:
        if t == 3:
            raise RuntimeError("toy failure at step 3")
        return super().step(problem, state, t)


class ToySleep(ToySGD):
    key: ClassVar[str] = "toy_sleep"

    def step(self, problem: Problem, state: State, t: int) -> tuple[State, Tensor]:
        time.sleep(0.5)
        return super().step(problem, state, t)


class ToyOOM(ToySGD):
    key: ClassVar[str] = "toy_oom"

    def step(self, problem: Problem, state: State, t: int) -> tuple[State, Tensor]:
        raise torch.OutOfMemoryError("toy: tried to allocate 1 PiB")


class ToyCrash(ToySGD):
    key: ClassVar[str] = "toy_crash"

    def step(self, problem: Problem, state: State, t: int) -> tuple[State, Tensor]:
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")


class ToyNoBatch(ToySGD):
    key: ClassVar[str] = "toy_nobatch"
    supports_batching: ClassVar[bool] = False


class ToySlowStart(ToySGD):
    """Its first step sleeps ``first_sleep_s`` (a stand-in for tracing); later steps do not."""

    key: ClassVar[str] = "toy_slow_start"
    first_sleep_s: float = 0.3

    def step(self, problem: Problem, state: State, t: int) -> tuple[State, Tensor]:
        if t == 0:
            time.sleep(self.first_sleep_s)
        return super().step(problem, state, t)


class ToyAllocate(ToySGD):
    """Holds ``mib`` MiB of touched memory in its state (a known run-owned allocation)."""

    key: ClassVar[str] = "toy_allocate"
    supports_batching: ClassVar[bool] = False
    mib: int = 64

    def init(self, problem: Problem, w0: Tensor, mstate: ModelState, hyper: InitialHyper) -> State:
        state = super().init(problem, w0, mstate, hyper)
        n = self.mib * 2**20 // 8
        return {**state, "ballast": torch.ones(n, dtype=torch.float64, device=problem.device)}

    def step(self, problem: Problem, state: State, t: int) -> tuple[State, Tensor]:
        new, loss = super().step(problem, state, t)
        return {**new, "ballast": state["ballast"]}, loss


class ToyCpuOOM(ToySGD):
    """Asks torch's CPU allocator for far more memory than any machine has."""

    key: ClassVar[str] = "toy_cpu_oom"

    def step(self, problem: Problem, state: State, t: int) -> tuple[State, Tensor]:
        torch.empty(2**62, dtype=torch.uint8)
        raise AssertionError("unreachable")


class ToyNewKey(ToySGD):
    """Breaks the state contract: its step adds a key that init did not make."""

    key: ClassVar[str] = "toy_new_key"

    def step(self, problem: Problem, state: State, t: int) -> tuple[State, Tensor]:
        new, loss = super().step(problem, state, t)
        return {**new, "schedule": new["lr"] * 0.5}, loss


TOY_METHODS = (
    ToySGD, ToyRaise, ToySleep, ToyOOM, ToyCrash, ToyNoBatch, ToySlowStart, ToyAllocate,
    ToyCpuOOM, ToyNewKey,
)  # fmt: skip
