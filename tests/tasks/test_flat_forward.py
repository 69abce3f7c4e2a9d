"""The MLP family's flat-vector forward equals ``functional_call`` on the module template:
values, gradients and second derivatives in float64, also under ``vmap``."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import functional_call, grad, jvp, vmap

from hgbench.spec import ParamLayout
from hgbench.tasks.fashion_mnist import flatten_mlp
from hgbench.tasks.models import flat_forward, mlp

TOL = {"rtol": 0, "atol": 1e-12}

MODELS = {
    "uci 8-50-1 relu": (lambda: mlp([8, 50, 1]), (20, 8)),
    "tanh 3-4-4-2": (lambda: mlp([3, 4, 4, 2], nn.Tanh), (7, 3)),
    "sigmoid, no bias": (
        lambda: nn.Sequential(nn.Linear(5, 3, bias=False), nn.Sigmoid(), nn.Linear(3, 1)),
        (6, 5),
    ),
    "flatten mlp": (lambda: flatten_mlp([6]), (4, 28, 28)),
}


def _setup(name: str):
    factory, x_shape = MODELS[name]
    torch.manual_seed(0)
    module = factory().double()
    layout = ParamLayout.from_module(module)
    fast = flat_forward(module, layout)
    assert fast is not None

    def reference(w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return functional_call(module, layout.unflatten(w), (x,))

    w = layout.flatten(dict(module.named_parameters())).detach()
    x = torch.randn(x_shape, dtype=torch.float64)
    return fast, reference, w, x


@pytest.mark.parametrize("name", list(MODELS))
def test_values_gradients_and_hvps_equal_functional_call(name):
    fast, reference, w, x = _setup(name)
    torch.testing.assert_close(fast(w, x), reference(w, x), **TOL)

    def loss(f):
        return lambda w_: (f(w_, x) ** 2).mean()

    torch.testing.assert_close(grad(loss(fast))(w), grad(loss(reference))(w), **TOL)
    v = torch.randn_like(w)
    hv = {n: jvp(grad(loss(f)), (w,), (v,))[1] for n, f in (("fast", fast), ("ref", reference))}
    torch.testing.assert_close(hv["fast"], hv["ref"], **TOL)
    # reverse over reverse, as the eager HVP and the towers take it
    w_ = w.clone().requires_grad_()
    (g,) = torch.autograd.grad(loss(fast)(w_), w_, create_graph=True)
    (hv_eager,) = torch.autograd.grad(g, w_, v)
    torch.testing.assert_close(hv_eager, hv["ref"], **TOL)


@pytest.mark.parametrize("name", list(MODELS))
def test_equal_under_vmap_over_inits(name):
    fast, reference, w, x = _setup(name)
    ws = w + 0.1 * torch.randn(3, w.numel(), dtype=w.dtype)

    def loss(f):
        return lambda w_: (f(w_, x) ** 2).mean()

    for f_out, f_ref in (
        (vmap(fast, in_dims=(0, None))(ws, x), vmap(reference, in_dims=(0, None))(ws, x)),
        (vmap(grad(loss(fast)))(ws), vmap(grad(loss(reference)))(ws)),
    ):
        torch.testing.assert_close(f_out, f_ref, **TOL)


@pytest.mark.parametrize(
    "module",
    [
        nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1)),  # buffers
        nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5), nn.Linear(4, 1)),  # mode-dependent
        nn.Sequential(nn.Linear(3, 4), nn.GELU(), nn.Linear(4, 1)),  # not in the family
        type("MySeq", (nn.Sequential,), {})(nn.Linear(3, 1)),  # a subclass may override forward
        nn.Linear(3, 1),
    ],
)
def test_other_models_keep_functional_call(module):
    assert flat_forward(module, ParamLayout.from_module(module)) is None


def test_a_layout_in_another_order_is_refused():
    module = mlp([3, 4, 1])
    layout = ParamLayout.from_module(module)
    swapped = ParamLayout(layout.names[::-1], layout.shapes[::-1], layout.groups)
    assert flat_forward(module, swapped) is None


def test_uci_problem_uses_the_flat_forward():
    from hgbench.tasks.regression import regression_problem

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(30, 4, generator=g).numpy(), torch.randn(30, generator=g).numpy()
    p = regression_problem("toy", x, y, n_train=20, n_val=5, width=6, dtype=torch.float64)
    assert p._flat_forward is not None
    w = p.init_weights(0)
    batch = p.train_batch(0)
    want = ((functional_call(p.model, p.layout.unflatten(w), (batch.inputs,))[:, 0]
             - batch.targets) ** 2).mean()  # fmt: skip
    torch.testing.assert_close(p.loss(w, p.init_model_state(), batch)[0], want, **TOL)
