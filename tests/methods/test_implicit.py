"""Oracle tests of the Clarke et al. (2022) family: implicit, lorraine, baydin_loglr."""

from __future__ import annotations

import math

import pytest
import torch

from hgbench.analysis.fidelity import (
    measure_fidelity,
    run_batched,
    run_steps,
    stack_states,
    tiny_mlp_problem,
)
from hgbench.methods import METHODS
from hgbench.methods.implicit import common
from hgbench.methods.implicit.common import sgd_step
from hgbench.spec import InitialHyper

EPS = 1e-6


def val_loss(problem, w, i=0):
    return problem.loss(w, problem.init_model_state(), problem.val_batch(i), "val")[0]


def fd(f, raw, name):
    """Central finite differences of f(raw) in every element of raw[name]."""
    x = raw[name]
    out = torch.zeros_like(x)
    flat = out.view(-1)
    for j in range(max(1, x.numel())):
        e = torch.zeros_like(x).view(-1)
        e[j] = EPS
        e = e.view(x.shape)
        flat[j] = (f({**raw, name: x + e}) - f({**raw, name: x - e})) / (2 * EPS)
    return out


@pytest.mark.parametrize("variant", ["wd_lr", "wd_lr_m", "wd_hdlr_m"])
def test_one_term_hypergradient_matches_finite_differences(variant):
    """K=1: g_λ is exactly d/dλ L_V(w - u(λ, w)) with w and the momentum buffer fixed."""
    problem = tiny_mlp_problem()
    method = METHODS.get("implicit")(variant=variant, T=3, K=1)
    hyper = InitialHyper(0, 0.05, 1e-3, 0.7)
    state = method.init(problem, problem.init_weights(0), problem.init_model_state(), hyper)
    state, _ = run_steps(method, problem, state, range(2))  # non-zero momentum buffer
    _, _, grads = method.hypergradient(problem, state, 2)
    w, buf = state["w"], state["momentum_buffer"]
    g = torch.func.grad(lambda x: problem.loss(x, state["mstate"], problem.train_batch(2))[0])(w)

    def f(raw):
        return val_loss(problem, sgd_step(w, g, buf, raw, None)[0])

    assert set(grads) == set(method.tuned)
    for name in method.tuned:
        torch.testing.assert_close(grads[name], fd(f, state["raw"], name), rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("variant", ["wd_lr", "wd_hdlr_m"])
def test_neumann_hypergradient_matches_finite_differences_of_K_steps(quad, variant):
    """At a fixed point w*, the K-term series is d/dλ L_V(Φ_λ^K(w*)), Φ the SGD step with the
    momentum buffer held at its (zero) value: checks the count of terms and the transpose."""
    K, wd = 4, 1e-2
    method = METHODS.get("implicit")(variant=variant, T=1, K=K)
    hyper = InitialHyper(0, 0.5, wd, 0.6)
    w_star = quad.ridge_solution(wd)
    state = method.init(quad, w_star, quad.init_model_state(), hyper)
    _, _, grads = method.hypergradient(quad, state, 0)

    def f(raw):
        w = w_star
        for _ in range(K):
            w = sgd_step(w, quad.grad_full(w), torch.zeros_like(w), raw, None)[0]
        return val_loss(quad, w)

    for name in method.tuned:
        torch.testing.assert_close(grads[name], fd(f, state["raw"], name), rtol=1e-5, atol=1e-11)


@pytest.mark.parametrize("key,kw", [("lorraine", {}), ("implicit", {"variant": "wd_lr_m"})])
def test_large_K_converges_to_exact_ift_hypergradient(quad, key, kw):
    lam_max = float(torch.linalg.eigvalsh(quad.train_hessian()).max())
    hyper = InitialHyper(0, 1.0 / (lam_max + 1e-2), 1e-2, 0.5)
    df = measure_fidelity(quad, key, [1, 20, 600], hyper, settings=kw)
    assert df["rel_error"].iloc[-1] < 1e-8
    assert df["cosine"].iloc[-1] > 1 - 1e-12
    assert df["rel_error"].is_monotonic_decreasing
    assert abs(df["hg_weight_decay"].iloc[-1] - df["exact_weight_decay"].iloc[-1]) < 1e-12


def test_baydin_chain_rule_hypergradient_matches_finite_differences():
    problem = tiny_mlp_problem()
    method = METHODS.get("baydin_loglr")(meta_lr=1e-3, form="chain_rule")
    state = method.init(
        problem,
        problem.init_weights(1),
        problem.init_model_state(),
        InitialHyper(0, 0.1, 1e-3, 0.5),
    )
    state, _ = run_steps(method, problem, state, range(3))
    u, x = state["momentum_buffer"], state["raw"]["lr"]
    w_prev = state["w"] + torch.pow(10.0, x) * u  # w_t = w_{t-1} - 10^x u_{t-1}
    after, _ = method.step(problem, state, 3)

    def f(raw):
        w = w_prev - torch.pow(10.0, raw["lr"]) * u
        return problem.loss(w, state["mstate"], problem.train_batch(3))[0]

    torch.testing.assert_close(after["hypergrad"]["lr"], fd(f, {"lr": x}, "lr"), rtol=1e-6, atol=0)
    expected = x - 1e-3 * after["hypergrad"]["lr"]
    torch.testing.assert_close(after["raw"]["lr"], expected)


@pytest.mark.parametrize(
    "key,kw,steps",
    [
        ("implicit", {"variant": "wd_lr", "T": 1, "K": 5}, 1),
        ("implicit", {"variant": "wd_hdlr_m", "T": 1, "K": 5}, 1),
        ("baydin_loglr", {}, 2),
    ],
)
def test_too_small_lr_moves_up(quad, key, kw, steps):
    method = METHODS.get(key)(**kw)
    hyper = InitialHyper(0, 1e-3, 1e-4, 0.0)
    state = method.init(quad, quad.init_weights(0), quad.init_model_state(), hyper)
    state, _ = run_steps(method, quad, state, range(steps))
    assert float(method.hyperparameters(state)["lr"]) > 1e-3


def test_baydin_too_large_lr_moves_down(quad):
    lam_max = float(torch.linalg.eigvalsh(quad.train_hessian()).max())
    lr = 1.9 / lam_max  # overshoots along the top eigenvector
    method = METHODS.get("baydin_loglr")()
    state = method.init(
        quad, quad.init_weights(0), quad.init_model_state(), InitialHyper(0, lr, 1e-6, 0.0)
    )
    state, _ = run_steps(method, quad, state, range(6))
    assert float(method.hyperparameters(state)["lr"]) < lr


@pytest.mark.parametrize(
    "key,kw",
    [
        ("implicit", {"variant": "wd_lr", "T": 3, "K": 3}),
        ("implicit", {"variant": "wd_lr_m", "T": 3, "K": 3}),
        ("implicit", {"variant": "wd_hdlr_m", "T": 3, "K": 3}),
        ("lorraine", {"T": 2, "K": 4}),
        ("baydin_loglr", {"meta_lr": 0.01}),
        ("baydin_loglr", {"meta_lr": 0.01, "form": "chain_rule"}),
    ],
)
def test_vmap_over_inits_equals_one_by_one(key, kw):
    problem = tiny_mlp_problem()
    method = METHODS.get(key)(**kw)
    hypers = [InitialHyper(i, 10 ** (-1 - i / 2), 10 ** (-3 - i), 0.2 + 0.3 * i) for i in range(3)]
    states = [
        method.init(problem, problem.init_weights(i), problem.init_model_state(), h)
        for i, h in enumerate(hypers)
    ]
    singles = [run_steps(method, problem, s, range(7)) for s in states]
    batched, losses = run_batched(method, problem, stack_states(states), range(7))
    for i, (single, single_losses) in enumerate(singles):
        torch.testing.assert_close(batched["w"][i], single["w"], rtol=1e-10, atol=0)
        for n, v in single["raw"].items():
            torch.testing.assert_close(batched["raw"][n][i], v, rtol=1e-10, atol=0)
        torch.testing.assert_close(losses[-1][i], single_losses[-1], rtol=1e-10, atol=0)
    # the hyperparameters actually moved (so the comparison covers the hyper-step)
    assert not torch.equal(
        batched["raw"][method_tuned(method)][0],
        stack_states(states)["raw"][method_tuned(method)][0],
    )


def method_tuned(method) -> str:
    return "lr" if method.key in ("baydin_loglr", "implicit") else "weight_decay"


def test_cost_counts(quad):
    quad.counter.reset()
    method = METHODS.get("implicit")(T=10, K=5)
    state = method.init(
        quad, quad.init_weights(0), quad.init_model_state(), InitialHyper(0, 0.01, 1e-3, 0.5)
    )
    run_steps(method, quad, state, range(20))
    assert quad.counter.as_dict() == {"forward": 0, "gradient": 22, "hvp": 8}
    quad.counter.reset()
    method = METHODS.get("baydin_loglr")()
    state = method.init(
        quad, quad.init_weights(0), quad.init_model_state(), InitialHyper(0, 0.01, 1e-3, 0.5)
    )
    run_steps(method, quad, state, range(20))
    assert quad.counter.as_dict() == {"forward": 0, "gradient": 20, "hvp": 0}


@pytest.mark.parametrize(
    "key,kw,match",
    [
        ("implicit", {"K": 0}, "implicit: setting 'K' must be >= 1"),
        ("implicit", {"T": 0}, "implicit: setting 'T' must be >= 1"),
        ("implicit", {"variant": "lr_only"}, "setting 'variant' must be one of"),
        ("implicit", {"meta_lr": -1.0}, "meta_lr"),
        ("implicit", {"meta_betas": (0.9, 1.0)}, "meta_betas"),
        ("lorraine", {"K": 0}, "lorraine: setting 'K' must be"),
        ("baydin_loglr", {"meta_lr": float("nan")}, "meta_lr"),
        ("baydin_loglr", {"form": "exact"}, "baydin_loglr: setting 'form' must be one of"),
    ],
)
def test_bad_settings_raise(key, kw, match):
    with pytest.raises(ValueError, match=match):
        METHODS.get(key)(**kw)


@pytest.mark.parametrize("key", ["implicit", "lorraine", "baydin_loglr"])
def test_non_finite_hypergradient_surfaces(quad, key):
    method = METHODS.get(key)(**({} if key == "baydin_loglr" else {"T": 1}))
    w0 = quad.init_weights(0)
    w0[0] = math.inf
    state = method.init(quad, w0, quad.init_model_state(), InitialHyper(0, 0.01, 1e-3, 0.5))
    state, losses = run_steps(method, quad, state, range(2))
    hyper = method.hyperparameters(state)
    assert not all(torch.isfinite(v).all() for v in hyper.values())
    assert not torch.isfinite(losses[-1])


def test_untuned_hyperparameters_stay_at_the_paired_init(quad):
    method = METHODS.get("lorraine")(T=1)
    hyper = InitialHyper(0, 0.01, 1e-3, 0.5)
    state = method.init(quad, quad.init_weights(0), quad.init_model_state(), hyper)
    state, _ = run_steps(method, quad, state, range(3))
    nat = common.natural(state["raw"])
    assert float(nat["lr"]) == pytest.approx(0.01, rel=1e-12)
    assert float(nat["momentum"]) == pytest.approx(0.5, rel=1e-12)
    assert float(nat["weight_decay"]) != pytest.approx(1e-3, rel=1e-6)


@pytest.mark.parametrize("variant", ["wd_lr_m", "wd_hdlr_m"])
def test_neumann_terms_differentiate_through_gradient_clipping(variant):
    """With clipping active, one Neumann term is ``v - (∂u/∂w)ᵀ v`` for the *clipped* update
    ``u(w) = w - sgd_step(w, clip(∇L(w)), ...)`` (the reference differentiates its clipped
    update), checked against autograd through the whole update."""
    problem = tiny_mlp_problem()
    problem.grad_clip = 0.05  # far below the gradient norm: always clipping
    method = METHODS.get("implicit")(variant=variant, T=3, K=2)
    state = method.init(
        problem,
        problem.init_weights(0),
        problem.init_model_state(),
        InitialHyper(0, 0.05, 1e-2, 0.6),
    )
    state, _ = run_steps(method, problem, state, range(2))
    _, _, grads = method.hypergradient(problem, state, 2)
    w, buf, raw, batch = state["w"], state["momentum_buffer"], state["raw"], problem.train_batch(2)

    def update(x, r):
        g = torch.func.grad(lambda y: problem.loss(y, {}, batch)[0])(x)
        return x - sgd_step(x, g, buf, r, problem.grad_clip)[0]

    w_new = w - update(w, raw)
    v = torch.func.grad(lambda y: val_loss(problem, y, 2 // 3))(w_new)
    _, pull_w = torch.func.vjp(lambda x: update(x, raw), w)
    p = v + (v - pull_w(v)[0])
    _, pull_raw = torch.func.vjp(lambda r: update(w, r), raw)
    (want,) = pull_raw(p)
    for name in method.tuned:
        torch.testing.assert_close(grads[name], -want[name], rtol=1e-9, atol=1e-14)
