"""Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017, arXiv:1708.07747) with an MLP 784-50-10.

Clarke et al. (ICLR 2022) setup: the official 60k training images split in file order into
50k train / 10k validation, the official 10k test set; batch 50; 10 epochs (10,000 steps) at
paper scale; final test losses above 1e3 count as diverged. Pixels are scaled to [0, 1] and
z-normalised with statistics of all 60k official training images (train+val), chosen by the
scale parameter ``normalise``:

* ``"scalar"`` (default): one mean and one standard deviation over every pixel;
* ``"pixel"``: a mean and an (unbiased) standard deviation per pixel, a zero one replaced by
  1 — Clarke et al.'s reference code (``make_split_datasets`` in its ``datasets.py``
  normalises the ``[N, 784]`` training tensor along dimension 0). The rarest pixels then have
  standard deviations near 4e-4, so their rare non-zero values become inputs in the hundreds;
* ``"center"``: the per-pixel mean subtracted, no scaling — Maclaurin et al.'s code
  (``load_data(normalize=True)`` in HIPS/hypergrad's ``data.py``);
* ``"none"``: pixels in [0, 1] as they are — ``ToTensor()`` alone, as in the MNIST example of
  Chandra et al.'s reference (kach/gradient-descent-the-ultimate-optimizer).

The reported metric is the test cross-entropy ``"loss"``; ``"accuracy"`` is reported alongside.
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
NORMALISATIONS = ("scalar", "pixel", "center", "none")


def normalisation(
    images: np.ndarray, scaled: np.ndarray, how: str, key: str = "fashion_mnist"
) -> tuple[Any, Any]:
    """Mean and standard deviation (broadcastable to ``[N, 28, 28]``) for ``scaled``, the
    uint8 ``images`` divided by 255 (see the module docstring for the choices). Per-pixel
    statistics come from the integer pixels in float64, so a constant pixel has a standard
    deviation of exactly 0 and normalises to exactly 0."""
    if how == "scalar":
        return float(scaled.mean()), float(scaled.std())
    if how in ("pixel", "center"):
        mean = (images.mean(axis=0, dtype=np.float64) / 255.0).astype(np.float32)
        if how == "center":
            return mean, 1.0
        std = images.std(axis=0, ddof=1, dtype=np.float64)
        std = np.where(std > 0, std, 255.0)
        return mean, (std / 255.0).astype(np.float32)
    if how == "none":
        return 0.0, 1.0
    valid = ", ".join(map(repr, NORMALISATIONS))
    raise ValueError(f"{key}: normalise must be one of {valid}, got {how!r}")


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


#: hidden-layer activations of the MLP (``tanh``: Chandra et al.'s MNIST example)
ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh}


def flatten_mlp(hidden: list[int], activation: str = "relu") -> nn.Module:
    """MLP 784-hidden...-10 on flattened 28x28 images (``[50]``: Clarke et al.;
    ``[50, 50, 50]``: Maclaurin et al. 2015), ``activation`` between the linear layers."""
    return nn.Sequential(nn.Flatten(), *mlp([784, *hidden, 10], ACTIVATIONS[activation]))


@TASKS.register("fashion_mnist")
class FashionMnist(ScaledTask):
    """Fashion-MNIST classification, MLP 784-hidden-10, batch 50 (see the module docstring).

    Small scale: the first 5,000 training images, 1,000 validation images, 300 steps.
    ``hidden`` lists the hidden layer widths (default ``[50]``); ``normalise`` is
    ``"scalar"`` (default), ``"pixel"``, ``"center"`` or ``"none"`` (see the module docstring);
    ``activation`` is ``"relu"`` (default) or ``"tanh"``.
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
            "normalise": "scalar",
            "activation": "relu",
        },
        "paper": {
            "steps": 10_000,
            "hidden": [50],
            "subset": None,
            "val_subset": None,
            "batch_size": 50,
            "normalise": "scalar",
            "activation": "relu",
        },
    }

    def __init__(self, scale: str = "small", **overrides: Any) -> None:
        super().__init__(scale, **overrides)
        for name, valid in (("normalise", NORMALISATIONS), ("activation", tuple(ACTIVATIONS))):
            if self.params[name] not in valid:
                raise ValueError(
                    f"{self.key}: {name} must be one of {', '.join(map(repr, valid))}, "
                    f"got {self.params[name]!r}"
                )

    def data_files(self, data_dir: str | None = None) -> list[Path]:
        return fashion_mnist_files(data_dir)

    def build_problem(self, ctx: BuildContext) -> Problem:
        data = load_fashion_mnist(ctx.data_dir)
        x, y = data["train"]
        n_train = len(y) - N_VAL
        if n_train < 1:
            raise ValueError(f"{self.key}: need more than {N_VAL} training images, got {len(y)}")
        p = self.params
        scaled = x.astype(np.float32) / 255.0
        mean, std = normalisation(x, scaled, p["normalise"], self.key)
        xt = torch.from_numpy((scaled - mean) / std)
        yt = torch.from_numpy(y)
        xs, ys = data["test"]
        test = SplitData(
            torch.from_numpy((xs.astype(np.float32) / 255.0 - mean) / std), torch.from_numpy(ys)
        )
        n_sub = take(p["subset"], n_train, "subset", self.key)
        n_val = take(p["val_subset"], N_VAL, "val_subset", self.key)
        hidden = [int(h) for h in p["hidden"]]
        if not hidden or min(hidden) < 1:
            raise ValueError(f"{self.key}: hidden={p['hidden']!r} must list positive widths")
        return SupervisedProblem(
            name=self.key,
            model_factory=lambda: flatten_mlp(hidden, p["activation"]),
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
