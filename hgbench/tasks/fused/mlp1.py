"""The batched-inits kernels of the UCI MLP, callable inside ``torch.func.vmap``.

:func:`value_and_grad` ``(w, x, y) -> (loss, grad)``: the mean squared error of the
one-hidden-layer ReLU regressor at flat weights ``w`` on rows ``x`` ``[N, D]``, ``y`` ``[N]``,
and its gradient in ``w``; :func:`hvp` ``(w, u, x, y)``: its Hessian at ``w`` times ``u``.
Called inside ``vmap`` (any nesting) on weights batched over the inits and rows shared by all
of them, they take the stacked weights out of their vmap wrappers, compute every init in one
call of the C kernel (``mlp1.c``) and wrap the results back, so a vmapped step runs all inits
in one pass over the data instead of autograd on stacked activations. A
``torch.library.custom_op`` with a ``vmap`` rule did the same through ``autograd.Function``'s
machinery at 0.35 ms a call, a quarter of the kernel's time on UCI Yacht's 200 inits; hence
this direct form (the same ``torch._C._functorch`` calls ``torch.func.vmap`` itself makes).
They have no derivatives: they serve what nothing differentiates through
(:mod:`hgbench.methods.core.diff` checks that).
"""

from __future__ import annotations

import ctypes
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

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


class Kernels(NamedTuple):
    """The C entry points of one build for one dtype."""

    #: ``(C, N, D, H, X, y, W, loss, G) -> status``
    value_and_grad: ctypes._CFuncPtr
    #: ``(C, N, D, H, X, y, W, U, HV) -> status``
    hvp: ctypes._CFuncPtr
    #: SIMD lanes (rows per vector; inits per vector in the gradient for D <= 16)
    lanes: int
    #: row vectors per block (``HG_R``)
    block_vectors: int

    @property
    def block_rows(self) -> int:
        """Rows per block: a data set's rows are padded to a multiple of it."""
        return self.lanes * self.block_vectors


_ENTRY_POINTS = ("value_and_grad", "hvp")


@lru_cache(maxsize=2)
def kernel(dtype: torch.dtype) -> Kernels:
    """The C entry points for ``dtype`` as the target builds them (compiled on first use;
    KernelUnavailable if not)."""
    return build_kernels(dtype)


@lru_cache(maxsize=2)
def builds(dtype: torch.dtype) -> tuple[Kernels, ...]:
    """Every build a call may take for ``dtype``: the target's, and where its blocks are wider
    than 4 row vectors (AVX-512's 6), those of 4 up to it, for the data sets the wider blocks
    would pad further (``mlp1.c`` gives the figures)."""
    default = kernel(dtype)
    narrower = range(4, default.block_vectors)
    return (default, *(build_kernels(dtype, (("HG_R", str(r)),)) for r in narrower))


