"""Tiny files in every real data format, written into a temporary data directory."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np

from hgbench.tasks.uci import UCI


def idx_bytes(arr: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def write_fashion(root: Path, n_train: int = 10_060, n_test: int = 40) -> None:
    d = root / "fashion-mnist"
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        (d / f"{prefix}-images-idx3-ubyte.gz").write_bytes(
            gzip.compress(idx_bytes(rng.randint(0, 256, (n, 28, 28))))
        )
        (d / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(
            gzip.compress(idx_bytes(np.arange(n) % 10))
        )


def cifar_batch_bytes(n: int, seed: int) -> bytes:
    rng = np.random.RandomState(seed)
    obj = {
        "batch_label": "fixture",
        "labels": [int(i % 10) for i in range(n)],
        "data": rng.randint(0, 256, (n, 3072)).astype(np.uint8),
    }
    return pickle.dumps(obj, protocol=2)


def write_cifar(root: Path, n_train: int = 200, n_test: int = 60) -> None:
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True, exist_ok=True)
    (d / "data_batch_1").write_bytes(cifar_batch_bytes(n_train, 1))
    (d / "test_batch").write_bytes(cifar_batch_bytes(n_test, 2))
    (d / "batches.meta").write_bytes(pickle.dumps({"label_names": list("abcdefghij")}, protocol=2))


def write_ptb(root: Path) -> None:
    d = root / "ptb"
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(0)
    words = [f"w{i}" for i in range(30)] + ["<unk>"]

    def text(lines: int) -> str:
        return "".join(" " + " ".join(rng.choice(words, 8)) + " \n" for _ in range(lines))

    (d / "ptb.train.txt").write_text(" " + " ".join(words) + " \n" + text(300))
    (d / "ptb.valid.txt").write_text(text(80))
    (d / "ptb.test.txt").write_text(text(80))


def write_uci(root: Path) -> None:
    rng = np.random.RandomState(0)
    for spec in UCI.values():
        n = spec.n_train + spec.n_val + spec.n_test
        if n > 2000:  # the large sets get a proportionally tiny table of the right size only
            continue
        d = root / "uci" / spec.folder
        (d / "clarke2022").mkdir(parents=True, exist_ok=True)
        data = rng.randn(n, 4)
        data[:, -1] = data[:, :3].sum(1) + 10.0
        np.savetxt(d / "data.txt", data)
        (d / "index_features.txt").write_text("0\n1\n2\n")
        (d / "index_target.txt").write_text("3\n")
        (d / "n_splits.txt").write_text("20\n")
        np.savetxt(d / "clarke2022" / "permutation_indices.txt", rng.permutation(n), fmt="%d")


def write_all(root: Path) -> Path:
    write_fashion(root)
    write_cifar(root)
    write_ptb(root)
    write_uci(root)
    return root
