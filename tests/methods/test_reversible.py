"""Oracle tests of ``reversible`` and ``unrolled_full`` (Maclaurin et al. 2015)."""

from __future__ import annotations

import math

import pytest
import torch

from hgbench.methods import METHODS
from hgbench.methods.reversible import Reversible, UnrolledFull
from hgbench.methods.reversible import fixedpoint as fx
from hgbench.methods.reversible import schedule as sch
from hgbench.spec import InitialHyper
from tests.devices import CPU_AND_CUDA

HYPER = InitialHyper(index=0, lr=0.05, weight_decay=1e-3, momentum=0.75)
T = 6


def _state_with_random_schedule(method, problem, seed: int = 1):
    """Init, then replace the constant schedules by random ones (γ exact rationals)."""
    state = method.init(problem, problem.init_weights(0), problem.init_model_state(), HYPER)
    gen = torch.Generator().manual_seed(seed)
    h = dict(state["hyper"])
    shape = h["log_alpha"].shape
    h["log_alpha"] = math.log(0.1) + 0.5 * torch.randn(shape, generator=gen, dtype=torch.float64)
    num = torch.randint(16384, 62000, shape, generator=gen).double()
    h["logit_gamma"] = torch.logit(num / fx.DENOM)
    h["log_init_scale"] = 0.2 * torch.randn(h["log_init_scale"].shape, generator=gen).double()
    h["log_l2"] = math.log(1e-2) + torch.randn(h["log_l2"].shape, generator=gen).double()
    return {**state, "hyper": h}


def _run_one_meta_iteration(method, problem, state):
    for t in range(method.horizon):
        state, _ = method.step(problem, state, t)
    return state


def naive_hypergradient(problem, state, horizon: int, per_weight: bool = False):
    """Plain torch.autograd through the stored float64 trajectory (the oracle)."""
    nat = sch.natural(state["hyper"])
    nat["gamma"] = fx.rational(fx.gamma_numerator(nat["gamma"]), torch.float64)
    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in nat.items()}
    gid = problem.layout.group_ids()
    mstate = problem.init_model_state()
    w = leaves["init_scale"][gid] * state["w_base"]
    v = torch.zeros_like(w)
    lam = leaves["l2"] if per_weight else leaves["l2"][gid]
    for t in range(horizon):
        batch = problem.train_batch(t)
        loss = problem.loss(w, mstate, batch)[0] + 0.5 * (lam * w * w).sum()
        (g,) = torch.autograd.grad(loss, w, create_graph=True)
        gam = leaves["gamma"][t][gid]
        v = gam * v - (1 - gam) * g
        w = w + leaves["alpha"][t][gid] * v
    f = problem.loss(w, mstate, problem.train_batch(0), "val")[0]
    grads = torch.autograd.grad(f, list(leaves.values()))
    return dict(zip(leaves, grads, strict=True))


def test_both_methods_are_registered() -> None:
    assert METHODS.get("reversible") is Reversible
    assert METHODS.get("unrolled_full") is UnrolledFull


def test_reverse_pass_recovers_initial_weights_bit_for_bit(tiny) -> None:
    method = Reversible(horizon=T, meta_iterations=2)
    state = _state_with_random_schedule(method, tiny)
    state = _run_one_meta_iteration(method, tiny, state)
    rec = state["recovered"]
    assert torch.equal(rec["w_int"], state["w0_int"])
    assert torch.equal(rec["v_int"], torch.zeros_like(rec["v_int"]))
    assert bool(state["reversal_exact"])
    # the trained weights differ from the initial ones (the test is not vacuous)
    assert not torch.equal(state["exact"]["w_int"], state["w0_int"])


