"""The counted differentiation helpers: eager and ``torch.func`` paths agree and count."""

from __future__ import annotations

import torch
from torch.func import grad, vmap

from hgbench.methods.core.diff import hvp, value_and_grad, vjp_through


def test_eager_and_transformed_gradients_agree(make_tiny):
    problem = make_tiny()
    w = problem.init_weights(0)
    batch = problem.train_batch(0)
    loss, g, _ = value_and_grad(problem, w, {}, batch)  # eager path
    assert not g.requires_grad and g.grad_fn is None and not loss.requires_grad
    ref = grad(lambda x: problem.loss(x, {}, batch)[0])(w)
    torch.testing.assert_close(g, ref, rtol=1e-12, atol=0)
    batched = vmap(lambda x: value_and_grad(problem, x, {}, batch)[1])(torch.stack([w, 2 * w]))
    torch.testing.assert_close(batched[0], g, rtol=1e-12, atol=1e-15)
    assert problem.counter.gradient == 2
    # differentiating through value_and_grad (func path) gives the HVP
    v = torch.randn_like(w)
    hv = grad(lambda x: value_and_grad(problem, x, {}, batch)[1].dot(v))(w)
    torch.testing.assert_close(hv, hvp(problem, w, {}, batch, v), rtol=1e-10, atol=1e-12)
    assert problem.counter.hvp == 1


def test_vjp_through_matches_func_vjp_and_keeps_no_graph():
    h = torch.tensor([0.3, -0.2], dtype=torch.float64)
    g = torch.randn(5, dtype=torch.float64)

    def f(x):
        return x[0] * torch.tanh(x[1] * g)

    cot = torch.randn(5, dtype=torch.float64)
    out = vjp_through(f, h, cot)
    assert out.grad_fn is None and not out.requires_grad
    _, pb = torch.func.vjp(f, h)
    torch.testing.assert_close(out, pb(cot)[0])
    batched = vmap(lambda c: vjp_through(f, h, c))(torch.stack([cot, -cot]))
    torch.testing.assert_close(batched[1], -out)


def test_eager_and_transformed_hvps_agree_with_finite_differences(make_tiny):
    problem = make_tiny()
    w = problem.init_weights(0)
    ms, b = problem.init_model_state(), problem.train_batch(0)
    v = torch.randn(w.shape, dtype=w.dtype, generator=torch.Generator().manual_seed(1))
    eager = hvp(problem, w, ms, b, v)  # no transform active: reverse-over-reverse
    transformed = vmap(lambda w_: hvp(problem, w_, ms, b, v))(w.unsqueeze(0))[0]  # jvp(grad)
    eps = 1e-6
    g_plus = value_and_grad(problem, w + eps * v, ms, b)[1]
    g_minus = value_and_grad(problem, w - eps * v, ms, b)[1]
    fd = (g_plus - g_minus) / (2 * eps)
    torch.testing.assert_close(eager, transformed, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(eager, fd, rtol=1e-6, atol=1e-8)
    assert problem.counter.hvp == 2
