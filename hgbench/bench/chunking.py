"""Chunks of batched inits whose working set stays in the CPU's cache.

Stepping all N inits of a batch as one vmapped call makes every intermediate tensor N times
one init's: at N = 200 on the large UCI sets (naval: 8,593 rows x 50 hidden units) each
activation is hundreds of MB, streamed through memory several times per step and freshly
page-faulted by the allocator. Stepping the inits in chunks of C, each chunk one vmapped
call on the same data, keeps a chunk's tensors in the last-level cache; the results are the
whole-N call's (each init's arithmetic is the same; see ``tests/test_batched_chunks.py``).

The chunk size comes from a small cost model, read at start-up: the bytes one init's step
writes (:func:`step_bytes`, every new tensor of one unbatched step, traced once) against the
cache a worker may use (:func:`cache_budget`, the last-level cache of this CPU shared by its
cores): ``C = budget // step_bytes``, at least :data:`MIN_CHUNK` and at most N. On CUDA a
batch is one call (launch-bound, no cache model applies).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map

from hgbench.spec import CostCounter, Method, Problem, State

#: the smallest automatic chunk: below it the per-call dispatch of vmap dominates
MIN_CHUNK = 2
#: a cache's share that a chunk's tensors may fill (the rest: data, weights, other tensors)
CACHE_FILL = 1.0
#: when no cache size can be read (bytes)
DEFAULT_CACHE = 8 * 2**20
CACHE_DIR = Path("/sys/devices/system/cpu/cpu0/cache")


def _parse_size(text: str) -> int:
    text = text.strip().upper()
    for suffix, mult in (("K", 2**10), ("M", 2**20), ("G", 2**30)):
        if text.endswith(suffix):
            return int(text[:-1]) * mult
    return int(text)


def last_level_cache(cache_dir: Path = CACHE_DIR) -> tuple[int, int]:
    """``(bytes, cpus sharing it)`` of cpu0's largest data or unified cache, from sysfs;
    ``(DEFAULT_CACHE, 1)`` where it cannot be read."""
    best = (0, 0, 1)
    try:
        for index in sorted(cache_dir.glob("index*")):
            if (index / "type").read_text().strip() == "Instruction":
                continue
            level = int((index / "level").read_text())
            size = _parse_size((index / "size").read_text())
            shared = _cpu_count((index / "shared_cpu_list").read_text())
            best = max(best, (level, size, shared))
    except (OSError, ValueError):
        pass
    return (best[1], best[2]) if best[1] else (DEFAULT_CACHE, 1)


def _cpu_count(cpu_list: str) -> int:
    """Number of CPUs in a sysfs list such as ``0-3,8``."""
    count = 0
    for part in cpu_list.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        count += int(hi or lo) - int(lo) + 1
    return max(1, count)


def cache_budget() -> int:
    """Bytes of cache one chunk may fill: ``HGBENCH_CACHE_BYTES`` when set, else the last-level
    cache's size times :data:`CACHE_FILL` (shared by its CPUs, but a worker's chunk is
    resident while the other core's chunk streams: see docs/roofline.md)."""
    env = os.environ.get("HGBENCH_CACHE_BYTES", "").strip()
    if env:
        return _parse_size(env)
    size, _ = last_level_cache()
    return int(size * CACHE_FILL)


class _NewBytes(TorchDispatchMode):
    """Sums the bytes of every new tensor storage the traced ops create."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0
        self.seen: set[int] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        out = func(*args, **(kwargs or {}))
        ins = {
            a.untyped_storage().data_ptr()
            for a in tree_flatten((args, kwargs))[0]
            if isinstance(a, Tensor)
        }
        for o in tree_flatten(out)[0]:
            if isinstance(o, Tensor) and o.device.type != "meta":
                ptr = o.untyped_storage().data_ptr()
                if ptr not in ins and ptr not in self.seen:
                    self.seen.add(ptr)
                    self.bytes += o.untyped_storage().nbytes()
        return out


def step_bytes(problem: Problem, method: Method, state: State, t: int) -> int:
    """Bytes of the new tensors one init's step ``t`` creates (one unbatched step of the
    first init of ``state``, traced and discarded; counters and RNG left as they were)."""
    one = tree_map(lambda x: x[0] if isinstance(x, Tensor) else x, state)
    counts = problem.counter.as_dict()
    devices = [problem.device] if problem.device.type == "cuda" else []
    mode = _NewBytes()
    with torch.random.fork_rng(devices=devices), mode:
        method.step(problem, one, t)
    for k, v in counts.items():
        setattr(problem.counter, k, v)
    return mode.bytes


def choose_chunk(n: int, per_init_bytes: int, budget: int, device: torch.device) -> int:
    """Inits per vmapped call: all ``n`` on CUDA, else ``budget // per_init_bytes`` within
    ``[MIN_CHUNK, n]``, evened out so the chunks of a batch have about the same size."""
    if device.type != "cpu" or per_init_bytes <= 0:
        return n
    fit = max(MIN_CHUNK, budget // per_init_bytes)
    if fit >= n:
        return n
    return math.ceil(n / math.ceil(n / fit))


def bounds(n: int, chunk: int) -> list[tuple[int, int]]:
    """``[start, stop)`` of each chunk of ``n`` inits."""
    return [(a, min(n, a + chunk)) for a in range(0, n, chunk)]


def chunked(fn: Callable[[Any], Any], tree: Any, n: int, chunk: int, device: torch.device) -> Any:
    """``fn`` (a vmapped function of a stacked pytree) applied chunk by chunk, the outputs
    concatenated along the init dimension. Every chunk starts from the same RNG state, so a
    random draw is the same for all inits, as in one call with ``randomness="same"``."""
    if chunk >= n:
        return fn(tree)
    cuda = device.type == "cuda"
    rng = torch.cuda.get_rng_state(device) if cuda else torch.get_rng_state()
    outs = []
    for i, (a, b) in enumerate(bounds(n, chunk)):
        if i:
            (torch.cuda.set_rng_state(rng, device) if cuda else torch.set_rng_state(rng))
        outs.append(fn(tree_map(lambda x, a=a, b=b: x[a:b], tree)))
    return tree_map(lambda *xs: torch.cat(xs), *outs)


@contextmanager
def counted_once(counter: CostCounter, calls: int) -> Iterator[None]:
    """Counts issued ``calls`` times inside (once per init, or once per chunk) count once: the
    counters are per init."""
    before = counter.as_dict()
    yield
    if calls > 1:
        for k, v in counter.as_dict().items():
            setattr(counter, k, before[k] + (v - before[k]) // calls)
