"""The batched-inits kernel of the UCI MLP, callable inside ``torch.func.vmap``.

:func:`value_and_grad` ``(w, x, y) -> (loss, grad)``: the mean squared error of the
one-hidden-layer ReLU regressor at flat weights ``w`` on rows ``x`` ``[N, D]``, ``y`` ``[N]``,
and its gradient in ``w``. Called inside ``vmap`` (any nesting) on weights batched over the
inits and rows shared by all of them, it takes the stacked weights out of their vmap wrappers,
computes every init in one call of the C kernel (``mlp1.c``) and wraps the results back, so a
vmapped step runs all inits in one pass over the data instead of autograd on stacked
activations. A ``torch.library.custom_op`` with a ``vmap`` rule did the same through
``autograd.Function``'s machinery at 0.35 ms a call, a quarter of the kernel's time on UCI
Yacht's 200 inits; hence this direct form (the same ``torch._C._functorch`` calls
``torch.func.vmap`` itself makes). It has no derivative: it serves gradients nothing
differentiates through (:func:`hgbench.methods.core.diff.value_and_grad` checks that).
"""

from __future__ import annotations

import ctypes
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import torch
from torch import Tensor
from torch._C._functorch import _add_batch_dim, _unwrap_batched, is_batchedtensor, maybe_get_level

from hgbench.tasks.fused.build import load, source_digest

SOURCE = Path(__file__).with_name("mlp1.c")
_SUFFIX = {torch.float32: ("float", "f32"), torch.float64: ("double", "f64")}
#: dtypes the kernel is built for
DTYPES = tuple(_SUFFIX)


def digest() -> str:
    """The kernel's identity for a run's configuration: its source hash."""
    return f"mlp1-c:{source_digest(SOURCE)}"


@lru_cache(maxsize=2)
def kernel(dtype: torch.dtype) -> ctypes._CFuncPtr:
    """The C entry point for ``dtype`` (compiled on first use; KernelUnavailable if not)."""
    ctype, suffix = _SUFFIX[dtype]
    lib = load(SOURCE, (("HG_T", ctype), ("HG_SUFFIX", suffix)))
    fn = getattr(lib, f"hg_mlp1_value_and_grad_{suffix}")
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_int] * 4 + [ctypes.c_void_p] * 5
    return fn


def hidden_width(p: int, d: int) -> int:
    """H of an MLP [d, H, 1] with ``p`` weights (p = H*d + 2H + 1)."""
    h, rest = divmod(p - 1, d + 2)
    if rest or h < 1:
        raise ValueError(f"{p} weights are not an MLP [{d}, H, 1]")
    return h


def _call(fn: ctypes._CFuncPtr, w: Tensor, x: Tensor, y: Tensor, loss: Tensor, g: Tensor) -> None:
    if any(t.device.type != "cpu" for t in (w, x, y, loss, g)):  # never hand C a non-CPU pointer
        raise ValueError("mlp1 kernel: every tensor must be on the CPU")
    n, d = x.shape
    status = fn(
        w.shape[0], n, d, hidden_width(w.shape[1], d), x.data_ptr(), y.data_ptr(),
        w.data_ptr(), loss.data_ptr(), g.data_ptr(),
    )  # fmt: skip
    if status != 0:
        raise MemoryError if status == 2 else ValueError(f"mlp1 kernel: bad sizes {tuple(w.shape)}")


def value_and_grad(w: Tensor, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor] | None:
    """Loss ``[...]`` and gradient ``[..., P]`` for weights ``w`` ``[..., P]`` (leading
    dimensions and vmap levels alike: one set of weights per init) on rows ``x``, ``y`` shared
    by all; None where the rows are themselves batched (each init its own rows: autograd's
    case). CPU, float32/float64, ``x`` of ``w``'s dtype."""
    if is_batchedtensor(x) or is_batchedtensor(y):
        return None
    levels = []
    while is_batchedtensor(w):  # innermost vmap level first; its batch dim to the front
        level = maybe_get_level(w)
        w, bdim = _unwrap_batched(w, level)
        levels.append(level)
        if bdim != 0:
            w = w.movedim(bdim, 0)
    loss, g = _stacked(w, x, y)
    for level in reversed(levels):  # wrap back, outermost level first
        loss, g = _add_batch_dim(loss, 0, level), _add_batch_dim(g, 0, level)
    return loss, g


def _stacked(w: Tensor, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    if w.device.type != "cpu" or w.dtype not in _SUFFIX or x.dtype != w.dtype:
        raise ValueError(f"mlp1 kernel: CPU float32/float64 only, got {w.dtype} on {w.device}")
    if x.dim() != 2 or y.numel() != x.shape[0] or w.dim() < 1:
        raise ValueError(f"mlp1 kernel: rows x [N, D] and y [N], got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")  # fmt: skip
    lead = w.shape[:-1]
    flat = w.reshape(-1, w.shape[-1]) if w.dim() != 2 else w
    flat, x = flat.contiguous(), x.contiguous()
    y = y.reshape(-1).to(w.dtype).contiguous() if y.dim() != 1 or y.dtype != w.dtype else y
    y = y.contiguous()
    loss = flat.new_empty(flat.shape[0])  # on w's device whatever the default device is
    g = torch.empty_like(flat)
    fn = kernel(w.dtype)
    parts = min(torch.get_num_threads(), flat.shape[0])
    if parts <= 1:
        _call(fn, flat, x, y, loss, g)
    else:  # ctypes releases the GIL: split the inits over torch's intra-op thread count
        edges = [flat.shape[0] * k // parts for k in range(parts + 1)]
        list(_pool(parts).map(
            lambda k: _call(fn, flat[edges[k]:edges[k + 1]], x, y,
                            loss[edges[k]:edges[k + 1]], g[edges[k]:edges[k + 1]]),
            range(parts),
        ))  # fmt: skip
    return (loss, g) if w.dim() == 2 else (loss.reshape(lead), g.reshape(w.shape))


@lru_cache(maxsize=4)
def _pool(workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(workers, thread_name_prefix="hgbench-mlp1")
