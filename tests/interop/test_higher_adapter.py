"""The ``higher`` adapter: a method written as a ``higher.innerloop_ctx`` loop runs inside the
runner (timed, stored, reported), counted where the adapter can see, flagged as approximate,
never batched; its loop is held to one ``diffopt.step`` per runner step.

The example, ``higher_unrolled`` (Clarke et al.'s Diff-through-Opt written with ``higher``),
follows hgbench's ``unrolled`` step for step.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import sys

import pandas as pd
import pytest
import torch

import hgbench
from hgbench.bench.store import load_records
from hgbench.interop.higher import HigherMethod
from hgbench.interop.higher_unrolled import HigherUnrolled
from hgbench.methods import METHODS
from hgbench.spec import InitialHyper
from hgbench.tasks import TASKS

needs_higher = pytest.mark.skipif(
    importlib.util.find_spec("higher") is None, reason="the `higher` extra is not installed"
)
HYPER = InitialHyper(0, lr=0.05, weight_decay=1e-3, momentum=0.7)


@pytest.fixture
def problem():
    """Digits, MLP 64-8-10, 200 training rows in minibatches of 50, float64."""
    return TASKS.get("sk_digits")(width=8, subset=200).build(dtype=torch.float64)


@pytest.fixture
def registered():
    """Keys that ``hgbench.run`` registers for classes given to it, removed afterwards."""
    before = set(METHODS._builtin)
    yield
    for key in set(METHODS._builtin) - before:
        del METHODS._builtin[key]


def close(got, want):
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-14)


@needs_higher
@pytest.mark.parametrize(("T", "k", "clip"), [(4, 3, None), (3, 3, None), (4, 2, 0.05)])
def test_higher_unrolled_follows_unrolled_step_for_step(problem, T, k, clip):
    problem.grad_clip = clip  # 0.05 clips every step here: the adapter's gradient callback
    ours, theirs = METHODS.get("unrolled")(T=T, k=k), HigherUnrolled(T=T, k=k)
    a = ours.init(problem, problem.init_weights(0), problem.init_model_state(), HYPER)
    b = theirs.init(problem, problem.init_weights(0), problem.init_model_state(), HYPER)
    for t in range(3 * T):
        a, loss_a = ours.step(problem, a, t)
        b, loss_b = theirs.step(problem, b, t)
        close(loss_b, loss_a)
        close(b["w"], a["w"])
        if (t + 1) % T == 0:
            for name in ("lr", "weight_decay", "momentum"):
                close(b["hypergrad"][name], a["hypergrad"][name])
    for name, value in ours.hyperparameters(a).items():
        close(theirs.hyperparameters(b)[name], value)
    assert float(ours.hyperparameters(a)["lr"]) != pytest.approx(HYPER.lr)  # it tuned


@needs_higher
def test_runs_in_the_runner_counted_flagged_and_not_batched(registered, tmp_path):
    results = tmp_path / "results.sqlite"
    runs = hgbench.run(HigherUnrolled(T=5, k=2), "sk_diabetes", inits=2, batch_inits=2,
                       budget=20, eval_every=5, results=results)  # fmt: skip
    assert list(runs.status) == ["ok", "ok"]
    assert (runs.batch_size == 1).all()  # asked for a batch of 2: not batchable, one by one
    settings = json.loads(runs.method_settings.iloc[0])
    assert not runs.counts_exact.any()  # flagged: the counts miss the unrolled backward
    assert settings == {"T": 5, "k": 2,
                        "tuned": ["lr", "weight_decay", "momentum"], "meta_lr": 0.05}  # fmt: skip
    # seen: one gradient per weight step, one forward per hyper-step (the validation loss);
    # not seen: the backward through the window (unrolled counts 1 gradient + k-1 HVPs)
    assert (runs.cost_gradient == 20).all() and (runs.cost_forward == 4).all()
    assert (runs.cost_hvp == 0).all()
    assert (runs.step_time_s > 0).all() and (runs.method_time_s > 0).all()
    records = load_records(results)
    phases = set(records[records.split == "phase"].metric)
    assert {"hyperstep_time_s", "weights_time_s"} <= phases
    lr = records[(records.split == "hyper") & (records.metric == "lr")]
    assert lr.groupby("run_id").value.nunique().min() > 1  # the lr was tuned and recorded


@needs_higher
def test_it_is_reported_like_any_method(registered, tmp_path):
    from hgbench.reports.builder import build_report

    results = tmp_path / "results.sqlite"
    for method in (HigherUnrolled(T=5, k=2), "unrolled"):
        hgbench.run(method, "sk_diabetes", inits=2, budget=20, eval_every=5, results=results)
    index = build_report(results, tmp_path / "report", n_boot=50)
    text = index.read_text()
    assert "higher_unrolled" in text and "unrolled" in text
    summary = pd.read_csv(tmp_path / "report" / "tables" / "summary.csv").set_index("label")
    assert not summary.loc["higher_unrolled[T=5,k=2]", "counts_exact"]
    assert summary.loc["unrolled", "counts_exact"]
    assert "20≈" in text  # its gradient count is shown as approximate; unrolled's is not


class _BadLoop(HigherMethod):
    """A loop that breaks the adapter's rule (test method)."""

    key = "test_higher_bad_loop"
    steps_per_yield: int = 1
    yields: int = 10**9

    def loop(self, run):
        opt = torch.optim.SGD(run.model.parameters(), lr=0.01)
        loss = torch.zeros((), dtype=run.problem.dtype)
        for _ in range(self.yields):
            with run.innerloop_ctx(opt, track_higher_grads=False) as (fmodel, diffopt):
                for _ in range(self.steps_per_yield):
                    loss = fmodel(run.train_batch())
                    diffopt.step(loss)
            yield loss.detach()


