"""The reference form of ``baydin_loglr`` (Clarke et al. 2022's "Baydin" arm) against a
hand-written loop of the reference code's rule, and against the exact chain-rule form."""

from __future__ import annotations

import math

import pytest
import torch

from hgbench.analysis.fidelity import run_steps, tiny_mlp_problem
from hgbench.methods import METHODS
from hgbench.spec import InitialHyper


def reference_trajectory(quad, w0, lr, wd, mu, meta_lr, steps):
    """Clarke et al.'s ``BaydinHypergradientDescent`` on a full-batch quadratic, by hand:
    after each weight step, ``x.grad = -(∇L(w_{t+1}) · ∇L(w_t))`` (loss gradients, no L2,
    no momentum), ``x ← clamp(x - meta_lr x.grad, -10, 0)``; SGD with momentum and L2 in
    PyTorch's form. Returns ``[(x used by step t, weights after step t)]``."""
    x, w, buf, out = math.log10(lr), w0.clone(), torch.zeros_like(w0), []
    g = quad.grad_full(w)
    for _ in range(steps):
        buf = mu * buf + g + wd * w
        w_next = w - 10.0**x * buf
        out.append((x, w_next))
        g_next = quad.grad_full(w_next)
        x = min(max(x - meta_lr * -(g_next @ g).item(), -10.0), 0.0)
        w, g = w_next, g_next
    return out


def test_reference_form_equals_the_reference_rule_by_hand(quad):
    hyper = InitialHyper(0, lr=0.02, weight_decay=1e-2, momentum=0.6)
    method = METHODS.get("baydin_loglr")(meta_lr=0.05)
    assert method.form == "reference"  # the default
    w0 = quad.init_weights(0)
    state = method.init(quad, w0, quad.init_model_state(), hyper)
    want = reference_trajectory(quad, w0, 0.02, 1e-2, 0.6, 0.05, 12)
    for t, (x, w) in enumerate(want):
        state, _ = method.step(quad, state, t)
        assert abs(float(state["raw"]["lr"]) - x) < 1e-12
        torch.testing.assert_close(state["w"], w, rtol=0, atol=1e-12)
    assert abs(want[-1][0] - math.log10(0.02)) > 1e-3  # the lr moved


def test_chain_rule_form_differs_by_ten_to_the_x_ln_ten(quad):
    """With wd = 0 the first update direction is the gradient, so at t = 1 both forms take
    the same dot product and differ exactly by dα/dx = 10^x ln 10."""
    lr = 0.02
    hyper = InitialHyper(0, lr=lr, weight_decay=0.0, momentum=0.6)
    moves = {}
    for form in ("reference", "chain_rule"):
        method = METHODS.get("baydin_loglr")(meta_lr=1e-3, form=form)
        state = method.init(quad, quad.init_weights(0), quad.init_model_state(), hyper)
        state, _ = run_steps(method, quad, state, range(2))
        moves[form] = float(state["raw"]["lr"]) - math.log10(lr)
    assert moves["reference"] > 0  # too small an lr on a quadratic: it grows
    ratio = moves["chain_rule"] / moves["reference"]
    assert ratio == pytest.approx(lr * math.log(10.0), rel=1e-10)


def test_reference_form_uses_consecutive_training_batches_without_l2_or_clipping():
    """On minibatches: ``h_t = -(g_t · g_{t-1})`` with ``g`` the plain loss gradients of
    train batches t and t-1 at the weights of those steps."""
    problem = tiny_mlp_problem()
    problem.grad_clip = 1e-3  # clipping changes the weight step only
    method = METHODS.get("baydin_loglr")(meta_lr=1e-2)
    state = method.init(
        problem, problem.init_weights(0), problem.init_model_state(), InitialHyper(0, 0.1, 0.1, 0.5)
    )

    def grad(w, t):
        return torch.func.grad(lambda v: problem.loss(v, {}, problem.train_batch(t))[0])(w)

    weights = [state["w"]]
    for t in range(4):
        before = state
        state, _ = method.step(problem, state, t)
        weights.append(state["w"])
        if t == 0:
            assert float(state["raw"]["lr"]) == float(before["raw"]["lr"])
            continue
        h = -grad(weights[t], t).dot(grad(weights[t - 1], t - 1))
        torch.testing.assert_close(state["hypergrad"]["lr"], h, rtol=1e-12, atol=0)
        want = before["raw"]["lr"] - 1e-2 * h
        torch.testing.assert_close(state["raw"]["lr"], want, rtol=1e-12, atol=0)


def test_reference_form_clamps_log_lr_to_minus_ten_zero(quad):
    """A huge meta step drives log10 lr to the clamp at 0 (lr 1) and stays within [-10, 0]."""
    method = METHODS.get("baydin_loglr")(meta_lr=1e6)
    hyper = InitialHyper(0, lr=1e-3, weight_decay=0.0, momentum=0.0)
    state = method.init(quad, quad.init_weights(0), quad.init_model_state(), hyper)
    state, _ = run_steps(method, quad, state, range(2))
    assert float(state["raw"]["lr"]) == 0.0
