"""Exact, vectorised fixed-point arithmetic for reversible learning (Maclaurin et al. 2015).

Weights and velocities are ``int64`` fixed point with ``radix_bits`` fractional bits (the
reference's 2^52). Additions of a float are exactly undone by subtracting the same float.
Multiplication by a momentum γ is done as the rational ``n/d`` with ``d = 2^16`` (as in the
reference's ``float_to_rational``) and is made invertible by an *information buffer*:

``x -> (x // d) * n + pop_n(buffer)`` after ``push_d(buffer, x mod d)``

(the reference's ``ExactRep.rational_mul``). The reference buffer is one Python
arbitrary-precision integer per weight. Here it is a streaming range-ANS stack per weight,
vectorised in torch: a 64-bit *head* per weight kept in ``[2^16, 2^32)`` and a *tail*, a list
with one ``int16`` tensor per multiplication holding the 16-bit chunks that the weights whose
head would overflow emitted at that step (only those weights: the mask is recomputed exactly on
the way back, so it is never stored). The head grows by ``log2(d/n) ≈ log2(1/γ)`` bits per
multiplication, so the buffer holds that many bits per weight per step plus a constant.

The emission rule is rANS renormalisation for a uniform "push base d, pop base n" step: with
head ``S`` in ``I = [L, bL)``, ``L = b = d = 2^16``, emit the low 16 bits iff ``S >= n·2^16``;
then the new head lies in ``I`` again, and on reversal a head below ``L`` after the inverse
step means a chunk must be read back. Every operation is a handful of whole-tensor integer ops
and runs on CPU and CUDA.
"""

from __future__ import annotations

import torch
from torch import Tensor

#: Denominator of the rational momentum ``n / d`` (the reference's 2^16).
DENOM_BITS = 16
DENOM = 1 << DENOM_BITS
#: Bits per emitted chunk; heads live in ``[HEAD_LOW, HEAD_LOW << CHUNK_BITS)``.
CHUNK_BITS = 16
CHUNK_MASK = (1 << CHUNK_BITS) - 1
HEAD_LOW = 1 << 16
_CHUNK_OFFSET = 1 << (CHUNK_BITS - 1)  # chunks are stored as int16 after this shift

#: Information buffer: ``{"head": int64 [P], "tail": [int16 [k_t], ...]}``.
Buffer = dict


def fixed_range(radix_bits: int) -> float:
    """Largest magnitude kept in fixed point with headroom for one addition: 2^(62-radix)."""
    return 2.0 ** (62 - radix_bits)


def to_fixed(x: Tensor, radix_bits: int) -> Tensor:
    """Round a float tensor to ``int64`` fixed point (computed in float64)."""
    return torch.round(x.to(torch.float64) * (2.0**radix_bits)).to(torch.int64)


def from_fixed(x: Tensor, radix_bits: int, dtype: torch.dtype = torch.float64) -> Tensor:
    """The float value of a fixed-point tensor."""
    return (x.to(torch.float64) * (2.0**-radix_bits)).to(dtype)


def gamma_numerator(gamma: Tensor) -> Tensor:
    """Numerators ``n`` (int64, in ``[1, d]``) of the rationals ``n/d`` nearest to ``gamma``."""
    return torch.round(gamma.to(torch.float64) * DENOM).clamp(1, DENOM).to(torch.int64)


def rational(n: Tensor, dtype: torch.dtype) -> Tensor:
    """The float value ``n / d`` of a numerator tensor: the momentum actually applied."""
    return (n.to(torch.float64) / DENOM).to(dtype)


def empty_buffer(shape: torch.Size | tuple[int, ...], device: torch.device | str) -> Buffer:
    """A buffer holding no information: every head at ``HEAD_LOW``, an empty tail."""
    return {"head": torch.full(shape, HEAD_LOW, dtype=torch.int64, device=device), "tail": []}


def mul_rational(x: Tensor, n: Tensor, buf: Buffer) -> tuple[Tensor, Buffer]:
    """``x * n / d`` exactly invertible: the remainder goes into the buffer.

    ``x`` int64 fixed point, ``n`` int64 numerators broadcastable to ``x`` (``1 <= n <= d``).
    Returns the new ``x`` and a new buffer (the tail gains one entry).
    """
    n = n.expand_as(x)
    head = buf["head"]
    emit = head >= (n << CHUNK_BITS)
    chunk = ((head[emit] & CHUNK_MASK) - _CHUNK_OFFSET).to(torch.int16)
    head = torch.where(emit, head >> CHUNK_BITS, head)
    # push x mod d (base d) into the head, then pop a value in [0, n) to fill x's low digits
    wide = (head << DENOM_BITS) | (x & (DENOM - 1))
    new_head = torch.div(wide, n, rounding_mode="floor")
    new_x = (x >> DENOM_BITS) * n + (wide - new_head * n)
    return new_x, {"head": new_head, "tail": [*buf["tail"], chunk]}


def div_rational(x: Tensor, n: Tensor, buf: Buffer) -> tuple[Tensor, Buffer]:
    """The exact inverse of :func:`mul_rational` with the same ``n``."""
    n = n.expand_as(x)
    q = torch.div(x, n, rounding_mode="floor")
    wide = buf["head"] * n + (x - q * n)
    old_x = q * DENOM + (wide & (DENOM - 1))
    head = wide >> DENOM_BITS
    refill = head < HEAD_LOW
    chunk = buf["tail"][-1].to(torch.int64) + _CHUNK_OFFSET
    low = torch.zeros_like(head).masked_scatter(refill, chunk)
    head = torch.where(refill, (head << CHUNK_BITS) | low, head)
    return old_x, {"head": head, "tail": buf["tail"][:-1]}


def buffer_bits(buf: Buffer) -> dict[str, float]:
    """Size of a buffer: ``tail`` bits stored, ``head`` information bits above the empty
    state (``sum log2(head / L)``), their total ``information``, and ``stored`` (tail + the
    64-bit heads)."""
    tail = float(sum(int(c.numel()) for c in buf["tail"]) * CHUNK_BITS)
    head = buf["head"]
    head_info = float(torch.log2(head.to(torch.float64) / HEAD_LOW).sum())
    return {
        "tail": tail,
        "head": head_info,
        "information": tail + head_info,
        "stored": tail + 64.0 * head.numel(),
    }


def ideal_bits(gammas: list[float] | Tensor, num_weights: int) -> float:
    """The information lost by ``T`` multiplications by γ_t: ``N · Σ_t log2(1/γ_t)``."""
    gs = torch.as_tensor(gammas, dtype=torch.float64).reshape(-1)
    return float(num_weights * (-torch.log2(gs)).sum()) if gs.numel() else 0.0


def check_radix_bits(radix_bits: int) -> int:
    """Validate the number of fractional bits (``ValueError`` outside [8, 60])."""
    if not isinstance(radix_bits, int) or not 8 <= radix_bits <= 60:
        raise ValueError(f"radix_bits must be an integer in [8, 60], got {radix_bits!r}")
    return radix_bits


def log2_ratio(n: Tensor) -> Tensor:
    """``log2(d / n)``: bits added to the buffer per weight by one multiplication."""
    return DENOM_BITS - torch.log2(n.to(torch.float64))


__all__ = [
    "DENOM",
    "HEAD_LOW",
    "buffer_bits",
    "div_rational",
    "empty_buffer",
    "fixed_range",
    "from_fixed",
    "gamma_numerator",
    "ideal_bits",
    "mul_rational",
    "rational",
    "to_fixed",
]
