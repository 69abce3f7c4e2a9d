"""Embedded tasks: data bundled with scikit-learn, so the default run needs no download.

* ``sk_diabetes``: Efron et al. (2004) diabetes regression (442 x 10), MLP [10, 50, 1], full
  batch, metric unnormalised test MSE (``"mse"``).
* ``sk_digits``: UCI optical hand-written digits, 8x8 (1797 x 64), MLP 64-50-10, batch 50,
  metric test accuracy.

Splits are fixed: rows are shuffled once with ``numpy.random.RandomState(0)`` (a stream NumPy
guarantees stable), then cut into train / val / test; ``data_seed`` only changes batch order.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from hgbench.spec import BuildContext, Problem
from hgbench.tasks import TASKS
from hgbench.tasks.base import ScaledTask, SplitData, SupervisedProblem, take
from hgbench.tasks.losses import accuracy, cross_entropy
from hgbench.tasks.models import mlp
from hgbench.tasks.regression import first_training_rows, regression_problem

SPLIT_SEED = 0


def sklearn_data_files(*names: str) -> list[Path]:
    """scikit-learn's bundled data files ``names`` (in ``sklearn/datasets/data/``), found
    without importing scikit-learn."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("scikit-learn is not installed: pip install scikit-learn")
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    paths = [folder / name for name in names]
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(
                f"scikit-learn's bundled data file {path} is missing; reinstall scikit-learn"
            )
    return paths


def _fixed_order(n: int) -> np.ndarray:
    return np.random.RandomState(SPLIT_SEED).permutation(n)


@TASKS.register("sk_diabetes")
class SkDiabetes(ScaledTask):
    """Diabetes progression regression (scikit-learn's bundled copy of Efron et al., 2004,
    "Least Angle Regression"): 442 rows split 318 / 80 / 44, MLP [10, width, 1], full batch."""

    key: ClassVar[str] = "sk_diabetes"
    family: ClassVar[str] = "embedded"
    embedded: ClassVar[bool] = True
    n_train, n_val = 318, 80
    scales: ClassVar[dict[str, dict[str, Any]]] = {
        "small": {"steps": 500, "width": 50, "subset": None},
        "paper": {"steps": 4000, "width": 50, "subset": None},
    }

    def data_files(self, data_dir: str | None = None) -> list[Path]:
        """What ``load_diabetes(scaled=False)`` reads (``data_dir`` is not used)."""
        return sklearn_data_files("diabetes_data_raw.csv.gz", "diabetes_target.csv.gz")

    def build_problem(self, ctx: BuildContext) -> Problem:
        from sklearn.datasets import load_diabetes

        x, y = load_diabetes(return_X_y=True, scaled=False)
        order = _fixed_order(len(y))
        x, y = x[order], y[order]
        x, y, n_train = first_training_rows(x, y, self.n_train, self.params["subset"], self.key)
        return regression_problem(
            self.key,
            x,
            y,
            n_train=n_train,
            n_val=self.n_val,
            width=self.params["width"],
            **ctx.problem_args(),
        )


@TASKS.register("sk_digits")
class SkDigits(ScaledTask):
    """Hand-written digits classification (scikit-learn's bundled copy of the UCI "Optical
    Recognition of Handwritten Digits" test set, Alpaydin & Kaynak, 1998): 1797 8x8 images
    (pixels / 16) split 1200 / 300 / 297, MLP 64-width-10, batch 50, metric accuracy."""

    key: ClassVar[str] = "sk_digits"
    family: ClassVar[str] = "embedded"
    embedded: ClassVar[bool] = True
    n_train, n_val = 1200, 300
    scales: ClassVar[dict[str, dict[str, Any]]] = {
        "small": {"steps": 240, "width": 50, "subset": None, "batch_size": 50},
        "paper": {"steps": 2400, "width": 50, "subset": None, "batch_size": 50},
    }

    def data_files(self, data_dir: str | None = None) -> list[Path]:
        """What ``load_digits`` reads (``data_dir`` is not used)."""
        return sklearn_data_files("digits.csv.gz")

    def build_problem(self, ctx: BuildContext) -> Problem:
        from sklearn.datasets import load_digits

        x, y = load_digits(return_X_y=True)
        order = _fixed_order(len(y))
        xt = torch.from_numpy(x[order] / 16.0)
        yt = torch.from_numpy(y[order]).long()
        n_train = take(self.params["subset"], self.n_train, "subset", self.key)
        n_fit = self.n_train + self.n_val
        width = self.params["width"]
        return SupervisedProblem(
            name=self.key,
            model_factory=lambda: mlp([64, width, 10]),
            train=SplitData(xt[:n_train], yt[:n_train]),
            val=SplitData(xt[self.n_train : n_fit], yt[self.n_train : n_fit]),
            test=SplitData(xt[n_fit:], yt[n_fit:]),
            loss_fn=cross_entropy,
            metrics={"accuracy": accuracy},
            metric="accuracy",
            lower_is_better=False,
            batch_size=min(self.params["batch_size"], n_train),
            val_batch_size=self.params["batch_size"],
            **ctx.problem_args(),
        )
