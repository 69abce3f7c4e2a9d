"""CPU-side guards for the CUDA path: every method, on every kind of problem, keeps its tensors
on the problem's device and reads nothing back to the host while it steps.

Two guards, each a short run of init, steps (every phase at least twice), hyperparameters,
evaluation and finalize through the runner's steppers (one init, and two inits batched under
``vmap`` where the method batches), called directly (no worker processes):

* ``meta_problem``: the problem is built on the ``meta`` device (data, model state, weights:
  no values). A tensor made without the problem's device lands on the CPU and meeting a meta
  tensor fails; ``.item()``, ``float()``, ``bool()``, ``.tolist()``, ``.cpu()`` and
  data-dependent shapes (``nonzero``, boolean masks) fail on meta, so this catches host
  synchronisations inside the step too. Methods whose algorithm decides on the host by design
  are listed in ``HOST_BY_DESIGN`` and run only under the second guard.
* ``meta_default``: the problem is on the CPU with real numbers, but
  ``torch.set_default_device("meta")`` is in force while the method runs: a tensor made
  without an explicit device (``torch.tensor(x)``, ``torch.zeros(n)``, ``torch.as_tensor``) is
  a meta tensor, and meeting the problem's CPU tensors fails, even 0-d ones.

After every call the state's, loss's, hyperparameters' and metrics' tensors must all be on
the problem's device.
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest
import torch
from torch.utils._pytree import tree_leaves

from hgbench.bench.loop import BatchedStepper, SingleStepper
from hgbench.methods import METHODS
from hgbench.methods.core.hyper import sample_initial_hypers
from hgbench.tasks import TASKS
from hgbench.tasks.synthetic import register_synthetic_tasks, unregister_synthetic_tasks

STEPS = 4
#: small settings so that every phase runs twice in STEPS steps
FAST = {
    "implicit": {"T": 2, "K": 2},
    "lorraine": {"T": 2, "K": 2},
    "unrolled": {"T": 2, "k": 2},
    "random_search": {"n": 2},
    "reversible": {"horizon": 2, "meta_iterations": 2},
    "unrolled_full": {"horizon": 2, "meta_iterations": 2},
}
#: settings that take other code paths than the defaults
VARIANTS = [
    ("fixed", {"optimizer": "adam"}),
    ("fixed", {"optimizer": "adagrad"}),
    ("fixed", {"optimizer": "rmsprop"}),
    ("fixed", {"nesterov": True}),
    ("hd_sgd", {"multiplicative": True, "nonnegative": True}),
    ("tower", {"levels": "adam/adam"}),
    ("tower", {"levels": "sgdm/adam_alpha/sgd"}),
    ("tower", {"levels": "adagrad/rmsprop"}),
    ("tower", {"levels": "sgd_pt/sgd"}),
    ("implicit", {"T": 2, "K": 2, "variant": "wd_lr"}),
    ("implicit", {"T": 2, "K": 2, "variant": "wd_hdlr_m"}),
    ("unrolled", {"T": 2, "k": 2, "tuned": ("lr",)}),
    ("random_search", {"n": 2, "stepped_lr": True, "T": 2}),
    ("reversible", {"horizon": 2, "meta_iterations": 2, "l2_per_weight": True}),
]
DEFAULTS = [(k, FAST.get(k, {})) for k in METHODS.names()]
#: host decisions are part of the algorithm (reversible: the information buffer's data-
#: dependent lengths and the out-of-range check per meta-iteration)
HOST_BY_DESIGN = {"reversible"}
#: tiny problems of each kind: full-batch regression, minibatch classification, batch norm
#: (model-state buffers), an LSTM (recurrent carry and gradient clipping)
PROBLEMS = {
    "uci": ("synthetic_uci_energy", {"width": 8}),
    "bn_cnn": ("synthetic_cifar10", {"width": 2, "batch_size": 4, "train_rows": 16,
                                      "val_rows": 8, "test_rows": 8}),
    "lstm": ("synthetic_ptb", {"embed": 4, "width": 3, "layers": 2, "streams": 2, "bptt": 2,
                               "train_rows": 24, "val_rows": 12, "test_rows": 12}),
}  # fmt: skip
#: every method on every kind of problem; the variants (method code only) on one
CASES = [(c, kind) for c in DEFAULTS for kind in PROBLEMS] + [(v, "bn_cnn") for v in VARIANTS]


def _ids(case: tuple[tuple[str, dict], str]) -> str:
    (key, settings), kind = case
    extra = "".join(f"-{k}={v}" for k, v in settings.items() if k not in FAST.get(key, {}))
    return f"{key}{extra}-{kind}"


@pytest.fixture(scope="module", autouse=True)
def synthetic_tasks():
    register_synthetic_tasks()
    yield
    unregister_synthetic_tasks()


def assert_on(tree, device: torch.device, what: str) -> None:
    for leaf in tree_leaves(tree):
        if isinstance(leaf, torch.Tensor):
            assert leaf.device == device, f"{what}: a tensor on {leaf.device}, not {device}"


@contextmanager
def default_device(device: str | None):
    if device is None:
        yield
        return
    torch.set_default_device(device)
    try:
        yield
    finally:
        torch.set_default_device(None)


def run_guarded(key: str, settings: dict, problem, *, batched: bool, default: str | None):
    method = METHODS.get(key)(**settings)
    n = 2 if batched else 1
    stepper = BatchedStepper(problem, method, n) if batched else SingleStepper(problem, method)
    dev = problem.device
    w0s = [problem.init_weights(k) for k in range(n)]  # the runner's set-up: not guarded
    mstate = problem.init_model_state()
    hypers = sample_initial_hypers(0, n)
    steps = method.budget_steps or STEPS
    with default_device(default):
        state = stepper.init(w0s, mstate, hypers)
        assert_on(state, dev, f"{key}: init's state")
        for t in range(steps):
            state = stepper.step(state, t)
            assert_on(state, dev, f"{key}: the state after step {t}")
            assert_on(stepper.window[-1], dev, f"{key}: the loss of step {t}")
        assert_on(stepper.hyperparameters(state), dev, f"{key}: hyperparameters")
        assert_on(stepper.evaluate(state, "val"), dev, f"{key}: evaluate")
        state = stepper.finalize(state)
        assert_on(state, dev, f"{key}: finalize's state")


def build(problem_kind: str, device: str):
    task_key, overrides = PROBLEMS[problem_kind]
    return TASKS.get(task_key)("small", **overrides).build(device=device)


def _rejects(key: str, settings: dict, problem) -> bool:
    """Methods that refuse a problem by design (reversible: clipping and carries)."""
    if key not in ("reversible", "unrolled_full"):
        return False
    return problem.grad_clip is not None or bool(tree_leaves(problem.init_model_state()["carry"]))


@pytest.mark.parametrize("case", CASES, ids=_ids)
@pytest.mark.parametrize("guard", ["meta_problem", "meta_default"])
def test_method_stays_on_the_problems_device(guard, case):
    (key, settings), problem_kind = case
    if guard == "meta_problem" and key in HOST_BY_DESIGN:
        pytest.skip(f"{key} decides on the host by design; run under meta_default")
    problem = build(problem_kind, "meta" if guard == "meta_problem" else "cpu")
    if _rejects(key, settings, problem):
        pytest.skip(f"{key} rejects {problem_kind} problems by design")
    default = None if guard == "meta_problem" else "meta"
    run_guarded(key, settings, problem, batched=False, default=default)
    if METHODS.get(key).supports_batching and problem.supports_batching:
        run_guarded(key, settings, problem, batched=True, default=default)


def test_every_registered_method_is_guarded():
    assert {k for (k, _), _ in CASES} == set(METHODS.names())


def test_the_guards_catch_what_they_are_for():
    """A tensor made without the device, and a host read, each fail under its guard."""
    problem = build("uci", "meta")
    w = problem.init_weights(0)
    with pytest.raises(RuntimeError, match="device"):
        _ = w + torch.zeros_like(w, device="cpu")  # a CPU tensor meets the meta problem
    with pytest.raises(RuntimeError, match="meta"):
        float(w.sum())  # a host read
    cpu = build("uci", "cpu")
    w = cpu.init_weights(0)
    with default_device("meta"), pytest.raises(RuntimeError, match="device"):
        _ = w * torch.tensor(0.5)  # 0-d, made without a device
