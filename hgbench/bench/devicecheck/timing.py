"""Wall-clock helpers for the check's floors: synchronised, warmed up, median of windows."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_step_ms(
    step: Callable[[int], object],
    device: torch.device,
    *,
    steps: int,
    repeats: int,
    warmup: int = 2,
) -> dict[str, float]:
    """Median (and quartiles) over ``repeats`` windows of ``steps`` calls of the ms per call,
    after ``warmup`` untimed calls; the device is synchronised around each window only."""
    t = 0
    for _ in range(warmup):
        step(t)
        t += 1
    per_step = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            step(t)
            t += 1
        sync(device)
        per_step.append((time.perf_counter() - start) / steps * 1e3)
    q = statistics.quantiles(per_step, n=4) if len(per_step) > 1 else per_step * 3
    return {"ms": statistics.median(per_step), "q25_ms": q[0], "q75_ms": q[-1]}


def allocated(device: torch.device) -> int | None:
    """Bytes the CUDA caching allocator holds for tensors now (None off CUDA)."""
    if device.type != "cuda":
        return None
    import gc

    gc.collect()
    torch.cuda.synchronize(device)
    return int(torch.cuda.memory_allocated(device))
