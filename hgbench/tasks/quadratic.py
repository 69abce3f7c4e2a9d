"""A ridge-regression task whose hypergradients are known in closed form.

Linear model ``f(x) = xᵀw`` (no bias) on synthetic Gaussian data, training objective
``L(w) = ½ mean((Xw - y)²)`` with the weight decay applied by the optimizer (L2 in the SGD
update). Its stationary point and exact implicit-function-theorem hypergradient are

    w*(λ) = (A + λI)⁻¹ b,  A = XᵀX/n, b = Xᵀy/n,
    dL_V(w*)/dλ = -∇L_V(w*)ᵀ (A + λI)⁻¹ w*,

so every method's hypergradient can be compared with the exact one
(:mod:`hgbench.analysis.fidelity`). Features have scales spread over ``condition`` (the
condition number of A is about ``condition²``), validation data is drawn from the same
distribution with fresh noise.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from hgbench.spec import BuildContext, Problem
from hgbench.tasks import TASKS
from hgbench.tasks.base import ScaledTask, SplitData, SupervisedProblem


def _half_squared_error(out: Tensor, y: Tensor) -> Tensor:
    return 0.5 * (out.reshape(y.shape) - y) ** 2


def _squared_error(out: Tensor, y: Tensor) -> Tensor:
    return (out.reshape(y.shape) - y) ** 2


class QuadraticProblem(SupervisedProblem):
    """A :class:`SupervisedProblem` for ridge regression with closed-form oracles."""

    def _gram(self, split: str) -> tuple[Tensor, Tensor]:
        data = self._splits[split]
        n = len(data)
        return data.inputs.T @ data.inputs / n, data.inputs.T @ data.targets / n

    def train_hessian(self) -> Tensor:
        """``A = XᵀX/n`` of the full training split (the Hessian of the loss, ``[D, D]``)."""
        return self._gram("train")[0]

    def grad_full(self, w: Tensor, split: str = "train") -> Tensor:
        """Gradient of the full-split loss ``½ mean((Xw - y)²)``: ``A w - b``."""
        a, b = self._gram(split)
        return a @ w - b

    def ridge_solution(self, weight_decay: float) -> Tensor:
        """``w*(λ) = (A + λI)⁻¹ b``: the fixed point of SGD with L2 ``λ`` on the full batch."""
        a, b = self._gram("train")
        eye = torch.eye(a.shape[0], dtype=a.dtype, device=a.device)
        return torch.linalg.solve(a + weight_decay * eye, b)

    def exact_hypergradient(self, weight_decay: float) -> dict[str, Tensor]:
        """Exact IFT hypergradients of ``L_V(w*(λ))``: ``{"weight_decay": d/dλ,
        "log10_weight_decay": d/d log10 λ, "lr": 0, "momentum": 0}`` (the fixed point
        does not depend on lr or momentum)."""
        a, _ = self._gram("train")
        w = self.ridge_solution(weight_decay)
        eye = torch.eye(a.shape[0], dtype=a.dtype, device=a.device)
        d = -self.grad_full(w, "val") @ torch.linalg.solve(a + weight_decay * eye, w)
        zero = torch.zeros((), dtype=a.dtype, device=a.device)
        return {
            "weight_decay": d,
            "log10_weight_decay": d * weight_decay * math.log(10.0),
            "lr": zero,
            "momentum": zero,
        }

    def one_step_lr_hypergradient(
        self,
        w: Tensor,
        lr: float,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        buf: Tensor | None = None,
    ) -> Tensor:
        """``d L_V(w₁)/dη`` for one full-batch SGD step ``w₁ = w - η(μb + ∇L(w) + λw)``:
        ``-∇L_V(w₁)ᵀ d`` with ``d`` the step direction (closed form)."""
        buf = torch.zeros_like(w) if buf is None else buf
        d = momentum * buf + self.grad_full(w) + weight_decay * w
        return -self.grad_full(w - lr * d, "val") @ d


@TASKS.register("quadratic")
class Quadratic(ScaledTask):
    """Synthetic ridge regression with closed-form IFT hypergradients (an oracle task for
    hypergradient fidelity; no data download). Metric: test MSE (``"mse"``)."""

    key: ClassVar[str] = "quadratic"
    family: ClassVar[str] = "synthetic"
    embedded: ClassVar[bool] = True
    scales: ClassVar[dict[str, dict[str, Any]]] = {
        "small": {
            "steps": 200,
            "dim": 10,
            "n_train": 200,
            "n_val": 100,
            "n_test": 100,
            "noise": 0.5,
            "condition": 3.0,
            "batch_size": None,
        },
        "paper": {
            "steps": 4000,
            "dim": 100,
            "n_train": 2000,
            "n_val": 1000,
            "n_test": 1000,
            "noise": 0.5,
            "condition": 10.0,
            "batch_size": None,
        },
    }

    def data_files(self, data_dir: str | None = None) -> list[Path]:
        """None: the data are generated from ``data_seed``."""
        return []

    def build_problem(self, ctx: BuildContext) -> Problem:
        """The data depend on ``data_seed`` (generated, never downloaded)."""
        p = self.params
        if not p["condition"] >= 1.0:
            raise ValueError(f"quadratic: condition must be >= 1, got {p['condition']}")
        if p["noise"] < 0:
            raise ValueError(f"quadratic: noise must be >= 0, got {p['noise']}")
        rng = np.random.default_rng([ctx.data_seed, 0x9AD])
        d = p["dim"]
        scales = np.geomspace(1.0, 1.0 / p["condition"], d)
        w_true = rng.normal(size=d)

        def split(n: int) -> SplitData:
            x = rng.normal(size=(n, d)) * scales
            y = x @ w_true + p["noise"] * rng.normal(size=n)
            return SplitData(torch.from_numpy(x), torch.from_numpy(y))

        train, val, test = split(p["n_train"]), split(p["n_val"]), split(p["n_test"])
        return QuadraticProblem(
            name=self.key,
            model_factory=lambda: nn.Linear(d, 1, bias=False),
            train=train,
            val=val,
            test=test,
            loss_fn=_half_squared_error,
            metrics={"mse": _squared_error},
            metric="mse",
            batch_size=p["batch_size"],
            **ctx.problem_args(),
        )
