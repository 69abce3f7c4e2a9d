"""Chandra et al. 2022 towers: height 1 SGD/SGD is SGD-HD, hypergradients match finite
differences at every level, towers of height 0..3 run, nothing leaks, and the step vmaps."""

from __future__ import annotations

import gc

import pytest
import torch

from hgbench.methods import METHODS
from hgbench.methods.core.hyper import sample_initial_hypers
from hgbench.methods.tower.levels import DEFAULTS, LEVELS
from hgbench.spec import InitialHyper

HYPER = InitialHyper(0, lr=0.05, weight_decay=0.0, momentum=0.5)


def _init(method, problem, hyper=HYPER):
    return method.init(problem, problem.init_weights(0), problem.init_model_state(), hyper)


def _run(method, problem, steps, hyper=HYPER):
    state = _init(method, problem, hyper)
    states = [state]
    for t in range(steps):
        state, _ = method.step(problem, state, t)
        states.append(state)
    return states


def test_height_one_sgd_equals_hd_sgd(make_tiny):
    hyper = InitialHyper(0, lr=0.05, weight_decay=1e-3, momentum=0.0)
    tower = _run(
        METHODS.get("tower")(levels="sgd/sgd", kappa=0.02, weight_decay=1e-3),
        make_tiny(),
        25,
        hyper,
    )
    hd = _run(METHODS.get("hd_sgd")(beta=0.02, weight_decay=1e-3), make_tiny(), 25, hyper)
    assert float(hd[-1]["lr"]) != pytest.approx(0.05, rel=1e-3)  # α really moved
    for a, b in zip(tower, hd, strict=True):
        torch.testing.assert_close(a["w"], b["w"], rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(a["h"][0][0], b["lr"], rtol=1e-10, atol=1e-12)


def _fd_check(problem, method, level: int, t: int, start, eps=1e-6) -> None:
    """Perturb level ``level``'s hyperparameters before step ``t - 1``; compare
    ``dL_t(w_t)/dh`` with the hypergradient the tower computes at step ``t``."""
    after, _ = method.step(problem, method.step(problem, start, t - 1)[0], t)
    got = after["hypergrad"][f"level{level}"]
    batch = problem.train_batch(t)
    fd = torch.zeros_like(got)
    for i in range(got.numel()):
        vals = []
        for sign in (1, -1):
            h = [x.clone() for x in start["h"]]
            h[level - 1][i] += sign * eps
            moved, _ = method.step(problem, {**start, "h": h}, t - 1)
            vals.append(problem.loss(moved["w"], {}, batch)[0])
        fd[i] = (vals[0] - vals[1]) / (2 * eps)
    assert fd.abs().max() > 1e-8
    torch.testing.assert_close(got, fd, rtol=2e-5, atol=1e-9)


@pytest.mark.parametrize(
    "levels", ["sgd/sgd", "sgd/sgd/sgd", "sgd/sgd/sgd/sgd", "sgd_pt/sgd_pt/sgd"]
)
def test_sgd_tower_hypergradients_match_fd_at_every_level(make_tiny, levels):
    problem = make_tiny()
    method = METHODS.get("tower")(levels=levels, kappa=1e-3)
    states = _run(method, problem, 4)
    for level in range(1, method.height + 1):
        _fd_check(problem, method, level, 4, states[3])


@pytest.mark.parametrize("name", [n for n, lv in LEVELS.items() if lv.vjp is not None])
def test_closed_form_level_vjp_equals_reverse_mode(name):
    """Each closed-form VJP equals ``torch.func.vjp`` through the level's ``delta``, several
    updates in (bias corrections away from their first values), with hyperparameters off their
    defaults so every entry of ``h`` matters."""
    lv = LEVELS[name]
    gen = torch.Generator().manual_seed(0)
    natural = {**DEFAULTS, "lr": 0.03, "beta1": 0.7, "beta2": 0.95}
    h = torch.tensor(lv.to_raw(natural), dtype=torch.float64)
    state = lv.init_state(torch.zeros(50, dtype=torch.float64))
    for step in range(5):
        g = torch.randn(50, generator=gen, dtype=torch.float64)
        before = state
        _, state = lv.delta(g, before, h, step, None)
    u = torch.randn(50, generator=gen, dtype=torch.float64)
    _, pullback = torch.func.vjp(lambda x: lv.delta(g, before, x, 4, None)[0], h)
    expected = pullback(u)[0]
    assert expected.abs().min() > 1e-6  # every hyperparameter moves the update
    torch.testing.assert_close(lv.vjp(u, g, before, state, h), expected, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize(
    "levels",
    [
        "sgdm/sgd",
        "adam/sgd",
        "adam_alpha/sgd",
        "adagrad/sgd",
        "rmsprop/sgd",
        "sgd_pt/sgd",
        "sgd/adam/sgd",
        "sgd/rmsprop/sgd",
        "adam/adam/adam",
        "sgdm/sgdm/sgd",
    ],
)
def test_each_level_hypergradient_matches_fd(make_tiny, levels):
    """Top step size 0 keeps the checked level's value fixed, so only its last update counts."""
    problem = make_tiny()
    method = METHODS.get("tower")(levels=levels, kappa=[1e-3] * (levels.count("/") - 1) + [0.0])
    states = _run(method, problem, 4)
    _fd_check(problem, method, method.height, 4, states[3])


def test_sgdm_bottom_with_zero_kappa_is_fixed_sgd_momentum(make_tiny):
    hyper = InitialHyper(0, lr=0.05, weight_decay=0.0, momentum=0.7)
    tower = _run(METHODS.get("tower")(levels="sgdm/sgd", kappa=0.0), make_tiny(), 10, hyper)
    fixed = _run(METHODS.get("fixed")(), make_tiny(), 10, hyper)
    for a, b in zip(tower, fixed, strict=True):
        torch.testing.assert_close(a["w"], b["w"], rtol=1e-12, atol=1e-14)


def _tensor_count() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if issubclass(type(o), torch.Tensor))


def test_no_graph_or_memory_kept_across_steps_and_runs(make_tiny):
    problem = make_tiny()
    method = METHODS.get("tower")(levels="adam/adam/sgd", kappa=1e-4)

    def run(steps: int) -> int:
        state = _init(method, problem)
        for t in range(steps):
            state, loss = method.step(problem, state, t)
        leaves = torch.utils._pytree.tree_flatten(state)[0]
        assert all(not x.requires_grad and x.grad_fn is None for x in leaves)
        assert not loss.requires_grad
        del state, loss, leaves
        return _tensor_count()

    run(3)  # warm caches
    base = run(5)
    assert run(40) == base  # longer runs keep nothing more alive
    assert run(5) == base and run(5) == base  # neither do repeated runs


def test_reference_style_leak_is_detected():
    """The counter used above sees tensors kept alive by a create_graph graph."""
    before = _tensor_count()
    w = torch.randn(5, requires_grad=True)
    kept = []
    for _ in range(5):
        (g,) = torch.autograd.grad((w**3).sum(), w, create_graph=True)
        kept.append(g)
    assert _tensor_count() > before


@pytest.mark.parametrize(
    "levels", ["sgd/sgd", "adam/adam", "sgd_pt/rmsprop/adagrad", "sgdm/adam_alpha/sgd"]
)
def test_tower_vmaps(make_tiny, vmap_check, levels):
    vmap_check(
        METHODS.get("tower")(levels=levels, kappa=1e-3), make_tiny(), sample_initial_hypers(3, 3)
    )


def test_settings_and_recorded_hyperparameters(make_tiny):
    method = METHODS.get("tower")(levels="adam/sgd")
    assert method.settings() == {
        "levels": "adam/sgd",
        "kappa": [0.01],
        "alpha0": None,
        "weight_decay": 0.0,
    }
    assert method.height == 1
    state = _init(method, make_tiny())
    rec = method.hyperparameters(state)
    assert float(rec["lr"]) == pytest.approx(0.05) and float(rec["beta1"]) == pytest.approx(0.9)
    assert float(rec["beta2"]) == pytest.approx(0.999) and float(rec["level2_lr"]) == 0.01
    assert float(
        _init(METHODS.get("tower")(levels="rmsprop"), make_tiny())["h"][0][0]
    ) == pytest.approx(0.05**0.5)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"levels": "sgd/lbfgs"}, "unknown tower level.*'lbfgs'"),
        ({"levels": ""}, "levels must be a string"),
        ({"levels": "sgd/sgd", "kappa": [0.1, 0.2]}, "one value per level above the bottom"),
        ({"kappa": -1.0}, "tower: setting 'kappa' must be >= 0"),
        ({"weight_decay": -1.0}, "weight_decay"),
        ({"alpha0": float("nan")}, "alpha0"),
    ],
)
def test_bad_settings_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        METHODS.get("tower")(**kwargs)
