"""Oracle: hgbench's hand-written hypergradients equal a ``higher`` unroll of the same steps.

``unrolled`` (truncated reverse mode over the functional SGD core) and ``unrolled_full``
(``torch.func.grad`` through a whole velocity-form training run) against the same window
unrolled by ``higher.innerloop_ctx`` with a stock ``torch.optim.SGD`` over an ``nn.Module``:
equal to 1e-10 in float64. Skipped when the ``higher`` extra is not installed.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hgbench.methods import METHODS
from hgbench.methods.implicit.common import SGD_SPACE
from hgbench.methods.reversible import schedule as sch
from hgbench.methods.reversible.core import l2_flat
from hgbench.spec import InitialHyper
from hgbench.tasks import TASKS

higher = pytest.importorskip("higher")

HYPER = InitialHyper(0, lr=0.05, weight_decay=1e-3, momentum=0.7)


class LossModule(nn.Module):
    """A problem's model as a module of its named tensors; forward is the mean loss."""

    def __init__(self, problem, w, mstate):
        super().__init__()
        self.problem, self.mstate = problem, [mstate]
        tensors = problem.layout.unflatten(w.detach()).values()
        self.tensors = nn.ParameterList(nn.Parameter(t.clone()) for t in tensors)

    def forward(self, batch, stream="train"):
        w = torch.cat([p.reshape(-1) for p in self.tensors])
        loss, self.mstate[0] = self.problem.loss(w, self.mstate[0], batch, stream)
        return loss


@pytest.fixture(scope="module")
def problem():
    """Digits, MLP 64-8-10, 200 training rows in minibatches of 50, float64."""
    return TASKS.get("sk_digits")(width=8, subset=200).build(dtype=torch.float64)


def close(got, want):
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize(("T", "k"), [(4, 1), (4, 3), (3, 3)])
def test_unrolled_equals_the_higher_unroll_of_its_window(problem, T, k):
    method = METHODS.get("unrolled")(T=T, k=k)
    state = method.init(problem, problem.init_weights(0), problem.init_model_state(), HYPER)
    for t in range(2 * T - k):  # one whole hyper-step, then the untracked part of the second
        state, _ = method.step(problem, state, t)
    start = state
    for t in range(2 * T - k, 2 * T):
        state, _ = method.step(problem, state, t)

    model = LossModule(problem, start["w"], start["mstate"])
    opt = torch.optim.SGD(model.parameters(), lr=1.0, momentum=0.5, weight_decay=1.0)
    buffers = problem.layout.unflatten(start["momentum_buffer"]).values()
    for p, b in zip(model.parameters(), buffers, strict=True):
        opt.state[p]["momentum_buffer"] = b.clone()
    raw = {n: v.detach().clone().requires_grad_() for n, v in start["raw"].items()}
    with higher.innerloop_ctx(model, opt) as (fmodel, diffopt):
        override = {n: [v] for n, v in SGD_SPACE.natural(raw).items()}
        for t in range(2 * T - k, 2 * T):
            diffopt.step(fmodel(problem.train_batch(t)), override=override)
        val = fmodel(problem.val_batch(1), stream="val")
        grads = dict(zip(raw, torch.autograd.grad(val, list(raw.values())), strict=True))
        close(state["w"], torch.cat([p.detach().reshape(-1) for p in fmodel.fast_params]))
    for name in ("lr", "weight_decay", "momentum"):
        close(state["hypergrad"][name], grads[name])


@pytest.mark.parametrize("l2_per_weight", [False, True])
def test_unrolled_full_equals_the_higher_unroll_of_its_run(problem, l2_per_weight):
    horizon = 6
    method = METHODS.get("unrolled_full")(
        horizon=horizon, meta_iterations=1, l2_per_weight=l2_per_weight, meta_batches=2
    )
    state = method.init(problem, problem.init_weights(0), problem.init_model_state(), HYPER)
    want, _ = method.hypergradient(problem, state, lambda k: problem.train_batch(k))

    # v <- γv - (1-γ)(g + λw); w <- w + αv  is torch's SGD with buffer b = -v, momentum and
    # dampening γ, weight decay λ, lr α, from a zero buffer; one parameter group per tensor.
    # (higher takes one weight decay per group: an L2 per weight is the penalty ½Σλw² instead)
    nat = {n: v.detach().clone().requires_grad_() for n, v in sch.natural(state["hyper"]).items()}
    layout, gid = problem.layout, problem.layout.group_ids()
    model = LossModule(problem, state["w_base"], state["mstate0"])
    groups = [{"params": [p]} for p in model.parameters()]
    opt = torch.optim.SGD(groups, lr=1.0, momentum=0.5, dampening=0.5, weight_decay=1.0)
    for p in model.parameters():
        opt.state[p]["momentum_buffer"] = torch.zeros_like(p)
    with higher.innerloop_ctx(model, opt) as (fmodel, diffopt):
        w0 = sch.expand(nat["init_scale"], gid) * state["w_base"]
        fmodel.update_params(list(layout.unflatten(w0).values()))
        lam = l2_flat(nat["l2"], gid, l2_per_weight)
        decay = [nat["l2"][g] for g in layout.groups] if not l2_per_weight else [0.0]
        for t in range(horizon):
            alpha = [nat["alpha"][t][g] for g in layout.groups]
            gamma = [nat["gamma"][t][g] for g in layout.groups]
            override = {"lr": alpha, "momentum": gamma, "dampening": gamma, "weight_decay": decay}
            loss = fmodel(problem.train_batch(t))
            if l2_per_weight:
                w = torch.cat([p.reshape(-1) for p in fmodel.fast_params])
                loss = loss + 0.5 * (lam * w * w).sum()
            diffopt.step(loss, override=override)
        meta = [problem.train_batch(j) for j in range(2)]  # the meta-objective: train batches
        f = sum(fmodel(b, stream="val") for b in meta) / len(meta)
        got = dict(zip(nat, torch.autograd.grad(f, list(nat.values())), strict=True))
    assert set(want) == set(got) == {"alpha", "gamma", "init_scale", "l2"}
    for name in want:
        close(want[name], got[name])
