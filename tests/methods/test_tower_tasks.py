"""Towers of height 0..3 (SGD and Adam levels) and every online method run on every small
embedded task, keep finite losses and count exactly one gradient per step."""

from __future__ import annotations

import math

import pytest
import torch

from hgbench.methods import METHODS
from hgbench.methods.core.hyper import sample_initial_hypers
from hgbench.tasks import TASKS

SMALL_TASKS = [t for t in ("sk_diabetes", "sk_digits") if t in TASKS]
STEPS = 6


@pytest.fixture(scope="module", params=SMALL_TASKS)
def problem(request):
    torch.manual_seed(0)
    return TASKS.get(request.param)(scale="small").build(dtype=torch.float64, data_seed=0)


@pytest.mark.parametrize(
    "key,settings",
    [
        ("tower", {"levels": "sgd"}),
        ("tower", {"levels": "sgd/sgd", "kappa": 1e-4}),
        ("tower", {"levels": "sgd/sgd/sgd", "kappa": 1e-4}),
        ("tower", {"levels": "sgd/sgd/sgd/sgd", "kappa": 1e-4}),
        ("tower", {"levels": "adam/adam", "kappa": 1e-4}),
        ("tower", {"levels": "adam/adam/adam/adam", "kappa": 1e-4}),
        ("fixed", {}),
        ("hd_sgd", {}),
        ("hd_sgdn", {}),
        ("hd_adam", {}),
    ],
)
def test_runs_on_small_task(problem, key, settings):
    method = METHODS.get(key)(**settings)
    hyper = sample_initial_hypers(0, 1)[0]
    state = method.init(problem, problem.init_weights(0), problem.init_model_state(), hyper)
    problem.counter.reset()
    for t in range(STEPS):
        state, loss = method.step(problem, state, t)
        assert math.isfinite(float(loss))
    assert problem.counter.as_dict() == {"forward": 0, "gradient": STEPS, "hvp": 0}
    w, mstate = method.weights(state)
    assert torch.isfinite(problem.evaluate(w, mstate, "val")["loss"])
    assert all(torch.isfinite(v).all() for v in method.hyperparameters(state).values())
