"""Chunks of batched inits: a batch stepped C inits per vmapped call, the results the
whole-N call's (each init's arithmetic is the same; ``tests/test_batched_chunks.py``).

Where the time of a large batched step went on this CPU (naval, 8,593 rows, N = 200,
docs/roofline.md): not cache misses but the allocator. glibc serves each tensor above its
mmap threshold (at most 32 MiB) with fresh pages, page-faulted and zero-filled on every step
and returned to the kernel on free. Two remedies, measured: keep freed memory in the process
(:mod:`hgbench.bench.allocator`, 5.4x on naval) or keep each tensor of a chunk under the
threshold (chunks of 16 inits there, 3x). With freed memory kept, cache-sized chunks (4 inits)
were 1.2–1.3x slower than one call on naval, energy and kin8nm, but one call was not the best
either where the batch's tensors grow to hundreds of MB: `random_search` (3 members per init)
and `lorraine` on naval and kin8nm, 200 inits, took 5.55 CPU-h (suite estimate) in one call,
4.94 h with tensors capped at 32 MiB, 4.48 h at 256 MiB and 4.03 h at 64 MiB; power's
`random_search` 1.30 h in one call, 0.81 h at 256 MiB (`fixed`, whose tensors fit, unchanged).
So the chunk size is chosen by this cost model, read at start-up:

* the largest tensor one init's step creates (:func:`step_bytes`: a batched step of two
  inits, traced once: the path the batch takes, so a fused kernel's step counts what it
  allocates, not autograd's activations) against :func:`chunk_budget`: :data:`KEPT_BUDGET`
  where freed memory is kept, else the mmap threshold; ``C = budget // largest`` within ``[MIN_CHUNK, N]``;
* on CUDA a batch is one call (launch-bound; no allocator issue).

``HGBENCH_CHUNK_BYTES`` sets the budget by hand (e.g. a cache size, to measure chunks).
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

from hgbench.bench.allocator import kept
from hgbench.methods.core.stacked import vmap_stacked
from hgbench.spec import CostCounter, Method, Problem, State

#: the smallest automatic chunk: below it the per-call dispatch of vmap dominates
MIN_CHUNK = 2
#: glibc's largest mmap threshold on 64-bit (bytes): larger blocks are mapped anew
MMAP_THRESHOLD = 32 * 2**20
#: the largest tensor of a chunk where freed memory is kept (bytes; measured, see above)
KEPT_BUDGET = 64 * 2**20
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


def chunk_budget() -> int | None:
    """Bytes the largest tensor of a chunk may take: ``HGBENCH_CHUNK_BYTES`` when set; else
    :data:`KEPT_BUDGET` where this process keeps freed memory
    (:func:`~hgbench.bench.allocator.retain_freed_memory`), else :data:`MMAP_THRESHOLD`."""
    env = os.environ.get("HGBENCH_CHUNK_BYTES", "").strip()
    if env:
        try:
            return _parse_size(env)
        except ValueError:
            raise ValueError(
                f"HGBENCH_CHUNK_BYTES must be a byte count such as 33554432, 32M or 1G, got {env!r}"
            ) from None
    return KEPT_BUDGET if kept() else MMAP_THRESHOLD


class _NewBytes(TorchDispatchMode):
    """The total and the largest bytes of the new tensor storages the traced ops create."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes = self.largest = 0

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
                if ptr not in ins:  # not a view or in-place result of an input
                    size = o.untyped_storage().nbytes()
                    self.bytes += size
                    self.largest = max(self.largest, size)
        return out


def step_bytes(
    problem: Problem, method: Method, state: State, t: int, *, batched: bool = False
) -> tuple[int, int]:
    """``(total, largest)`` bytes of the new tensors one init's step ``t`` creates: one
    unbatched step of the first init of ``state``, or with ``batched`` a step of its first two
    inits under ``vmap`` (the batched path as it runs, a problem's fused kernel included), per
    init; traced and discarded, counters and RNG left as they were."""
    mode = _NewBytes()
    k = 1
    with discarded(problem):
        if batched:
            k = min(2, _leading(state))
            few = tree_map(lambda x: x[:k] if isinstance(x, Tensor) else x, state)
            step = vmap_stacked(lambda s: method.step(problem, s, t), f"inits of {method.key!r}")
            with mode:
                step(few)
        else:
            one = tree_map(lambda x: x[0] if isinstance(x, Tensor) else x, state)
            with mode:
                method.step(problem, one, t)
    return mode.bytes // k, mode.largest // k


def _leading(state: State) -> int:
    """The number of stacked items (the leading size of the state's first tensor)."""
    return next(x.shape[0] for x in tree_flatten(state)[0] if isinstance(x, Tensor))


def choose_chunk(n: int, per_init_bytes: int, budget: int | None, device: torch.device) -> int:
    """Inits per vmapped call: all ``n`` on CUDA or without a budget, else
    ``budget // per_init_bytes`` within ``[MIN_CHUNK, n]``, evened out so the chunks of a
    batch have about the same size."""
    if device.type != "cpu" or budget is None or per_init_bytes <= 0:
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
def discarded(problem: Problem) -> Iterator[None]:
    """Calls that are no step of the run (a traced step, a warm-up): the problem's cost counts
    and the random state (the CPU's, and the problem's CUDA device's) are put back after."""
    counts = problem.counter.as_dict()
    devices = [problem.device] if problem.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        yield
    for name, v in counts.items():
        setattr(problem.counter, name, v)


@contextmanager
def counted_once(counter: CostCounter, calls: int) -> Iterator[None]:
    """Counts issued ``calls`` times inside (once per init, or once per chunk) count once: the
    counters are per init."""
    before = counter.as_dict()
    yield
    if calls > 1:
        for k, v in counter.as_dict().items():
            setattr(counter, k, before[k] + (v - before[k]) // calls)
