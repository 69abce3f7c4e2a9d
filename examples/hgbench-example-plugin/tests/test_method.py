"""The example method: its lr hypergradient against autograd and finite differences, when
the lr moves, its settings, and batched runs through hgbench's runner."""

from __future__ import annotations

import json

import hgbench
import pytest
import torch
from hgbench.api import METHODS, InitialHyper, sample_initial_hypers

from hgbench_example.method import PeriodicHD

HYPER = InitialHyper(0, lr=0.05, weight_decay=1e-3, momentum=0.7)


def run(method, problem, steps):
    state = method.init(problem, problem.init_weights(0), problem.init_model_state(), HYPER)
    states = [state]
    for t in range(steps):
        state, _ = method.step(problem, state, t)
        states.append(state)
    return states


def test_the_entry_point_registers_the_class():
    assert METHODS.get("periodic_hd") is PeriodicHD


@pytest.mark.parametrize("t", [4, 7])
def test_hypergradient_is_the_lr_derivative_of_the_next_training_loss(problem, t):
    method = PeriodicHD(every=3)  # steps t - 1 = 3 and 6 move the lr; the oracle covers both
    states = run(method, problem, t + 1)
    before, after = states[t - 1], states[t + 1]

    def next_loss(lr: torch.Tensor) -> torch.Tensor:
        """loss of batch t at the weights step t - 1 makes with learning rate ``lr``."""
        new, _ = PeriodicHD(every=10**6).step(problem, {**before, "lr": lr}, t - 1)
        return problem.loss(new["w"], new["mstate"], problem.train_batch(t))[0]

    lr = states[t]["lr"].clone().requires_grad_()  # the lr step t - 1 used
    (exact,) = torch.autograd.grad(next_loss(lr), lr)
    eps = 1e-6
    fd = (next_loss(lr.detach() + eps) - next_loss(lr.detach() - eps)) / (2 * eps)
    got = after["hypergrad"]["lr"]
    torch.testing.assert_close(got, exact, rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(got, fd, rtol=1e-6, atol=1e-10)
    assert float(got) != 0.0


def test_the_lr_moves_every_few_steps_by_beta_times_the_hypergradient(problem):
    method = PeriodicHD(every=5, beta=0.01)
    states = run(method, problem, 12)
    for t in range(12):
        old, new = states[t]["lr"], states[t + 1]["lr"]
        if t % 5 == 0:
            torch.testing.assert_close(new, old - 0.01 * states[t + 1]["hypergrad"]["lr"])
        else:
            assert torch.equal(new, old)
    assert float(states[12]["lr"]) != HYPER.lr  # it moved at t = 5 and 10
    for name in ("weight_decay", "momentum"):
        assert float(states[12][name]) == pytest.approx(getattr(HYPER, name))


def test_settings_are_validated_and_named():
    with pytest.raises(ValueError, match="periodic_hd: setting 'every' must be >= 1"):
        PeriodicHD(every=0)
    with pytest.raises(ValueError, match="unknown setting.*'evry'.*valid settings: every, beta"):
        PeriodicHD(evry=3)


def test_batched_runs_through_the_runner_store_resolved_settings():
    runs = hgbench.run("periodic_hd", "friedman1", settings={"every": 5}, inits=2, budget=30,
                       batch_inits=2)  # fmt: skip
    assert list(runs.status) == ["ok", "ok"] and (runs.batch_size == 2).all()
    assert json.loads(runs.method_settings.iloc[0]) == {"every": 5, "beta": 1e-3}
    assert (runs.cost_gradient == 30).all() and (runs.cost_hvp == 0).all()
    for k, row in runs.iterrows():  # the lr was tuned away from its paired initial value
        initial = sample_initial_hypers(0, 2)[k].lr
        assert json.loads(row.final_hyper)["lr"] != pytest.approx(initial, rel=1e-6)
