"""The batched-inits kernel of the UCI MLP as a torch operator with a ``vmap`` rule.

``hgbench::mlp1_value_and_grad(w, x, y) -> (loss, grad)``: the mean squared error of the
one-hidden-layer ReLU regressor at flat weights ``w`` (``[..., P]``, any leading dimensions:
one set of weights per init) on rows ``x`` ``[N, D]``, ``y`` ``[N]``, and its gradient in
``w``. Its ``vmap`` rule moves the init dimension to the front and computes every init in one
call of the C kernel (``mlp1.c``), so ``torch.func.vmap`` of a step that takes its gradient
here runs all inits in one pass over the data instead of autograd on stacked activations.
The operator has no derivative of its own: it serves gradients nothing differentiates
through (:func:`hgbench.methods.core.diff.value_and_grad` checks that before using it).
"""

from __future__ import annotations

import ctypes
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import torch
from torch import Tensor

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
    n, d = x.shape
    status = fn(
        w.shape[0], n, d, hidden_width(w.shape[1], d), x.data_ptr(), y.data_ptr(),
        w.data_ptr(), loss.data_ptr(), g.data_ptr(),
    )  # fmt: skip
    if status != 0:
        raise MemoryError if status == 2 else ValueError(f"mlp1 kernel: bad sizes {tuple(w.shape)}")


@torch.library.custom_op("hgbench::mlp1_value_and_grad", mutates_args=())
def mlp1_value_and_grad(w: Tensor, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Loss ``[...]`` and gradient ``[..., P]`` for weights ``w`` ``[..., P]`` (see module)."""
    if w.device.type != "cpu" or w.dtype not in _SUFFIX or x.dtype != w.dtype:
        raise ValueError(f"mlp1 kernel: CPU float32/float64 only, got {w.dtype} on {w.device}")
    lead = w.shape[:-1]
    flat = w.reshape(-1, w.shape[-1]).contiguous()
    x, y = x.contiguous(), y.reshape(-1).to(w.dtype).contiguous()
    loss = torch.empty(flat.shape[0], dtype=w.dtype)
    g = torch.empty_like(flat)
    fn = kernel(w.dtype)
    parts = min(torch.get_num_threads(), flat.shape[0])
    if parts <= 1:
        _call(fn, flat, x, y, loss, g)
    else:  # ctypes releases the GIL: split the inits over torch's intra-op thread count
        edges = [flat.shape[0] * k // parts for k in range(parts + 1)]
        with ThreadPoolExecutor(parts) as pool:
            list(pool.map(
                lambda k: _call(fn, flat[edges[k]:edges[k + 1]], x, y,
                                loss[edges[k]:edges[k + 1]], g[edges[k]:edges[k + 1]]),
                range(parts),
            ))  # fmt: skip
    return loss.reshape(lead), g.reshape(w.shape)


@mlp1_value_and_grad.register_fake
def _(w: Tensor, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    return w.new_empty(w.shape[:-1]), torch.empty_like(w)


@torch.library.register_vmap("hgbench::mlp1_value_and_grad")
def _vmap(info, in_dims, w: Tensor, x: Tensor, y: Tensor):  # noqa: ANN001, ANN202
    w_dim, x_dim, y_dim = in_dims
    w = w.movedim(w_dim, 0) if w_dim is not None else w.expand(info.batch_size, *w.shape)
    if x_dim is None and y_dim is None:  # the inits share the rows: one call for all
        return mlp1_value_and_grad(w, x, y), (0, 0)
    xs = x.movedim(x_dim, 0) if x_dim is not None else [x] * info.batch_size
    ys = y.movedim(y_dim, 0) if y_dim is not None else [y] * info.batch_size
    outs = [mlp1_value_and_grad(w[i], xs[i], ys[i]) for i in range(info.batch_size)]
    return (torch.stack([o[0] for o in outs]), torch.stack([o[1] for o in outs])), (0, 0)
