"""CIFAR-10 (Krizhevsky, "Learning Multiple Layers of Features from Tiny Images", 2009).

Reads ``cifar-10-batches-py/`` with whichever ``data_batch_1..5`` are present (restricted
unpickler) and ``test_batch``. The validation split is the last tenth of the training
batches: 45k / 5k / 10k with all five batches (Clarke et al., ICLR 2022), 9k / 1k / 10k when
only ``data_batch_1`` is present (as in the shared data folder). Inputs are normalised with
Clarke et al.'s channel statistics; no augmentation. The metric is the test cross-entropy
``"loss"``, with ``"accuracy"`` alongside.

Paper scale: torchvision's ResNet-18, batch 100, 72 epochs. Small scale: a 5k-weight CNN
(:func:`~hgbench.tasks.resnet.small_cnn`) on 2,000 training / 500 validation / 1,000 test images.
``cifar10_cnn`` is ``cifar10`` with ``model="cnn"`` at both scales.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from hgbench.spec import BuildContext, Problem
from hgbench.tasks import TASKS
from hgbench.tasks.base import ScaledTask, SplitData, SupervisedProblem, take
from hgbench.tasks.data.errors import MissingDataError
from hgbench.tasks.data.formats import CIFAR_EXPECTED, read_cifar_batch, require_file
from hgbench.tasks.data.paths import resolve_data_dir
from hgbench.tasks.losses import accuracy, cross_entropy
from hgbench.tasks.resnet import ResNet18, small_cnn

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.247, 0.243, 0.261)
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
MODELS = ("resnet18", "resnet18_cifar", "cnn")


def cifar10_files(data_dir: str | Path | None = None) -> list[Path]:
    """The batch files :func:`load_cifar10` reads: the training batches that exist (at least
    one is required), then ``test_batch``."""
    folder = resolve_data_dir(data_dir) / "cifar-10-batches-py"
    present = [folder / f for f in TRAIN_FILES if (folder / f).is_file()]
    if not present:
        raise MissingDataError(
            folder / "data_batch_1", "at least one CIFAR-10 training batch file", "cifar10"
        )
    return [*present, require_file(folder / "test_batch", CIFAR_EXPECTED, "cifar10")]


def load_cifar10(data_dir: str | Path | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train": (uint8 [N, 3, 32, 32], int64 [N]), "test": ...}``; train concatenates the
    training batch files that exist (at least one is required)."""
    *train_files, test_file = cifar10_files(data_dir)
    parts = [read_cifar_batch(p) for p in train_files]
    train = (np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts]))
    return {"train": train, "test": read_cifar_batch(test_file)}


def _normalise(x: np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(x).to(torch.float32).div_(255.0)
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (t - mean) / std


@TASKS.register("cifar10")
class Cifar10(ScaledTask):
    """CIFAR-10 image classification (see the module docstring)."""

    key: ClassVar[str] = "cifar10"
    family: ClassVar[str] = "cifar10"
    scales: ClassVar[dict[str, dict[str, Any]]] = {
        "small": {
            "steps": 100,
            "model": "cnn",
            "width": 16,
            "batch_size": 50,
            "subset": 2000,
            "val_subset": 500,
            "test_subset": 1000,
        },
        "paper": {
            "steps": 32_400,
            "model": "resnet18",
            "width": 64,
            "batch_size": 100,
            "subset": None,
            "val_subset": None,
            "test_subset": None,
        },
    }

    def __init__(self, scale: str = "small", **overrides: Any) -> None:
        super().__init__(scale, **overrides)
        if self.params["model"] not in MODELS:
            raise ValueError(
                f"{self.key}: model must be one of {MODELS}, got {self.params['model']!r}"
            )

    def model_factory(self):  # noqa: ANN201 - returns a zero-argument module factory
        model, width = self.params["model"], self.params["width"]
        if model == "cnn":
            return lambda: small_cnn(10, width)
        stem = "cifar" if model == "resnet18_cifar" else "imagenet"
        return lambda: ResNet18(10, stem=stem, width=width)

    def data_files(self, data_dir: str | None = None) -> list[Path]:
        return cifar10_files(data_dir)

    def build_problem(self, ctx: BuildContext) -> Problem:
        data = load_cifar10(ctx.data_dir)
        x, y = data["train"]
        n_val_all = len(y) // 10
        n_train_all = len(y) - n_val_all
        p = self.params
        n_train = take(p["subset"], n_train_all, "subset", self.key)
        n_val = take(p["val_subset"], n_val_all, "val_subset", self.key)
        xs, ys = data["test"]
        n_test = take(p["test_subset"], len(ys), "test_subset", self.key)
        val = slice(n_train_all, n_train_all + n_val)
        return SupervisedProblem(
            name=self.key,
            model_factory=self.model_factory(),
            train=SplitData(_normalise(x[:n_train]), torch.from_numpy(y[:n_train])),
            val=SplitData(_normalise(x[val]), torch.from_numpy(y[val])),
            test=SplitData(_normalise(xs[:n_test]), torch.from_numpy(ys[:n_test])),
            loss_fn=cross_entropy,
            metrics={"accuracy": accuracy},
            metric="loss",
            batch_size=min(p["batch_size"], n_train),
            val_batch_size=min(p["batch_size"], n_val),
            **ctx.problem_args(),
            eval_chunk=500,
        )


@TASKS.register("cifar10_cnn")
class Cifar10Cnn(Cifar10):
    """CIFAR-10 with the small CNN at both scales (paper scale: full data, 72 epochs)."""

    key: ClassVar[str] = "cifar10_cnn"
    scales: ClassVar[dict[str, dict[str, Any]]] = {
        "small": Cifar10.scales["small"],
        "paper": {**Cifar10.scales["paper"], "model": "cnn", "width": 16},
    }
