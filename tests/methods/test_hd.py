"""Baydin et al. 2018 hypergradient descent: β = 0 is ``fixed``, the hypergradient matches
finite differences, α moves once per step by β times the full dot product, and it vmaps."""

from __future__ import annotations

import pytest
import torch

from hgbench.methods import METHODS
from hgbench.methods.core.hyper import sample_initial_hypers
from hgbench.spec import InitialHyper

FIXED_EQUIV = {
    "hd_sgd": ({"optimizer": "sgd"}, 0.0),
    "hd_sgdn": ({"optimizer": "sgd", "nesterov": True}, 0.9),
    "hd_adam": ({"optimizer": "adam"}, 0.0),
}
#: settings that make each method step exactly like its ``fixed`` counterpart at β = 0
HD_AS_FIXED = {"hd_adam": {"adam_form": "torch"}}


def _run(method, problem, hyper, steps):
    state = method.init(problem, problem.init_weights(0), problem.init_model_state(), hyper)
    states = [state]
    for t in range(steps):
        state, _ = method.step(problem, state, t)
        states.append(state)
    return states


@pytest.mark.parametrize("key", list(FIXED_EQUIV))
def test_beta_zero_equals_fixed_exactly(make_tiny, key):
    fixed_kwargs, mu = FIXED_EQUIV[key]
    hyper = InitialHyper(0, lr=0.05, weight_decay=1e-4, momentum=mu)
    hd = _run(METHODS.get(key)(beta=0.0, **HD_AS_FIXED.get(key, {})), make_tiny(), hyper, 15)
    fx = _run(METHODS.get("fixed")(**fixed_kwargs), make_tiny(), hyper, 15)
    for a, b in zip(hd, fx, strict=True):
        assert torch.equal(a["w"], b["w"])


@pytest.mark.parametrize("key", list(FIXED_EQUIV))
def test_hypergradient_matches_finite_differences(make_tiny, key):
    problem = make_tiny()
    hyper = InitialHyper(0, lr=0.05, weight_decay=1e-2, momentum=0.5)
    method = METHODS.get(key)(beta=1e-3)
    wd = float(method.init(problem, problem.init_weights(0), {}, hyper)["hyper"]["weight_decay"])
    states = _run(method, problem, hyper, 6)
    for t in range(1, 6):
        before, after = states[t], states[t + 1]
        w, u, lr = before["w"], before["u"], before["lr"]
        batch = problem.train_batch(t)

        def objective(a: float, w=w, u=u, lr=lr, batch=batch) -> torch.Tensor:
            wa = w + (lr - a) * u  # the weights had the previous step used lr a
            return problem.loss(wa, {}, batch)[0] + 0.5 * wd * wa.dot(wa)

        eps = 1e-5
        fd = (objective(float(lr) + eps) - objective(float(lr) - eps)) / (2 * eps)
        assert abs(float(fd)) > 1e-8
        torch.testing.assert_close(after["hypergrad"]["lr"], fd, rtol=1e-6, atol=1e-10)


def test_alpha_moves_once_per_step_by_beta_times_full_dot(make_tiny):
    problem = make_tiny()
    hyper = InitialHyper(0, lr=0.05, weight_decay=1e-3, momentum=0.0)
    method = METHODS.get("hd_adam")(beta=1e-2, weight_decay=1e-3)
    states = _run(method, problem, hyper, 5)
    for t in range(1, 5):
        before, after = states[t], states[t + 1]
        w = before["w"].clone().requires_grad_()
        loss = problem.loss(w, {}, problem.train_batch(t))[0]
        (g,) = torch.autograd.grad(loss, w)
        d = g + 1e-3 * before["w"]
        want = before["lr"] + 1e-2 * d.dot(before["u"])  # one dot over all tensors
        torch.testing.assert_close(after["lr"], want, rtol=1e-12, atol=0)
        torch.testing.assert_close(after["w"], before["w"] - after["lr"] * after["u"])


def test_sgdn_direction_is_nesterov(make_tiny):
    problem = make_tiny()
    hyper = InitialHyper(0, lr=0.05, weight_decay=0.0, momentum=0.3)
    method = METHODS.get("hd_sgdn")(weight_decay=0.0, momentum=0.9)
    s0 = method.init(problem, problem.init_weights(0), {}, hyper)
    s1, _ = method.step(problem, s0, 0)
    s2, _ = method.step(problem, s1, 1)
    w = s1["w"].clone().requires_grad_()
    (g,) = torch.autograd.grad(problem.loss(w, {}, problem.train_batch(1))[0], w)
    buf = 0.9 * s1["opt"]["momentum_buffer"] + g
    torch.testing.assert_close(s2["u"], g + 0.9 * buf)


def test_multiplicative_and_nonnegative(make_tiny):
    problem = make_tiny()
    hyper = InitialHyper(0, lr=0.05, weight_decay=0.0, momentum=0.0)
    states = _run(METHODS.get("hd_sgd")(beta=0.1, multiplicative=True), problem, hyper, 4)
    for t in range(1, 4):
        b, a = states[t], states[t + 1]
        w = b["w"].clone().requires_grad_()
        (g,) = torch.autograd.grad(problem.loss(w, {}, problem.train_batch(t))[0], w)
        g = g + 1e-4 * b["w"]
        cos = torch.nn.functional.cosine_similarity(g, b["u"], dim=0)
        torch.testing.assert_close(a["lr"], b["lr"] * (1 + 0.1 * cos), rtol=1e-10, atol=0)
    # a huge beta drives α negative unless nonnegative is set
    free = _run(METHODS.get("hd_sgd")(beta=1e4), make_tiny(), hyper, 6)
    clamped = _run(METHODS.get("hd_sgd")(beta=1e4, nonnegative=True), make_tiny(), hyper, 6)
    assert min(float(s["lr"]) for s in free) < 0
    assert min(float(s["lr"]) for s in clamped) >= 0


