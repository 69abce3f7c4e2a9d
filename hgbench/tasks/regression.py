"""Shared construction of full-batch MLP regression problems (UCI and scikit-learn data).

Rows are taken in the given (fixed) order: the first ``n_train`` are training, the next
``n_val`` validation, the rest test. Inputs and targets are z-normalised with train+val
statistics (Clarke et al., 2022); the loss is MSE on normalised targets and the metric
``"mse"`` is the unnormalised test MSE (normalised squared error times the target variance).
"""

from __future__ import annotations

import numpy as np
import torch

from hgbench.tasks.base import SplitData, SupervisedProblem, take
from hgbench.tasks.losses import scaled_squared_error, squared_error
from hgbench.tasks.models import mlp


def zscore(x: np.ndarray, n_fit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(x - mean) / std`` with statistics of the first ``n_fit`` rows (unbiased std, as
    Clarke et al.); constant columns get
    std 1. Returns the normalised array, the mean and the std."""
    mean = x[:n_fit].mean(axis=0)
    std = x[:n_fit].std(axis=0, ddof=1)
    std = np.where(std > 0, std, 1.0)
    return (x - mean) / std, mean, std


def first_training_rows(
    x: np.ndarray, y: np.ndarray, n_train: int, subset: int | None, key: str
) -> tuple[np.ndarray, np.ndarray, int]:
    """Keep the first ``subset`` of the ``n_train`` training rows (all when None) and every
    validation and test row; returns ``x``, ``y`` and the new number of training rows."""
    n = take(subset, n_train, "subset", key)
    if n < n_train:
        keep = np.r_[0:n, n_train : len(y)]
        x, y = x[keep], y[keep]
    return x, y, n


def regression_problem(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    *,
    n_train: int,
    n_val: int,
    width: int = 50,
    batch_size: int | None = None,
    data_seed: int = 0,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    train_split: str = "train",
    divergence_threshold: float | None = None,
) -> SupervisedProblem:
    """A :class:`SupervisedProblem` for an MLP ``[D, width, 1]`` on rows of ``x``/``y``."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if x.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"{name}: expected x [N, D] and y [N], got {x.shape} and {y.shape}")
    n = x.shape[0]
    if n_train < 1 or n_val < 1 or n_train + n_val >= n:
        raise ValueError(f"{name}: bad split sizes train={n_train} val={n_val} of {n} rows")
    n_fit = n_train + n_val
    xz, _, _ = zscore(x, n_fit)
    yz, _, y_std = zscore(y[:, None], n_fit)
    xt = torch.from_numpy(xz)
    yt = torch.from_numpy(yz[:, 0])

    def part(a: int, b: int) -> SplitData:
        return SplitData(xt[a:b], yt[a:b])

    d = x.shape[1]
    return SupervisedProblem(
        name=name,
        model_factory=lambda: mlp([d, width, 1]),
        train=part(0, n_train),
        val=part(n_train, n_fit),
        test=part(n_fit, n),
        loss_fn=squared_error,
        metrics={"mse": scaled_squared_error(float(y_std[0]))},
        metric="mse",
        batch_size=batch_size,
        data_seed=data_seed,
        device=device,
        dtype=dtype,
        train_split=train_split,
        divergence_threshold=divergence_threshold,
    )
