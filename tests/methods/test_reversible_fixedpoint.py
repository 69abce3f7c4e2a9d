"""Exact arithmetic and the information buffer of reversible learning."""

from __future__ import annotations

import pytest
import torch

from hgbench.methods.reversible import fixedpoint as fx
from tests.devices import CPU_AND_CUDA


def _velocity_run(gammas: list[float], num: int, device: str, seed: int = 0):
    """The velocity recursion of reversible learning on random 'gradients', in fixed point:
    returns the initial and final integers, the final buffer, and the per-step data."""
    gen = torch.Generator().manual_seed(seed)
    x0 = fx.to_fixed(torch.randn(num, generator=gen, dtype=torch.float64), 52).to(device)
    grads = [torch.randn(num, generator=gen, dtype=torch.float64).to(device) for _ in gammas]
    ns = [fx.gamma_numerator(torch.tensor(g, device=device)) for g in gammas]
    x, buf = x0, fx.empty_buffer(x0.shape, device)
    for n, g in zip(ns, grads, strict=True):
        x, buf = fx.mul_rational(x, n, buf)
        x = x - fx.to_fixed((1 - fx.rational(n, torch.float64)) * g, 52)
    return x0, x, buf, ns, grads


@pytest.mark.parametrize("device", CPU_AND_CUDA)
def test_mul_div_recovers_bit_for_bit(device: str) -> None:
    gammas = [0.5, 0.9, 0.98, 0.3, 0.999, 0.01] * 20
    x0, x, buf, ns, grads = _velocity_run(gammas, 500, device)
    assert not torch.equal(x, x0)
    for n, g in zip(reversed(ns), reversed(grads), strict=True):
        x = x + fx.to_fixed((1 - fx.rational(n, torch.float64)) * g, 52)
        x, buf = fx.div_rational(x, n, buf)
    assert torch.equal(x, x0)
    assert torch.equal(buf["head"], torch.full_like(x0, fx.HEAD_LOW))
    assert buf["tail"] == []


def test_multiplication_is_by_the_rational() -> None:
    x = fx.to_fixed(torch.tensor([1.0, -3.5, 1e-3], dtype=torch.float64), 52)
    n = fx.gamma_numerator(torch.tensor(0.9))
    y, _ = fx.mul_rational(x, n, fx.empty_buffer(x.shape, "cpu"))
    want = fx.from_fixed(x, 52) * fx.rational(n, torch.float64)
    # the low 16 bits are exchanged with the buffer: error below d units in the last place
    torch.testing.assert_close(fx.from_fixed(y, 52), want, rtol=0, atol=fx.DENOM * 2.0**-52)
    assert not torch.allclose(fx.from_fixed(y, 52), fx.from_fixed(x, 52), rtol=0.05)


def test_tampered_buffer_breaks_recovery() -> None:
    """The recovery test above would notice a buffer that lost information."""
    x0, x, buf, ns, grads = _velocity_run([0.5] * 40, 50, "cpu")
    k = next(i for i, c in enumerate(buf["tail"]) if c.numel())
    tail = list(buf["tail"])
    tail[k] = tail[k] ^ 1
    buf = {"head": buf["head"], "tail": tail}
    for n, g in zip(reversed(ns), reversed(grads), strict=True):
        x = x + fx.to_fixed((1 - fx.rational(n, torch.float64)) * g, 52)
        x, buf = fx.div_rational(x, n, buf)
    assert not torch.equal(x, x0)


@pytest.mark.parametrize("gamma", [0.5, 0.9, 0.98])
def test_buffer_size_close_to_ideal(gamma: float) -> None:
    num, steps = 400, 300
    _, _, buf, ns, _ = _velocity_run([gamma] * steps, num, "cpu")
    bits = fx.buffer_bits(buf)
    ideal = fx.ideal_bits([gamma] * steps, num)
    # stored tail within 1.2x of T·N·log2(1/γ) plus one chunk per weight
    assert bits["tail"] <= 1.2 * ideal + fx.CHUNK_BITS * num
    # information (tail + head above its empty value) equals the ideal up to rounding
    assert abs(bits["information"] - ideal) <= 1e-3 * ideal + 1.0
    # and the stored form adds only the fixed 64-bit head per weight
    assert bits["stored"] <= 1.2 * ideal + (fx.CHUNK_BITS + 64) * num


def test_no_information_lost_at_gamma_one_numerator() -> None:
    x0, x, buf, _, _ = _velocity_run([1.0 - 2.0**-20] * 10, 20, "cpu")
    assert fx.buffer_bits(buf)["information"] == 0.0


def test_radix_bits_validated() -> None:
    with pytest.raises(ValueError, match="radix_bits"):
        fx.check_radix_bits(63)
