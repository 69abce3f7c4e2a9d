"""Fashion-MNIST input normalisation: one scalar mean/std, or per-pixel statistics as in
Clarke et al.'s reference code, both from all official training images (train+val)."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch
from tasks_fixtures import idx_bytes

from hgbench.tasks import TASKS

N_TRAIN, N_TEST = 10_050, 20


def write_images(root, train: np.ndarray, test: np.ndarray) -> None:
    d = root / "fashion-mnist"
    d.mkdir(parents=True)
    for prefix, images in (("train", train), ("t10k", test)):
        (d / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
        labels = np.arange(len(images)) % 10
        (d / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))


@pytest.fixture
def images(tmp_path):
    """Random images whose pixel (0, 0) is constant and pixel (0, 1) spans only 0..3."""
    rng = np.random.RandomState(1)
    train = rng.randint(0, 256, (N_TRAIN, 28, 28))
    train[:, 0, 0] = 7
    train[:, 0, 1] = rng.randint(0, 4, N_TRAIN)
    test = rng.randint(0, 256, (N_TEST, 28, 28))
    write_images(tmp_path, train, test)
    return tmp_path, train / 255.0, test / 255.0


def build(root, how):
    task = TASKS.get("fashion_mnist")("paper", normalise=how)
    p = task.build(data_dir=str(root), dtype=torch.float64)
    fit = torch.cat([p._splits["train"].inputs, p._splits["val"].inputs])
    return p, fit


def test_pixel_normalisation_uses_per_pixel_train_val_statistics(images):
    root, train, test = images
    p, fit = build(root, "pixel")
    assert fit.shape[0] == N_TRAIN  # train and val together are every training image
    mean, std = train.mean(0), train.std(0, ddof=1)  # of integers / 255, so the
    std[std < 1e-12] = 1.0  # constant pixel's is 0 up to rounding
    torch.testing.assert_close(fit, torch.from_numpy((train - mean) / std), rtol=1e-5, atol=1e-5)
    want_test = torch.from_numpy((test - mean) / std)
    torch.testing.assert_close(p._splits["test"].inputs, want_test, rtol=1e-5, atol=1e-4)
    assert float(fit[:, 0, 0].abs().max()) == 0.0  # constant pixel: std replaced by 1
    torch.testing.assert_close(fit[:, 0, 1].std(), torch.tensor(1.0, dtype=fit.dtype))


def test_scalar_normalisation_uses_one_mean_and_std(images):
    root, train, _ = images
    _, fit = build(root, "scalar")
    want = (train - train.mean()) / train.std()
    torch.testing.assert_close(fit, torch.from_numpy(want), rtol=1e-5, atol=1e-5)
    assert float(fit[:, 0, 1].std()) < 0.1  # a narrow pixel stays narrow
    assert TASKS.get("fashion_mnist")("paper").params["normalise"] == "scalar"


def test_unknown_normalisation_is_a_clear_error():
    with pytest.raises(
        ValueError,
        match="fashion_mnist: normalise must be one of .scalar., .pixel., .center., .none.",
    ):
        TASKS.get("fashion_mnist")("small", normalise="per_channel")


def test_center_subtracts_the_per_pixel_mean_and_none_keeps_zero_one(images):
    root, train, _ = images
    _, centred = build(root, "center")
    torch.testing.assert_close(centred, torch.from_numpy(train - train.mean(0)), rtol=0, atol=1e-6)
    _, raw = build(root, "none")
    torch.testing.assert_close(raw, torch.from_numpy(train), rtol=0, atol=1e-7)


def test_activation_option_builds_tanh_layers_and_rejects_others():
    task = TASKS.get("fashion_mnist")("small", activation="tanh", hidden=[128])
    assert task.params["activation"] == "tanh"
    from hgbench.tasks.fashion_mnist import flatten_mlp

    kinds = [type(m).__name__ for m in flatten_mlp([128], "tanh")]
    assert kinds == ["Flatten", "Linear", "Tanh", "Linear"]
    assert TASKS.get("fashion_mnist")("small").params["activation"] == "relu"
    with pytest.raises(ValueError, match="activation must be one of 'relu', 'tanh'"):
        TASKS.get("fashion_mnist")("small", activation="gelu")