@needs_higher
@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"steps_per_yield": 2}, "step 0 took 2 diffopt steps before yielding"),
        ({"steps_per_yield": 0}, "step 0 took 0 diffopt steps"),
        ({"yields": 3}, "its higher loop ended at step 3"),
    ],
)
def test_a_loop_that_breaks_the_rule_is_an_error_naming_the_method(registered, settings, message):
    runs = hgbench.run(_BadLoop(**settings), "sk_diabetes", budget=10)
    assert runs.status.iloc[0] == "error"
    assert f"method 'test_higher_bad_loop': {message}" in runs.message.iloc[0]


@needs_higher
def test_a_simple_loop_trains_and_writes_weights_back(problem):
    method = _BadLoop()
    state = method.init(problem, problem.init_weights(0), problem.init_model_state(), HYPER)
    before = problem.evaluate(state["w"], state["mstate"], "val")["loss"]
    for t in range(40):
        state, _ = method.step(problem, state, t)
    state = method.finalize(problem, state)
    after = problem.evaluate(state["w"], state["mstate"], "val")["loss"]
    assert after < before
    model_w = torch.cat([p.detach().reshape(-1) for p in state["run"].model.parameters()])
    assert torch.equal(model_w, state["w"])  # each context wrote its fast weights back
    assert problem.counter.as_dict() == {"forward": 0, "gradient": 40, "hvp": 0}


def test_without_the_extra_it_says_how_to_install_it(problem, monkeypatch):
    monkeypatch.setitem(sys.modules, "higher", None)  # `import higher` now fails
    with pytest.raises(ImportError, match=r"pip install 'hgbench\[higher\]'"):
        HigherUnrolled().init(problem, problem.init_weights(0), problem.init_model_state(), HYPER)


def test_settings_are_checked():
    with pytest.raises(ValueError, match="higher_unrolled: k=6 must not exceed T=5"):
        HigherUnrolled(T=5, k=6)


def _graph_tensors() -> int:
    """Tensors alive with an autograd graph behind them (more than one element)."""
    gc.collect()
    return sum(
        1
        for o in gc.get_objects()
        if type(o) is torch.Tensor and o.grad_fn is not None and o.numel() > 1
    )


@needs_higher
def test_no_unrolled_graph_outlives_its_window(problem):
    method = HigherUnrolled(T=4, k=3)
    state = method.init(problem, problem.init_weights(0), problem.init_model_state(), HYPER)
    inside = []
    for t in range(8):
        state, _ = method.step(problem, state, t)
        inside.append(_graph_tensors())
    assert inside[2] > 0 and inside[6] > 0  # inside a tracked window: its graph is alive
    assert inside[3] == 0 and inside[7] == 0  # after each hyper-step: nothing is left
