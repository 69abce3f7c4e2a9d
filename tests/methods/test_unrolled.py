"""Oracle tests of ``unrolled`` (truncated differentiation through the optimizer)."""

from __future__ import annotations

import math

import pytest
import torch

from hgbench.analysis.fidelity import run_batched, run_steps, stack_states, tiny_mlp_problem
from hgbench.methods import METHODS
from hgbench.methods.implicit.common import sgd_step
from hgbench.spec import InitialHyper

EPS = 1e-6


def unroll_loss(problem, state, raw, t0, k, val_index):
    """L_V after k differentiable SGD steps from ``state`` (the naive reference)."""
    w, buf, ms = state["w"], state["momentum_buffer"], state["mstate"]
    for t in range(t0, t0 + k):
        g = torch.func.grad(lambda x, t=t: problem.loss(x, ms, problem.train_batch(t))[0])(w)
        w, buf = sgd_step(w, g, buf, raw, problem.grad_clip)
    return problem.loss(w, ms, problem.val_batch(val_index), "val")[0]


@pytest.mark.parametrize("k", [1, 3])
def test_hypergradient_matches_finite_differences(k):
    problem = tiny_mlp_problem()
    T = 4
    method = METHODS.get("unrolled")(T=T, k=k)
    hyper = InitialHyper(0, 0.1, 1e-2, 0.6)
    state = method.init(problem, problem.init_weights(0), problem.init_model_state(), hyper)
    state, _ = run_steps(method, problem, state, range(T))  # one full window first
    start, _ = run_steps(method, problem, state, range(T, 2 * T - k))
    after, _ = run_steps(method, problem, start, range(2 * T - k, 2 * T))
    raw = start["raw"]
    for name in ("lr", "weight_decay", "momentum"):
        e = torch.zeros_like(raw[name]) + EPS
        up = unroll_loss(problem, start, {**raw, name: raw[name] + e}, 2 * T - k, k, 1)
        down = unroll_loss(problem, start, {**raw, name: raw[name] - e}, 2 * T - k, k, 1)
        torch.testing.assert_close(
            after["hypergrad"][name], (up - down) / (2 * EPS), rtol=1e-6, atol=1e-12
        )


def test_matches_naive_autograd_through_the_window():
    problem = tiny_mlp_problem(seed=3)
    method = METHODS.get("unrolled")(T=5, k=5)
    hyper = InitialHyper(0, 0.2, 1e-3, 0.8)
    state = method.init(problem, problem.init_weights(2), problem.init_model_state(), hyper)
    after, _ = run_steps(method, problem, state, range(5))
    ref = torch.func.grad(lambda r: unroll_loss(problem, state, r, 0, 5, 0))(state["raw"])
    for name, g in ref.items():
        torch.testing.assert_close(after["hypergrad"][name], g, rtol=1e-10, atol=1e-14)


def test_one_step_matches_analytic_lr_hypergradient(quad):
    lr, wd, mom = 0.3, 1e-2, 0.5
    method = METHODS.get("unrolled")(T=1, k=1, tuned=("lr",))
    state = method.init(
        quad, quad.init_weights(0), quad.init_model_state(), InitialHyper(0, lr, wd, mom)
    )
    after, _ = method.step(quad, state, 0)
    exact = quad.one_step_lr_hypergradient(state["w"], lr, wd, mom) * lr * math.log(10.0)
    torch.testing.assert_close(after["hypergrad"]["lr"], exact, rtol=1e-10, atol=0)


def test_too_small_lr_moves_up_and_too_large_moves_down(quad):
    lam_max = float(torch.linalg.eigvalsh(quad.train_hessian()).max())
    method = METHODS.get("unrolled")(T=1, k=1, tuned=("lr",))
    for lr, up in ((1e-3, True), (1.9 / lam_max, False)):
        state = method.init(
            quad, quad.init_weights(0), quad.init_model_state(), InitialHyper(0, lr, 1e-6, 0.0)
        )
        state, _ = method.step(quad, state, 0)
        moved = float(method.hyperparameters(state)["lr"])
        assert (moved > lr) if up else (moved < lr)


def test_vmap_over_inits_equals_one_by_one():
    problem = tiny_mlp_problem()
    method = METHODS.get("unrolled")(T=3, k=2)
    hypers = [InitialHyper(i, 10 ** (-1 - i / 2), 10 ** (-3 - i), 0.2 + 0.3 * i) for i in range(3)]
    states = [
        method.init(problem, problem.init_weights(i), problem.init_model_state(), h)
        for i, h in enumerate(hypers)
    ]
    singles = [run_steps(method, problem, s, range(7))[0] for s in states]
    batched, _ = run_batched(method, problem, stack_states(states), range(7))
    for i, single in enumerate(singles):
        torch.testing.assert_close(batched["w"][i], single["w"], rtol=1e-10, atol=0)
        for n, v in single["raw"].items():
            torch.testing.assert_close(batched["raw"][n][i], v, rtol=1e-10, atol=0)
    assert not torch.equal(batched["raw"]["lr"], stack_states(states)["raw"]["lr"])


def test_cost_counts(quad):
    quad.counter.reset()
    method = METHODS.get("unrolled")(T=10, k=5)
    state = method.init(
        quad, quad.init_weights(0), quad.init_model_state(), InitialHyper(0, 0.01, 1e-3, 0.5)
    )
    run_steps(method, quad, state, range(20))
    assert quad.counter.as_dict() == {"forward": 0, "gradient": 22, "hvp": 8}


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"k": 0}, "unrolled: setting 'k' must be >= 1"),
        ({"T": 0}, "unrolled: setting 'T' must be >= 1"),
        ({"T": 3, "k": 4}, "must not exceed"),
        ({"tuned": ("beta",)}, "tuned hyperparameters"),
        ({"meta_lr": 0}, "meta_lr"),
    ],
)
def test_bad_settings_raise(kw, match):
    with pytest.raises(ValueError, match=match):
        METHODS.get("unrolled")(**kw)


def test_non_finite_hypergradient_surfaces(quad):
    method = METHODS.get("unrolled")(T=2, k=2)
    w0 = quad.init_weights(0)
    w0[0] = math.nan
    state = method.init(quad, w0, quad.init_model_state(), InitialHyper(0, 0.01, 1e-3, 0.5))
    state, _ = run_steps(method, quad, state, range(2))
    assert not all(torch.isfinite(v).all() for v in method.hyperparameters(state).values())