def for_rows(dtype: torch.dtype, n: int) -> Kernels:
    """The build that pads ``n`` rows to the fewest (the wider blocks on a tie): the HVP's and
    the gradient's for D > 16, rows in the lanes. (The gradient for D <= 16 has the inits in the
    lanes, pads no rows and is the same code in every build.)"""
    return min(builds(dtype), key=lambda k: (-(-n // k.block_rows) * k.block_rows, -k.block_rows))


def build_kernels(dtype: torch.dtype, defines: tuple[tuple[str, str], ...] = ()) -> Kernels:
    """The entry points of ``mlp1.c`` built for ``dtype`` with extra ``-D`` ``defines`` (e.g.
    ``(("HG_VBYTES", "32"),)`` for a vector width other than the target's)."""
    ctype, suffix = _SUFFIX[dtype]
    size = ("HG_TBYTES", str(dtype.itemsize))
    lib = load(SOURCE, (("HG_T", ctype), size, ("HG_SUFFIX", suffix), *defines))
    fns = []
    for name in _ENTRY_POINTS:
        fn = getattr(lib, f"hg_mlp1_{name}_{suffix}")
        fn.restype = ctypes.c_int
        fn.argtypes = [ctypes.c_int] * 4 + [ctypes.c_void_p] * 5
        fns.append(fn)
    sizes = []
    for name in ("lanes", "block_vectors"):
        fn = getattr(lib, f"hg_mlp1_{name}_{suffix}")
        fn.restype, fn.argtypes = ctypes.c_int, []
        sizes.append(fn())
    return Kernels(*fns, *sizes)


def hidden_width(p: int, d: int) -> int:
    """H of an MLP [d, H, 1] with ``p`` weights (p = H*d + 2H + 1)."""
    h, rest = divmod(p - 1, d + 2)
    if rest or h < 1:
        raise ValueError(f"{p} weights are not an MLP [{d}, H, 1]")
    return h


def _call(fn: ctypes._CFuncPtr, w: Tensor, x: Tensor, y: Tensor, mid: Tensor, out: Tensor) -> None:
    """One C call on C inits: ``mid`` is the loss [C] for a gradient, the directions [C, P]
    for an HVP; ``out`` [C, P] receives the gradients or the products."""
    if any(t.device.type != "cpu" for t in (w, x, y, mid, out)):  # never hand C a non-CPU pointer
        raise ValueError("mlp1 kernel: every tensor must be on the CPU")
    n, d = x.shape
    status = fn(
        w.shape[0], n, d, hidden_width(w.shape[1], d), x.data_ptr(), y.data_ptr(),
        w.data_ptr(), mid.data_ptr(), out.data_ptr(),
    )  # fmt: skip
    if status != 0:
        raise MemoryError if status == 2 else ValueError(f"mlp1 kernel: bad sizes {tuple(w.shape)}")


def value_and_grad(w: Tensor, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor] | None:
    """Loss ``[...]`` and gradient ``[..., P]`` for weights ``w`` ``[..., P]`` (leading
    dimensions and vmap levels alike: one set of weights per init) on rows ``x``, ``y`` shared
    by all; None where the rows are themselves batched (each init its own rows: autograd's
    case). CPU, float32/float64, ``x`` of ``w``'s dtype."""
    return _through_vmap(lambda w_: _stacked(w_, x, y), (w,), x, y)


def hvp(w: Tensor, u: Tensor, x: Tensor, y: Tensor) -> Tensor | None:
    """The Hessian of the same loss at ``w`` times ``u`` (``u`` shaped and vmap-batched like
    ``w``: one direction per init); None where the rows are batched or ``u`` is not batched
    exactly as ``w`` is."""
    out = _through_vmap(lambda w_, u_: _stacked(w_, x, y, u_), (w, u), x, y)
    return None if out is None else out[0]


def _through_vmap(fn, tensors: tuple[Tensor, ...], x: Tensor, y: Tensor):  # noqa: ANN001, ANN202
    """``fn`` of ``tensors`` taken out of their vmap wrappers, innermost level first, each
    level's batch dimension moved to the front (all tensors batched at the same levels), its
    outputs wrapped back; None where the rows are batched or the levels differ."""
    if is_batchedtensor(x) or is_batchedtensor(y):
        return None
    plain, levels = list(tensors), []
    while is_batchedtensor(plain[0]):
        level = maybe_get_level(plain[0])
        for i, t in enumerate(plain):
            if not is_batchedtensor(t) or maybe_get_level(t) != level:
                return None
            t, bdim = _unwrap_batched(t, level)
            plain[i] = t if bdim == 0 else t.movedim(bdim, 0)
        levels.append(level)
    if any(is_batchedtensor(t) for t in plain):
        return None
    outs = fn(*plain)
    for level in reversed(levels):  # wrap back, outermost level first
        outs = tuple(_add_batch_dim(o, 0, level) for o in outs)
    return outs


def _stacked(w: Tensor, x: Tensor, y: Tensor, u: Tensor | None = None) -> tuple[Tensor, ...]:
    """(loss, gradient) of plain stacked weights, or (HVP,) along ``u`` when given."""
    if w.device.type != "cpu" or w.dtype not in _SUFFIX or x.dtype != w.dtype:
        raise ValueError(f"mlp1 kernel: CPU float32/float64 only, got {w.dtype} on {w.device}")
    if x.dim() != 2 or y.numel() != x.shape[0] or w.dim() < 1:
        raise ValueError(f"mlp1 kernel: rows x [N, D] and y [N], got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")  # fmt: skip
    if u is not None and (u.shape != w.shape or u.dtype != w.dtype):
        raise ValueError(f"mlp1 kernel: directions {tuple(u.shape)} for weights {tuple(w.shape)}")
    flat = (w.reshape(-1, w.shape[-1]) if w.dim() != 2 else w).contiguous()
    x = x.contiguous()
    y = y.reshape(-1).to(w.dtype) if y.dim() != 1 or y.dtype != w.dtype else y
    y = y.contiguous()
    out = torch.empty_like(flat)
    build = for_rows(w.dtype, x.shape[0])
    if u is None:  # gradient: the loss [C] beside it
        fn, mid = build.value_and_grad, flat.new_empty(flat.shape[0])
    else:
        fn, mid = build.hvp, u.reshape(flat.shape).contiguous()
    c = flat.shape[0]
    parts = min(torch.get_num_threads(), c)
    if parts <= 1:
        _call(fn, flat, x, y, mid, out)
    else:  # ctypes releases the GIL: split the inits over torch's intra-op thread count
        edges = [c * k // parts for k in range(parts + 1)]
        list(_pool(parts).map(
            lambda k: _call(fn, flat[edges[k]:edges[k + 1]], x, y,
                            mid[edges[k]:edges[k + 1]], out[edges[k]:edges[k + 1]]),
            range(parts),
        ))  # fmt: skip
    out = out if w.dim() == 2 else out.reshape(w.shape)
    if u is not None:
        return (out,)
    return mid if w.dim() == 2 else mid.reshape(w.shape[:-1]), out


@lru_cache(maxsize=4)
def _pool(workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(workers, thread_name_prefix="hgbench-mlp1")