@pytest.mark.parametrize("per_weight", [False, True])
def test_hypergradient_matches_naive_autograd(tiny, per_weight: bool) -> None:
    method = Reversible(horizon=T, l2_per_weight=per_weight)
    state = _state_with_random_schedule(method, tiny)
    want = naive_hypergradient(tiny, state, T, per_weight)
    got = _run_one_meta_iteration(method, tiny, state)["hypergrad"]
    for k in ("alpha", "gamma", "init_scale", "l2"):
        assert got[k].shape == want[k].shape, k
        torch.testing.assert_close(got[k], want[k], rtol=1e-6, atol=1e-12, msg=k)
    assert want["alpha"].abs().min() > 0  # every step matters


def test_unrolled_full_matches_naive_autograd(tiny) -> None:
    method = UnrolledFull(horizon=T)
    state = _state_with_random_schedule(method, tiny)
    want = naive_hypergradient(tiny, state, T)
    got = _run_one_meta_iteration(method, tiny, state)["hypergrad"]
    for k in ("alpha", "gamma", "init_scale", "l2"):
        torch.testing.assert_close(got[k], want[k], rtol=1e-6, atol=1e-12, msg=k)


def test_hypergradient_matches_central_finite_differences(tiny) -> None:
    method = Reversible(horizon=4)
    state = _state_with_random_schedule(method, tiny, seed=3)
    got = _run_one_meta_iteration(method, tiny, state)["hypergrad"]
    nat0 = sch.natural(state["hyper"])
    nat0["gamma"] = fx.rational(fx.gamma_numerator(nat0["gamma"]), torch.float64)
    gid = tiny.layout.group_ids()

    def meta(nat) -> float:
        w = nat["init_scale"][gid] * state["w_base"]
        v = torch.zeros_like(w)
        ms = tiny.init_model_state()
        for t in range(4):
            g = torch.func.grad(lambda x, t=t: tiny.loss(x, ms, tiny.train_batch(t))[0])(w)
            g = g + nat["l2"][gid] * w
            v = nat["gamma"][t][gid] * v - (1 - nat["gamma"][t][gid]) * g
            w = w + nat["alpha"][t][gid] * v
        return float(tiny.loss(w, ms, tiny.train_batch(0), "val")[0])

    eps = 1e-6
    for key, idx in [
        ("alpha", (1, 0)),
        ("alpha", (3, 1)),
        ("gamma", (0, 1)),
        ("init_scale", (0,)),
        ("l2", (1,)),
    ]:
        plus = {k: v.clone() for k, v in nat0.items()}
        minus = {k: v.clone() for k, v in nat0.items()}
        plus[key][idx] += eps
        minus[key][idx] -= eps
        fd = (meta(plus) - meta(minus)) / (2 * eps)
        assert got[key][idx].item() == pytest.approx(fd, rel=1e-5, abs=1e-9), (key, idx)


def test_cost_counters(tiny) -> None:
    method = Reversible(horizon=T, meta_batches=2)
    state = method.init(tiny, tiny.init_weights(0), tiny.init_model_state(), HYPER)
    assert tiny.counter.as_dict() == {"forward": 0, "gradient": 1, "hvp": 0}  # range check
    _run_one_meta_iteration(method, tiny, state)
    # T forward gradients, 2 meta-objective gradients, T reverse gradients and T HVPs
    assert tiny.counter.as_dict() == {"forward": 0, "gradient": 1 + 2 * T + 2, "hvp": T}


def test_meta_iterations_reduce_meta_objective(tiny) -> None:
    method = Reversible(horizon=10, meta_iterations=8, meta_lr=0.1)
    state = method.init(tiny, tiny.init_weights(0), tiny.init_model_state(), HYPER)
    objectives = []
    for t in range(method.budget_steps):
        state, loss = method.step(tiny, state, t)
        assert torch.isfinite(loss)
        if t % 10 == 9:
            objectives.append(method.diagnostics(state)["meta_objective"])
            assert method.diagnostics(state)["reversal_exact"]
    assert objectives[-1] < 0.8 * objectives[0]
    rec = method.hyperparameters(state)
    assert {"lr", "momentum", "weight_decay", "alpha_l0", "gamma_l1"} <= set(rec)
    assert all(v.dim() == 0 and torch.isfinite(v) for v in rec.values())


