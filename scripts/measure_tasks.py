"""Measure each real dataset's load time and memory, and one forward+backward step per model.

Usage: python scripts/measure_tasks.py [--data-dir DIR] [--repeats N]
Prints a Markdown table. Single torch thread (the shared CPU has 2 cores).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

import psutil
import torch

from hgbench.tasks import TASKS
from hgbench.tasks.data.paths import resolve_data_dir

CASES = [  # (task, scale, overrides)
    ("sk_diabetes", "small", {}),
    ("sk_digits", "small", {}),
    ("uci_energy", "paper", {}),
    ("uci_protein", "paper", {}),
    ("fashion_mnist", "small", {}),
    ("fashion_mnist", "paper", {}),
    ("cifar10", "small", {}),
    ("cifar10", "paper", {}),
    ("ptb", "small", {}),
    ("ptb", "paper", {}),
]


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def measure(key: str, scale: str, overrides: dict, data_dir: str, repeats: int) -> dict:
    gc.collect()
    before = rss_mb()
    t0 = time.perf_counter()
    problem = TASKS.get(key)(scale, **overrides).build(data_dir=data_dir)
    load_s = time.perf_counter() - t0
    mem = rss_mb() - before
    w, m = problem.init_weights(0), problem.init_model_state()
    f = torch.func.grad(lambda w_, b: problem.loss(w_, m, b)[0])
    f(w, problem.train_batch(0))  # warm-up
    times = []
    for t in range(repeats):
        batch = problem.train_batch(t + 1)
        t0 = time.perf_counter()
        f(w, batch)
        times.append(time.perf_counter() - t0)
    return {
        "task": key,
        "scale": scale,
        "params": problem.layout.size,
        "load_s": load_s,
        "load_mb": mem,
        "step_ms": 1e3 * statistics.median(times),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data_dir = str(resolve_data_dir(args.data_dir))
    print(f"torch {torch.__version__}, 1 thread, data {data_dir}\n")
    print("| task | scale | weights | load+build s | RSS +MiB | fwd+bwd ms (median) |")
    print("|---|---|---:|---:|---:|---:|")
    for key, scale, ov in CASES:
        r = measure(key, scale, ov, data_dir, args.repeats)
        print(
            f"| {r['task']} | {r['scale']} | {r['params']:,} | {r['load_s']:.2f} | "
            f"{r['load_mb']:.0f} | {r['step_ms']:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