@pytest.mark.parametrize("key", list(FIXED_EQUIV))
def test_hd_vmaps(make_tiny, vmap_check, key):
    vmap_check(METHODS.get(key)(beta=1e-2), make_tiny(), sample_initial_hypers(2, 3))


def test_defaults_and_paired_values(make_tiny):
    assert METHODS.get("hd_sgd")().settings()["beta"] == 1e-3
    assert METHODS.get("hd_adam")().settings()["beta"] == 1e-7
    sgdn = METHODS.get("hd_sgdn")()
    assert sgdn.settings()["momentum"] == 0.9 and sgdn.settings()["weight_decay"] == 1e-4
    hyper = InitialHyper(0, lr=0.02, weight_decay=0.5, momentum=0.3)
    problem = make_tiny()
    paired = METHODS.get("hd_sgdn")(weight_decay=None, momentum=None)
    s = paired.init(problem, problem.init_weights(0), {}, hyper)
    assert float(s["lr"]) == 0.02 and float(s["hyper"]["momentum"]) == 0.3
    assert float(s["hyper"]["weight_decay"]) == 0.5
    s = METHODS.get("hd_sgd")(alpha0=1e-3).init(problem, problem.init_weights(0), {}, hyper)
    assert float(s["lr"]) == 1e-3


@pytest.mark.parametrize(
    "key,kwargs,match",
    [
        ("hd_sgd", {"beta": -1.0}, "hd_sgd: setting 'beta' must be >= 0"),
        ("hd_sgd", {"beta": float("nan")}, "hd_sgd: setting 'beta' must be finite"),
        ("hd_sgd", {"momentum": 0.9}, "hd_sgd: unknown setting.*momentum"),
        ("hd_sgdn", {"momentum": 1.0}, "momentum"),
        ("hd_adam", {"weight_decay": -1.0}, "weight_decay"),
        ("hd_adam", {"alpha0": float("inf")}, "alpha0"),
        ("hd_sgd", {"multiplicative": 1}, "setting 'multiplicative' must be True or False"),
    ],
)
def test_bad_settings_are_clear_errors(key, kwargs, match):
    with pytest.raises(ValueError, match=match):
        METHODS.get(key)(**kwargs)


def reference_adam_hd(w0, grad, steps, lr, beta, wd, form, betas=(0.9, 0.999), eps=1e-8):
    """Adam-HD written out as gbaydin/hypergradient-descent's ``AdamHD.step`` computes it, on
    one flat parameter (``form="reference"``), or with ε added to √v̂ (``form="torch"``).
    Returns the weights and lr after each step."""
    b1, b2 = betas
    w, m, v = w0.clone(), torch.zeros_like(w0), torch.zeros_like(w0)
    out = []
    for t in range(1, steps + 1):
        g = grad(w, t - 1) + wd * w
        if t > 1:
            c1, c2 = 1 - b1 ** (t - 1), 1 - b2 ** (t - 1)
            if form == "reference":
                h = g.dot(m / (v.sqrt() + eps)) * c2**0.5 / c1
            else:
                h = g.dot((m / c1) / ((v / c2).sqrt() + eps))
            lr = lr + beta * h
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        c1, c2 = 1 - b1**t, 1 - b2**t
        if form == "reference":
            w = w - lr * c2**0.5 / c1 * m / (v.sqrt() + eps)
        else:
            w = w - lr * (m / c1) / ((v / c2).sqrt() + eps)
        out.append((w, lr))
    return out


@pytest.mark.parametrize("form", ["reference", "torch"])
def test_adam_hd_forms_match_a_hand_written_loop(make_tiny, form):
    problem = make_tiny()
    hyper = InitialHyper(0, lr=0.01, weight_decay=0.0, momentum=0.0)
    method = METHODS.get("hd_adam")(beta=1e-3, weight_decay=1e-3, adam_form=form)
    states = _run(method, problem, hyper, 8)

    def grad(w, t):
        w = w.clone().requires_grad_()
        return torch.autograd.grad(problem.loss(w, {}, problem.train_batch(t))[0], w)[0]

    want = reference_adam_hd(problem.init_weights(0), grad, 8, 0.01, 1e-3, 1e-3, form)
    assert float(states[-1]["lr"]) != 0.01  # the lr moved, so the hypergradient is covered
    for state, (w, lr) in zip(states[1:], want, strict=True):
        torch.testing.assert_close(state["w"], w, rtol=1e-12, atol=1e-15)
        torch.testing.assert_close(
            state["lr"], torch.as_tensor(lr, dtype=w.dtype), rtol=1e-12, atol=0
        )


def test_adam_hd_forms_differ_from_the_first_step(make_tiny):
    """ε's weight differs by 1/√(1-β2) at t = 1: the weights differ after one step."""
    hyper = InitialHyper(0, lr=0.01, weight_decay=0.0, momentum=0.0)
    ref, tor = (
        _run(METHODS.get("hd_adam")(adam_form=f, weight_decay=0.0), make_tiny(), hyper, 1)[1]
        for f in ("reference", "torch")
    )
    assert not torch.equal(ref["w"], tor["w"])
    assert METHODS.get("hd_adam")().settings()["adam_form"] == "reference"
