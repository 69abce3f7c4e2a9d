"""Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017, arXiv:1708.07747) with an MLP 784-50-10.

Clarke et al. (ICLR 2022) setup: the official 60k training images split in file order into
50k train / 10k validation, the official 10k test set; batch 50; 10 epochs (10,000 steps) at
paper scale; final test losses above 1e3 count as diverged. Pixels are scaled to [0, 1] and
z-normalised with the train+val mean and standard deviation (one scalar each). The reported
metric is the test cross-entropy ``"loss"``; ``"accuracy"`` is reported alongside.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from hgbench.spec import BuildContext, Problem
from hgbench.tasks import TASKS
from hgbench.tasks.base import ScaledTask, SplitData, SupervisedProblem, take
from hgbench.tasks.data.errors import DataFormatError
from hgbench.tasks.data.formats import idx_expected, read_idx, require_file
from hgbench.tasks.data.paths import resolve_data_dir
from hgbench.tasks.losses import accuracy, cross_entropy
from hgbench.tasks.models import mlp

FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
N_VAL = 10_000


def fashion_mnist_files(data_dir: str | Path | None = None) -> list[Path]:
    """The four idx files :func:`load_fashion_mnist` reads (a clear error if one is missing)."""
    folder = resolve_data_dir(data_dir) / "fashion-mnist"
    return [
        require_file(folder / name, idx_expected(ndim), "fashion_mnist")
        for pair in FILES.values()
        for name, ndim in zip(pair, (3, 1), strict=True)
    ]


def load_fashion_mnist(
    data_dir: str | Path | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train": (images uint8 [N, 28, 28], labels [N]), "test": ...}`` from the idx files."""
    folder = resolve_data_dir(data_dir) / "fashion-mnist"
    out = {}
    for split, (img_name, lab_name) in FILES.items():
        images = read_idx(folder / img_name, 3, "fashion_mnist")
        labels = read_idx(folder / lab_name, 1, "fashion_mnist")
        if images.shape[0] != labels.shape[0] or images.shape[1:] != (28, 28):
            raise DataFormatError(
                folder / img_name,
                f"images {images.shape} vs labels {labels.shape}",
                "28x28 images, one label each",
                "fashion_mnist",
            )
        if labels.max() > 9:
            raise DataFormatError(
                folder / lab_name, "labels above 9", "labels 0..9", "fashion_mnist"
            )
        out[split] = (images, labels.astype(np.int64))
    return out


def flatten_mlp(hidden: list[int]) -> nn.Module:
    """MLP 784-hidden...-10 on flattened 28x28 images (``[50]``: Clarke et al.;
    ``[50, 50, 50]``: Maclaurin et al. 2015)."""
    return nn.Sequential(nn.Flatten(), *mlp([784, *hidden, 10]))


@TASKS.register("fashion_mnist")
class FashionMnist(ScaledTask):
    """Fashion-MNIST classification, MLP 784-hidden-10, batch 50 (see the module docstring).

    Small scale: the first 5,000 training images, 1,000 validation images, 300 steps.
    ``hidden`` lists the hidden layer widths (default ``[50]``).
    """

    key: ClassVar[str] = "fashion_mnist"
    family: ClassVar[str] = "fashion_mnist"
    scales: ClassVar[dict[str, dict[str, Any]]] = {
        "small": {
            "steps": 300,
            "hidden": [50],
            "subset": 5000,
            "val_subset": 1000,
            "batch_size": 50,
        },
        "paper": {
            "steps": 10_000,
            "hidden": [50],
            "subset": None,
            "val_subset": None,
            "batch_size": 50,
        },
    }

    def data_files(self, data_dir: str | None = None) -> list[Path]:
        return fashion_mnist_files(data_dir)

    def build_problem(self, ctx: BuildContext) -> Problem:
        data = load_fashion_mnist(ctx.data_dir)
        x, y = data["train"]
        n_train = len(y) - N_VAL
        if n_train < 1:
            raise ValueError(f"{self.key}: need more than {N_VAL} training images, got {len(y)}")
        scaled = x.astype(np.float32) / 255.0
        mean, std = float(scaled.mean()), float(scaled.std())
        xt = torch.from_numpy((scaled - mean) / std)
        yt = torch.from_numpy(y)
        xs, ys = data["test"]
        test = SplitData(
            torch.from_numpy((xs.astype(np.float32) / 255.0 - mean) / std), torch.from_numpy(ys)
        )
        p = self.params
        n_sub = take(p["subset"], n_train, "subset", self.key)
        n_val = take(p["val_subset"], N_VAL, "val_subset", self.key)
        hidden = [int(h) for h in p["hidden"]]
        if not hidden or min(hidden) < 1:
            raise ValueError(f"{self.key}: hidden={p['hidden']!r} must list positive widths")
        return SupervisedProblem(
            name=self.key,
            model_factory=lambda: flatten_mlp(hidden),
            train=SplitData(xt[:n_sub], yt[:n_sub]),
            val=SplitData(xt[n_train : n_train + n_val], yt[n_train : n_train + n_val]),
            test=test,
            loss_fn=cross_entropy,
            metrics={"accuracy": accuracy},
            metric="loss",
            batch_size=min(p["batch_size"], n_sub),
            val_batch_size=min(p["batch_size"], n_val),
            **ctx.problem_args(),
            divergence_threshold=1e3,
        )