def test_buffer_bits_recorded_close_to_ideal(tiny) -> None:
    method = Reversible(horizon=50, gamma=0.9, alpha=0.05)
    state = method.init(tiny, tiny.init_weights(0), tiny.init_model_state(), HYPER)
    state = _run_one_meta_iteration(method, tiny, state)
    bits = method.diagnostics(state)["buffer_bits"]
    ideal = fx.ideal_bits([0.9] * 50, tiny.layout.size)
    assert abs(bits["information"] - ideal) <= 1e-3 * ideal + 1


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"gamma": 1.0}, "setting 'gamma' must be < 1"),
        ({"gamma": 0.0}, "setting 'gamma' must be > 0"),
        ({"alpha": -0.1}, "alpha"),
        ({"horizon": 0}, "horizon"),
        ({"meta_objective": "test"}, "meta_objective"),
        ({"learn": ("alpha", "beta")}, "beta"),
        ({"radix_bits": 62}, "radix_bits"),
    ],
)
def test_bad_settings_raise(kwargs, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Reversible(**kwargs)


def test_fixed_point_overflow_is_rejected_before_training(tiny) -> None:
    method = Reversible(horizon=T, radix_bits=60, log_init_scale=3.0)  # range ±4, |w0| ~ 10
    with pytest.raises(ValueError, match="fixed-point range"):
        method.init(tiny, tiny.init_weights(0), tiny.init_model_state(), HYPER)
    bad_momentum = InitialHyper(index=0, lr=0.1, weight_decay=0.0, momentum=1.0)
    with pytest.raises(ValueError, match="open interval"):
        Reversible(horizon=T).init(
            tiny, tiny.init_weights(0), tiny.init_model_state(), bad_momentum
        )


def test_overflow_during_training_is_reported_as_divergence(tiny) -> None:
    method = Reversible(horizon=30, alpha=100.0)  # passes the initial check, then explodes
    state = method.init(tiny, tiny.init_weights(0), tiny.init_model_state(), HYPER)
    losses = []
    for t in range(30):
        state, loss = method.step(tiny, state, t)
        losses.append(float(loss))
    assert not math.isfinite(losses[-1])
    assert not all(torch.isfinite(v) for v in method.hyperparameters(state).values())


@pytest.mark.parametrize("device", CPU_AND_CUDA)
def test_bit_exact_on_supervised_problem_float32(device: str) -> None:
    """The same exactness on a task-style problem (ReLU MLP, float32, seeded batches)."""
    from hgbench.tasks.base import SplitData, SupervisedProblem
    from hgbench.tasks.losses import cross_entropy
    from hgbench.tasks.models import mlp

    gen = torch.Generator().manual_seed(0)

    def split(n: int) -> SplitData:
        return SplitData(torch.randn(n, 6, generator=gen), torch.randint(0, 3, (n,), generator=gen))

    problem = SupervisedProblem(
        name="tiny_cls",
        model_factory=lambda: mlp([6, 8, 8, 3]),
        train=split(64),
        val=split(16),
        test=split(16),
        loss_fn=cross_entropy,
        metrics={},
        metric="loss",
        batch_size=16,
        device=device,
        dtype=torch.float32,
    )
    method = Reversible(horizon=12, meta_iterations=2, gamma=0.9, alpha=0.5)
    state = method.init(problem, problem.init_weights(0), problem.init_model_state(), HYPER)
    for t in range(24):
        state, loss = method.step(problem, state, t)
        assert torch.isfinite(loss)
        if t % 12 == 11:
            assert torch.equal(state["recovered"]["w_int"], state["w0_int"])
            assert bool(state["reversal_exact"])
    assert all(torch.isfinite(v).all() for v in state["hypergrad"].values())
