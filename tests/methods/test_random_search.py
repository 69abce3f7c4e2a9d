"""Tests of ``random_search`` (best of N fixed-hyperparameter runs, optional lr jitter)."""

from __future__ import annotations

import math

import pytest
import torch

from hgbench.analysis.fidelity import run_batched, run_steps, stack_states, tiny_mlp_problem
from hgbench.methods import METHODS
from hgbench.methods.core.optim import sgd
from hgbench.methods.random_search import member_hypers
from hgbench.spec import InitialHyper

HYPER = InitialHyper(4, 0.05, 1e-3, 0.5)


def test_members_are_deterministic_and_member_zero_is_the_paired_init():
    a, b = member_hypers(HYPER, 4), member_hypers(HYPER, 4)
    assert a == b and a[0] == HYPER
    assert len({h.lr for h in a}) == 4
    assert all(1e-6 <= h.lr <= 1e-1 and 0 <= h.momentum <= 1 for h in a[1:])
    assert member_hypers(InitialHyper(5, 0.05, 1e-3, 0.5), 2)[1] != a[1]


def test_each_member_follows_plain_sgd_and_finalize_picks_best_validation_loss():
    problem = tiny_mlp_problem()
    method = METHODS.get("random_search")(n=3)
    w0 = problem.init_weights(0)
    state = method.init(problem, w0, problem.init_model_state(), HYPER)
    state, _ = run_steps(method, problem, state, range(5))
    vals = []
    for i, h in enumerate(member_hypers(HYPER, 3)):
        w, buf = w0, {"momentum_buffer": torch.zeros_like(w0)}
        for t in range(5):
            g = torch.func.grad(lambda x, t=t: problem.loss(x, {}, problem.train_batch(t))[0])(w)
            w, buf = sgd(w, g, buf, h.lr, h.weight_decay, h.momentum)
        torch.testing.assert_close(state["members"]["w"][i], w, rtol=1e-12, atol=1e-14)
        vals.append(float(problem.evaluate(w, problem.init_model_state(), "val")["loss"]))
    final = method.finalize(problem, state)
    best = min(range(3), key=vals.__getitem__)
    assert int(final["best"]) == best
    torch.testing.assert_close(method.weights(final)[0], final["members"]["w"][best])
    assert float(method.hyperparameters(final)["lr"]) == pytest.approx(
        member_hypers(HYPER, 3)[best].lr
    )


def test_cost_counts_n_runs():
    problem = tiny_mlp_problem()
    method = METHODS.get("random_search")(n=4)
    assert method.runs_per_init == 4
    problem.counter.reset()
    state = method.init(problem, problem.init_weights(0), problem.init_model_state(), HYPER)
    run_steps(method, problem, state, range(3))
    assert problem.counter.as_dict() == {"forward": 0, "gradient": 12, "hvp": 0}


def test_stepped_lr_multiplies_by_one_fixed_factor_after_each_hyper_step():
    """Random (×LR): one multiplier m ~ U(0.95, 1.01) per member, applied every T steps, so
    after k hyper-steps lr = lr_0 m^k (the reference's Random_SteppedLR)."""
    problem = tiny_mlp_problem()
    method = METHODS.get("random_search")(n=2, stepped_lr=True, T=2)
    state = method.init(problem, problem.init_weights(0), problem.init_model_state(), HYPER)
    lr0, m = state["members"]["lr"].clone(), state["lr_multiplier"]
    assert torch.all((m >= 0.95) & (m <= 1.01)) and m[0] != m[1]
    s1, _ = run_steps(method, problem, state, range(1))
    assert torch.equal(s1["members"]["lr"], lr0)
    s2, _ = run_steps(method, problem, s1, range(1, 6))
    torch.testing.assert_close(s2["members"]["lr"], lr0 * m**3, rtol=1e-14, atol=0)
    again, _ = run_steps(
        method,
        problem,
        method.init(problem, problem.init_weights(0), problem.init_model_state(), HYPER),
        range(6),
    )
    assert torch.equal(again["members"]["lr"], s2["members"]["lr"])


def test_stepped_lr_is_clamped_to_one():
    problem = tiny_mlp_problem()
    method = METHODS.get("random_search")(n=1, stepped_lr=True, T=1)
    state = method.init(problem, problem.init_weights(0), problem.init_model_state(), HYPER)
    state["lr_multiplier"] = torch.full_like(state["lr_multiplier"], 100.0)
    state, _ = run_steps(method, problem, state, range(2))
    assert float(state["members"]["lr"][0]) == 1.0


def test_only_a_single_member_trains_without_validation_data():
    assert METHODS.get("random_search")(n=1).uses_validation is False
    assert METHODS.get("random_search")(n=1, stepped_lr=True).uses_validation is False
    assert METHODS.get("random_search")(n=3).uses_validation is True


@pytest.mark.parametrize("stepped", [False, True])
def test_vmap_over_inits_equals_one_by_one(stepped):
    problem = tiny_mlp_problem()
    method = METHODS.get("random_search")(n=3, stepped_lr=stepped, T=2)
    hypers = [InitialHyper(i, 10 ** (-1 - i / 2), 10 ** (-3 - i), 0.2 + 0.3 * i) for i in range(3)]
    states = [
        method.init(problem, problem.init_weights(i), problem.init_model_state(), h)
        for i, h in enumerate(hypers)
    ]
    singles = [run_steps(method, problem, s, range(5)) for s in states]
    batched, losses = run_batched(method, problem, stack_states(states), range(5))
    final = torch.func.vmap(lambda s: method.finalize(problem, s))(batched)
    for i, (single, single_losses) in enumerate(singles):
        torch.testing.assert_close(
            batched["members"]["w"][i], single["members"]["w"], rtol=1e-10, atol=0
        )
        torch.testing.assert_close(
            batched["members"]["lr"][i], single["members"]["lr"], rtol=1e-10, atol=0
        )
        torch.testing.assert_close(losses[-1][i], single_losses[-1], rtol=1e-10, atol=0)
        assert int(final["best"][i]) == int(method.finalize(problem, single)["best"])


def test_one_diverged_member_does_not_fail_the_run_but_all_diverged_does():
    problem = tiny_mlp_problem()
    method = METHODS.get("random_search")(n=2)
    state = method.init(problem, problem.init_weights(0), problem.init_model_state(), HYPER)
    state["members"]["w"][1, 0] = math.nan
    state, losses = run_steps(method, problem, state, range(2))
    assert torch.isfinite(losses[-1]) and int(state["best"]) == 0
    assert int(method.finalize(problem, state)["best"]) == 0
    state["members"]["w"][0, 0] = math.nan
    state, losses = run_steps(method, problem, state, range(2, 3))
    assert not torch.isfinite(losses[-1])


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"n": 0}, "setting 'n' must be >= 1"),
        ({"T": 0}, "setting 'T' must be >= 1"),
        ({"stepped_lr": "yes"}, "stepped_lr"),
        ({"lr_jitter": True}, "unknown setting"),
    ],
)
def test_bad_settings_raise(kw, match):
    with pytest.raises(ValueError, match=match):
        METHODS.get("random_search")(**kw)
