"""The Problem contract, for every registered task at small scale on fixture data."""

from __future__ import annotations

import pytest
import torch
from torch.func import grad, vmap
from torch.utils._pytree import tree_map

from hgbench.tasks import TASKS

TASKS.get("sk_digits")  # import the built-in modules before collecting names
SMALL = {  # fixture files are tiny: shrink the subsets that exceed them
    "cifar10": {"subset": 100, "val_subset": 20, "test_subset": 30},
    "cifar10_cnn": {"subset": 100, "val_subset": 20, "test_subset": 30},
    "fashion_mnist": {"subset": 60, "val_subset": 50, "batch_size": 10},
    "ptb": {"subset": None, "val_subset": None, "test_subset": None, "streams": 4, "bptt": 5},
}
SKIP = {"uci_kin8nm", "uci_naval", "uci_power", "uci_protein"}  # large sets: not in fixtures
KEYS = [k for k in TASKS.names() if k not in SKIP and TASKS.get(k).family != "quadratic"]


@pytest.fixture(scope="module")
def problems(fixture_data):
    cache = {}

    def get(key):
        if key not in cache:
            cache[key] = TASKS.get(key)("small", **SMALL.get(key, {})).build(data_dir=fixture_data)
        return cache[key]

    return get


@pytest.mark.parametrize("key", KEYS)
def test_contract(problems, key):
    p = problems(key)
    w, m = p.init_weights(0), p.init_model_state()
    assert w.shape == (p.layout.size,) and w.dtype == p.dtype
    assert torch.equal(p.init_weights(0), w) and not torch.equal(p.init_weights(1), w)
    loss, m1 = p.loss(w, m, p.train_batch(0))
    assert loss.dim() == 0 and torch.isfinite(loss)
    g = grad(lambda w_: p.loss(w_, m, p.train_batch(0))[0])(w)
    assert g.shape == w.shape and torch.isfinite(g).all() and g.abs().sum() > 0
    lv, _ = p.loss(w, m, p.val_batch(0), "val")
    assert torch.isfinite(lv)
    for split in ("train", "val", "test"):
        res = p.evaluate(w, m, split)
        assert {"loss", p.metric} <= set(res) and all(v.dim() == 0 for v in res.values())
        assert torch.isfinite(res[p.metric])
    # deterministic batches
    assert torch.equal(p.train_batch(3).inputs, p.train_batch(3).inputs)
    # vmap over two inits equals per-init results
    if p.supports_batching:
        ws = torch.stack([w, p.init_weights(1)])
        ms = tree_map(lambda x: torch.stack([x, x]), m)
        b = p.train_batch(1)
        losses, _ = vmap(lambda a, s: p.loss(a, s, b))(ws, ms)
        for i in range(2):
            torch.testing.assert_close(losses[i], p.loss(ws[i], m, b)[0], rtol=1e-5, atol=1e-6)
        ev = vmap(lambda a, s: p.evaluate(a, s, "val"))(ws, ms)
        torch.testing.assert_close(ev["loss"][1], p.evaluate(ws[1], m, "val")["loss"])


@pytest.mark.parametrize("key", ["sk_diabetes", "sk_digits", "fashion_mnist", "cifar10", "ptb"])
def test_data_seed_changes_only_batch_order(fixture_data, key):
    cls = TASKS.get(key)
    a = cls("small", **SMALL.get(key, {})).build(data_dir=fixture_data, data_seed=0)
    b = cls("small", **SMALL.get(key, {})).build(data_dir=fixture_data, data_seed=1)
    ea = a.evaluate(a.init_weights(0), a.init_model_state(), "test")
    eb = b.evaluate(b.init_weights(0), b.init_model_state(), "test")
    torch.testing.assert_close(ea["loss"], eb["loss"])
    if a.steps_per_epoch > 1 and key != "ptb":
        assert not torch.equal(a.train_batch(0).inputs, b.train_batch(0).inputs)


@pytest.mark.parametrize("key", ["uci_energy", "sk_diabetes"])
def test_training_subset_keeps_validation_and_test(problems, fixture_data, key):
    """``subset`` drops training rows only; too many is a clear error naming the parameter."""
    full = problems(key)
    small = TASKS.get(key)("small", subset=40).build(data_dir=fixture_data)
    assert small.num_examples("train") == 40 < full.num_examples("train")
    for split in ("val", "test"):
        assert small.num_examples(split) == full.num_examples(split)
    too_many = full.num_examples("train") + 1
    with pytest.raises(ValueError, match=f"subset={too_many} exceeds"):
        TASKS.get(key)("small", subset=too_many).build(data_dir=fixture_data)
