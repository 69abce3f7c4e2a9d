"""The ``fixed`` baseline: plain training through the core equals a torch.optim loop."""

from __future__ import annotations

import pytest
import torch

from hgbench.methods import METHODS
from hgbench.methods.core.hyper import sample_initial_hypers
from hgbench.spec import InitialHyper

TORCH = {
    "sgd": lambda p, h: torch.optim.SGD(
        p, lr=h.lr, momentum=h.momentum, weight_decay=h.weight_decay
    ),
    "adam": lambda p, h: torch.optim.Adam(p, lr=h.lr, weight_decay=h.weight_decay),
    "adagrad": lambda p, h: torch.optim.Adagrad(p, lr=h.lr, weight_decay=h.weight_decay),
    "rmsprop": lambda p, h: torch.optim.RMSprop(p, lr=h.lr, weight_decay=h.weight_decay),
}


@pytest.mark.parametrize("optimizer", list(TORCH))
@pytest.mark.parametrize("clip", [None, 0.05])
def test_fixed_equals_torch_optim_loop(make_tiny, optimizer, clip):
    problem = make_tiny()
    problem.grad_clip = clip
    hyper = InitialHyper(0, lr=0.05, weight_decay=1e-3, momentum=0.8)
    method = METHODS.get("fixed")(optimizer=optimizer)
    state = method.init(problem, problem.init_weights(0), problem.init_model_state(), hyper)
    p = torch.nn.Parameter(problem.init_weights(0))
    ref = TORCH[optimizer]([p], hyper)
    for t in range(10):
        state, loss = method.step(problem, state, t)
        ref.zero_grad()
        ref_loss, _ = problem.loss(p, problem.init_model_state(), problem.train_batch(t))
        ref_loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_([p], clip)
        ref.step()
        torch.testing.assert_close(loss, ref_loss.detach(), rtol=1e-12, atol=0)
        torch.testing.assert_close(state["w"], p.detach(), rtol=1e-11, atol=1e-13)
    assert problem.counter.gradient == 10
    assert set(method.hyperparameters(state)) >= {"lr", "weight_decay"}


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adagrad", "rmsprop"])
def test_fixed_vmaps(make_tiny, vmap_check, optimizer):
    vmap_check(METHODS.get("fixed")(optimizer=optimizer), make_tiny(), sample_initial_hypers(1, 3))


def test_fixed_nesterov_and_settings(make_tiny):
    method = METHODS.get("fixed")(nesterov=True)
    assert method.settings() == {"optimizer": "sgd", "nesterov": True}
    assert method.supports_batching


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"optimizer": "lbfgs"}, "fixed: setting 'optimizer' must be one of"),
        ({"optimizer": "adam", "nesterov": True}, "nesterov applies"),
        ({"nesterov": "yes"}, "fixed: setting 'nesterov' must be True or False"),
    ],
)
def test_fixed_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        METHODS.get("fixed")(**kwargs)
