"""The public API: a method written against ``hgbench.api`` runs with ``hgbench.run``."""

from __future__ import annotations

import json
import math

import pytest
import torch

import hgbench
from hgbench.api import Method, scalar, setting, sgd, sgd_init, training_gradient
from hgbench.methods import METHODS


class CosineSGD(Method):
    """SGD whose lr follows a cosine from the paired initial lr down to zero (test method)."""

    key = "test_cosine_sgd"
    period: int = setting(50, low=1, doc="steps from the initial lr to zero")

    def init(self, problem, w0, mstate, hyper):
        lr0 = scalar(problem, hyper.lr)
        return {"w": w0, "mstate": mstate, "opt": sgd_init(w0), "lr0": lr0, "lr": lr0}

    def step(self, problem, state, t):
        loss, g, mstate = training_gradient(problem, state["w"], state["mstate"], t)
        lr = state["lr0"] * 0.5 * (1 + math.cos(math.pi * min(t, self.period) / self.period))
        w, opt = sgd(state["w"], g, state["opt"], lr)
        return {**state, "w": w, "mstate": mstate, "opt": opt, "lr": lr}, loss

    def hyperparameters(self, state):
        return {"lr": state["lr"]}


@pytest.fixture
def cleanup():
    yield
    METHODS._builtin.pop(CosineSGD.key, None)


def test_a_method_class_runs_and_its_resolved_settings_are_stored(cleanup):
    runs = hgbench.run(CosineSGD, "sk_diabetes", inits=2, budget=60, batch_inits=2)
    assert list(runs.status) == ["ok", "ok"] and (runs.batch_size == 2).all()
    assert json.loads(runs.method_settings.iloc[0]) == {"period": 50}  # the default, resolved
    final = json.loads(runs.final_hyper.iloc[0])
    assert final["lr"] == pytest.approx(0.0, abs=1e-12)  # the schedule reached zero
    assert (runs.cost_gradient == 60).all()


def test_an_instance_carries_its_settings(cleanup):
    runs = hgbench.run(CosineSGD(period=10), "sk_diabetes", inits=1, budget=20)
    assert runs.label.iloc[0] == "test_cosine_sgd[period=10]"
    assert hgbench.load_runs(runs.attrs["results"]).run_id.tolist() == runs.run_id.tolist()


def test_bad_settings_and_unknown_names_are_clear_errors(cleanup):
    with pytest.raises(ValueError, match="test_cosine_sgd: setting 'period' must be >= 1"):
        CosineSGD(period=0)
    with pytest.raises(ValueError, match="unknown setting.*'periods'.*valid settings: period"):
        CosineSGD(periods=3)
    with pytest.raises(KeyError, match="unknown task"):
        hgbench.run("fixed", "no_such_task")


def test_a_state_contract_violation_names_the_method_and_key(toys):
    from hgbench.bench.config import RunConfig, WorkItem
    from hgbench.bench.worker import execute

    for batch in (1, 2):
        item = WorkItem(tuple(
            RunConfig(task="toy_quadratic", method="toy_new_key", init_index=k, batch_size=batch)
            for k in range(batch)
        ))  # fmt: skip
        row = execute(item)["runs"][0]
        assert row["status"] == "error"
        assert "method 'toy_new_key': step 0" in row["message"]
        assert "['schedule']" in row["message"] and "not made by init" in row["message"]


def test_the_loss_must_be_a_scalar_tensor(cleanup):
    class BadLoss(CosineSGD):
        key = "test_bad_loss"

        def step(self, problem, state, t):
            new, loss = super().step(problem, state, t)
            return new, torch.stack([loss, loss])

    try:
        runs = hgbench.run(BadLoss, "sk_diabetes", budget=5)
        assert runs.status.iloc[0] == "error"
        assert "training loss a 0-d tensor, got (2,)" in runs.message.iloc[0]
        batched = hgbench.run(BadLoss, "sk_diabetes", budget=5, inits=2, batch_inits=2)
        assert set(batched.status) == {"error"}
        assert "training loss a 0-d tensor, got (2, 2)" in batched.message.iloc[0]
    finally:
        METHODS._builtin.pop("test_bad_loss", None)
