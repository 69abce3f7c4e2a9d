"""Issue 10 oracles: N paired inits trained as one vmapped computation equal the same N inits
run one by one, for every registered method that supports batching (float64, CPU)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from hgbench.bench.loop import BatchedStepper, SingleStepper, train
from hgbench.methods import METHODS
from hgbench.methods.core.hyper import sample_initial_hypers
from tests.batching import BATCHABLE, close, diabetes_float64

N = 3
STEPS = 20


@pytest.fixture(scope="module")
def problem():
    return diabetes_float64()


def _final_states(problem, method, hypers):
    """Final states of each init, stepped one by one and batched (unstacked)."""
    w0s = [problem.init_weights(k) for k in range(len(hypers))]
    singles = []
    for w0, h in zip(w0s, hypers, strict=True):
        stepper = SingleStepper(problem, method)
        s = stepper.init([w0], problem.init_model_state(), [h])
        for t in range(STEPS):
            s = stepper.step(s, t)
        singles.append(stepper.finalize(s))
    batched = BatchedStepper(problem, method, len(hypers))
    s = batched.init(w0s, problem.init_model_state(), hypers)
    for t in range(STEPS):
        s = batched.step(s, t)
    s = batched.finalize(s)
    return singles, s, batched


@pytest.mark.parametrize("key", BATCHABLE)
def test_batched_equals_one_by_one(problem, key: str) -> None:
    method = METHODS.get(key)()
    hypers = sample_initial_hypers(seed=1, n=N)
    singles, stacked, _ = _final_states(problem, method, hypers)
    for i, single in enumerate(singles):
        w_single, _ = method.weights(single)
        w_batched, _ = method.weights(torch.utils._pytree.tree_map(lambda x, i=i: x[i], stacked))
        assert close(w_batched, w_single), f"{key}: init {i} weights differ"
        h_single = method.hyperparameters(single)
        h_batched = torch.func.vmap(method.hyperparameters)(stacked)
        for name, v in h_single.items():
            assert close(h_batched[name][i], v), f"{key}: init {i} hyperparameter {name} differs"


@pytest.mark.parametrize("key", BATCHABLE)
def test_batched_metrics_equal_one_by_one_through_train(problem, key: str) -> None:
    method = METHODS.get(key)()
    hypers = sample_initial_hypers(seed=2, n=N)
    w0s = [problem.init_weights(k) for k in range(N)]
    together = train(problem, method, w0s, hypers, budget=STEPS, eval_every=10, batched=True)
    for i in range(N):
        alone = train(
            problem, method, [w0s[i]], [hypers[i]], budget=STEPS, eval_every=10, batched=False
        )
        a, b = together.inits[i], alone.inits[0]
        assert a.status == b.status
        for name, v in b.final.items():
            assert math.isclose(a.final[name], v, rel_tol=1e-10, abs_tol=1e-14), (key, name)
        # cost counters are per init, whether batched or not
    assert (
        together.costs
        == train(
            problem, method, [w0s[0]], [hypers[0]], budget=STEPS, eval_every=10, batched=False
        ).costs
    )


def test_one_diverging_init_is_frozen_and_others_match(problem) -> None:
    method = METHODS.get("fixed")()
    hypers = sample_initial_hypers(seed=3, n=N)
    hypers[1] = replace(hypers[1], lr=1e6)  # blows up within a few steps
    w0s = [problem.init_weights(k) for k in range(N)]
    together = train(problem, method, w0s, hypers, budget=STEPS, eval_every=5, batched=True)
    assert together.inits[1].status == "diverged"
    assert together.inits[1].diverged_step is not None and together.inits[1].diverged_step < STEPS
    alone = train(problem, method, [w0s[1]], [hypers[1]], budget=STEPS, eval_every=5, batched=False)
    assert alone.inits[0].status == "diverged"
    for i in (0, 2):
        ref = train(
            problem, method, [w0s[i]], [hypers[i]], budget=STEPS, eval_every=5, batched=False
        ).inits[0]
        assert together.inits[i].status == ref.status == "ok"
        for name, v in ref.final.items():
            assert math.isclose(together.inits[i].final[name], v, rel_tol=1e-10), name


def test_an_init_whose_hyperparameter_alone_turns_non_finite_is_frozen_at_that_step(
    problem,
) -> None:
    from hgbench.methods.core.common import scalar, training_gradient
    from hgbench.spec import Method

    class ProbeSGD(Method):
        """Plain SGD reporting a probe that turns infinite at step 3 where lr > 0.05."""

        key = "probe_sgd_test"
        uses_validation = False

        def init(self, problem, w0, mstate, hyper):  # noqa: ANN001, ANN201
            return {"w": w0, "mstate": mstate, "lr": scalar(problem, hyper.lr),
                    "probe": scalar(problem, hyper.lr)}  # fmt: skip

        def step(self, problem, state, t):  # noqa: ANN001, ANN201
            loss, g, mstate = training_gradient(problem, state["w"], state["mstate"], t)
            lr = state["lr"]
            probe = torch.where((lr > 0.05) & (t == 3), torch.inf, state["probe"])
            return {"w": state["w"] - lr * g, "mstate": mstate, "lr": lr, "probe": probe}, loss

        def hyperparameters(self, state):  # noqa: ANN001, ANN201
            return {"lr": state["lr"], "probe": state["probe"]}

    lrs = [0.01, 0.1, 0.02]
    hypers = [
        replace(h, lr=lr) for h, lr in zip(sample_initial_hypers(seed=4, n=3), lrs, strict=True)
    ]
    w0s = [problem.init_weights(k) for k in range(3)]
    method = ProbeSGD()
    res = train(problem, method, w0s, hypers, budget=STEPS, eval_every=5, batched=True)
    assert [r.status for r in res.inits] == ["ok", "diverged", "ok"]
    assert res.inits[1].diverged_step == 3
    for i in (0, 2):
        alone = train(problem, method, [w0s[i]], [hypers[i]], budget=STEPS, eval_every=5,
                      batched=False).inits[0]  # fmt: skip
        for name, v in alone.final.items():
            assert math.isclose(res.inits[i].final[name], v, rel_tol=1e-10), name
