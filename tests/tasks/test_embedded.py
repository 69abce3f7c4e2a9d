"""Embedded scikit-learn tasks: sizes, parameter counts, metrics, scale validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hgbench.tasks import TASKS


def test_registered():
    TASKS.get("sk_diabetes")
    assert {"sk_diabetes", "sk_digits"} <= set(TASKS.names())
    assert TASKS.get("sk_digits").embedded


def test_diabetes_splits_params_and_unnormalised_mse():
    from sklearn.datasets import load_diabetes

    p = TASKS.get("sk_diabetes")("small").build()
    assert p.layout.size == 10 * 50 + 50 + 50 + 1 == 601
    assert [p.num_examples(s) for s in ("train", "val", "test")] == [318, 80, 44]
    assert p.metric == "mse" and p.lower_is_better
    # train+val statistics: normalised train+val targets have mean 0, std 1
    yv = torch.cat([p.train_batch(0).targets, p.val_batch(0).targets])
    assert abs(float(yv.mean())) < 1e-5 and abs(float(yv.std()) - 1) < 1e-5
    # predicting the (normalised) zero everywhere gives the raw MSE around the train+val mean
    _, y = load_diabetes(return_X_y=True, scaled=False)
    y = y[np.random.RandomState(0).permutation(len(y))]
    w = torch.zeros(p.layout.size)
    res = p.evaluate(w, p.init_model_state(), "test")
    expected = float(((y[398:] - y[:398].mean()) ** 2).mean())
    assert res["mse"].item() == pytest.approx(expected, rel=1e-4)
    assert res["loss"].item() == pytest.approx(expected / y[:398].var(ddof=1), rel=1e-4)


def test_digits_splits_batches_and_accuracy():
    p = TASKS.get("sk_digits")("small").build(data_seed=1)
    assert p.layout.size == 64 * 50 + 50 + 50 * 10 + 10 == 3760
    assert [p.num_examples(s) for s in ("train", "val", "test")] == [1200, 300, 297]
    assert p.steps_per_epoch == 24
    b = p.train_batch(0)
    assert b.inputs.shape == (50, 64) and b.targets.dtype == torch.long
    assert float(b.inputs.max()) <= 1.0
    assert p.metric == "accuracy" and not p.lower_is_better
    res = p.evaluate(p.init_weights(0), p.init_model_state(), "test")
    assert 0.0 <= res["accuracy"].item() <= 1.0 and res["loss"].item() > 1.5


def test_digits_learns_with_plain_sgd():
    p = TASKS.get("sk_digits")("small").build()
    w, m = p.init_weights(0), p.init_model_state()
    for t in range(120):
        batch = p.train_batch(t)
        g = torch.func.grad(lambda w_, b=batch: p.loss(w_, m, b)[0])(w)
        w = w - 0.5 * g
    assert p.evaluate(w, m, "test")["accuracy"].item() > 0.85


def test_fixed_splits_independent_of_data_seed():
    a = TASKS.get("sk_diabetes")().build(data_seed=0)
    b = TASKS.get("sk_diabetes")().build(data_seed=9)
    assert torch.equal(a.train_batch(0).inputs, b.train_batch(0).inputs)


@pytest.mark.parametrize("key", ["sk_diabetes", "sk_digits"])
def test_scales_and_overrides(key):
    cls = TASKS.get(key)
    assert cls("paper").budget_steps > cls("small").budget_steps
    t = cls("small", steps=7, width=5, subset=40)
    assert t.budget_steps == 7 and t.config()["width"] == 5
    p = t.build()
    assert p.num_examples("train") == 40
    assert (
        p.layout.size
        == p.layout.shapes[0][1] * 5 + 5 + 5 * p.layout.shapes[-1][0] + (p.layout.shapes[-1][0])
    )
    with pytest.raises(ValueError, match="unknown scale parameter"):
        cls("small", widht=5)
    with pytest.raises(ValueError, match="positive"):
        cls("small", steps=0)
    with pytest.raises(ValueError, match="wrong type"):
        cls("small", steps="10")
    with pytest.raises(ValueError, match="unknown scale"):
        cls("huge")
    with pytest.raises(ValueError, match="subset"):
        cls("small", subset=100_000).build()
