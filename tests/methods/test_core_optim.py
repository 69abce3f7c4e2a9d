"""Oracle tests: every functional optimizer follows ``torch.optim`` step for step (float64),
is differentiable in its hyperparameters and vmaps."""

from __future__ import annotations

import pytest
import torch
from torch.func import grad, vmap

from hgbench.methods.core import optim as O

STEPS = 12

CASES = [
    ("sgd", torch.optim.SGD, {"lr": 0.05}, {}),
    ("sgd", torch.optim.SGD, {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01}, {}),
    (
        "sgd",
        torch.optim.SGD,
        {"lr": 0.05, "momentum": 0.7, "weight_decay": 0.01, "nesterov": True},
        {"nesterov": True},
    ),
    ("adam", torch.optim.Adam, {"lr": 0.01}, {}),
    ("adam", torch.optim.Adam, {"lr": 0.01, "betas": (0.8, 0.95), "weight_decay": 0.1}, {}),
    ("adagrad", torch.optim.Adagrad, {"lr": 0.1}, {}),
    ("adagrad", torch.optim.Adagrad, {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.1}, {}),
    ("rmsprop", torch.optim.RMSprop, {"lr": 0.01}, {}),
    (
        "rmsprop",
        torch.optim.RMSprop,
        {"lr": 0.01, "alpha": 0.9, "momentum": 0.5, "weight_decay": 0.1},
        {},
    ),
]


def _ours_kwargs(torch_kwargs: dict) -> dict:
    out = {
        k: torch.tensor(v, dtype=torch.float64)
        for k, v in torch_kwargs.items()
        if k not in ("betas", "nesterov")
    }
    if "betas" in torch_kwargs:
        out["beta1"] = torch.tensor(torch_kwargs["betas"][0], dtype=torch.float64)
        out["beta2"] = torch.tensor(torch_kwargs["betas"][1], dtype=torch.float64)
    return out


def _grad_at(w: torch.Tensor, k: int) -> torch.Tensor:
    """A deterministic, weight-dependent gradient sequence (a moving quadratic)."""
    return torch.cos(w * (k + 1)) + 0.3 * w - 0.1 * k


@pytest.mark.parametrize("name,cls,tkw,extra", CASES)
def test_follows_torch_optim(name, cls, tkw, extra):
    torch.manual_seed(0)
    w0 = torch.randn(7, dtype=torch.float64)
    p = torch.nn.Parameter(w0.clone())
    ref = cls([p], **tkw)
    opt = O.get_optimizer(name)
    w, state = w0.clone(), opt.init(w0)
    kwargs = {**_ours_kwargs(tkw), **extra}
    for k in range(STEPS):
        p.grad = _grad_at(p.detach(), k)
        ref.step()
        w, state = opt.update(w, _grad_at(w, k), state, **kwargs)
        torch.testing.assert_close(w, p.detach(), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("name", list(O.OPTIMIZERS))
def test_update_is_differentiable_in_lr_and_vmaps(name):
    opt = O.get_optimizer(name)
    w0 = torch.linspace(-1, 1, 5, dtype=torch.float64)

    def final_sum(lr: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        state = opt.init(w)
        for k in range(3):
            w, state = opt.update(w, _grad_at(w, k), state, lr=lr)
        return w.sum()

    lr = torch.tensor(0.01, dtype=torch.float64)
    g = grad(final_sum)(lr, w0)
    eps = 1e-6
    fd = (final_sum(lr + eps, w0) - final_sum(lr - eps, w0)) / (2 * eps)
    assert torch.isfinite(g) and g != 0
    torch.testing.assert_close(g, fd, rtol=1e-6, atol=1e-9)
    # vmapped over 3 (lr, w0) pairs == one by one
    lrs = torch.tensor([0.01, 0.02, 0.05], dtype=torch.float64)
    ws = torch.stack([w0, w0 * 2, -w0])
    batched = vmap(grad(final_sum))(lrs, ws)
    single = torch.stack([grad(final_sum)(lrs[i], ws[i]) for i in range(3)])
    torch.testing.assert_close(batched, single, rtol=1e-10, atol=0)


def test_clip_by_global_norm_matches_torch():
    g = torch.tensor([3.0, 4.0], dtype=torch.float64)
    p = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    p.grad = g.clone()
    torch.nn.utils.clip_grad_norm_([p], 0.25)
    torch.testing.assert_close(O.clip_by_global_norm(g, 0.25), p.grad)
    assert O.clip_by_global_norm(g, None) is g
    torch.testing.assert_close(O.clip_by_global_norm(g, 100.0), g)


def test_unknown_optimizer_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown optimizer 'sgdd'.*adam"):
        O.get_optimizer("sgdd")


def test_tree_adam_follows_torch_optim_adam_on_a_dict_of_tensors():
    from hgbench.methods.core.optim import tree_adam, tree_adam_init

    gen = torch.Generator().manual_seed(0)
    params = {"a": torch.randn(3, generator=gen, dtype=torch.float64),
              "b": torch.randn((), generator=gen, dtype=torch.float64)}  # fmt: skip
    ref = {k: v.clone().requires_grad_() for k, v in params.items()}
    opt = torch.optim.Adam(ref.values(), lr=0.05, betas=(0.9, 0.99))
    state = tree_adam_init(params)
    for _ in range(6):
        grads = {k: torch.sin(3 * v) + v**2 for k, v in params.items()}
        for p in ref.values():
            p.grad = (torch.sin(3 * p) + p**2).detach()
        opt.step()
        params, state = tree_adam(params, grads, state, 0.05, 0.9, 0.99)
        for k in params:
            torch.testing.assert_close(params[k], ref[k].detach(), rtol=1e-12, atol=1e-14)
    assert int(state["step"]) == 6
