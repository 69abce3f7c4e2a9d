"""Synthetic stand-ins: the real task's model, batch shapes and split sizes over random data."""

from __future__ import annotations

import gc

import pytest
import torch

from hgbench.bench.config import RunConfig, WorkItem
from hgbench.bench.worker import execute
from hgbench.methods.core import layout as layout_ids
from hgbench.tasks import TASKS
from hgbench.tasks.synthetic import (
    PTB_VOCAB,
    UCI_FEATURES,
    register_synthetic_tasks,
    unregister_synthetic_tasks,
)
from hgbench.tasks.uci import UCI


@pytest.fixture(scope="module", autouse=True)
def synthetic():
    register_synthetic_tasks()
    yield
    unregister_synthetic_tasks()


def test_paper_shapes_are_the_real_tasks(fixture_data):
    """Parameter counts, batch shapes and split sizes against the real tasks' own."""
    cifar = TASKS.get("synthetic_cifar10")("paper", train_rows=200, val_rows=100, test_rows=100)
    p = cifar.build()
    assert p.layout.size == 11_181_642  # torchvision's ResNet-18 with 10 classes
    assert p.train_batch(0).inputs.shape == (100, 3, 32, 32)
    assert cifar.rows == {"train_rows": 200, "val_rows": 100, "test_rows": 100}
    full = TASKS.get("synthetic_cifar10")("paper").rows
    assert full == {"train_rows": 45_000, "val_rows": 5_000, "test_rows": 10_000}

    energy = TASKS.get("synthetic_uci_energy")("paper").build()
    assert energy.layout.size == 8 * 50 + 50 + 50 + 1
    assert energy.train_batch(0).inputs.shape == (UCI["energy"].n_train, UCI_FEATURES["energy"])
    assert energy.num_examples("test") == UCI["energy"].n_test

    ptb = TASKS.get("synthetic_ptb")("paper", train_rows=40 * 141, val_rows=40 * 71 + 1,
                                      test_rows=40 * 71 + 1)  # fmt: skip
    lm = ptb.build()
    b = lm.train_batch(0)
    assert b.inputs.shape == (70, 40) and int(b.inputs.max()) < PTB_VOCAB
    assert lm.layout.size == 2 * PTB_VOCAB * 650 + PTB_VOCAB + 2 * (4 * 650 * 1300 + 2 * 2600)
    assert TASKS.get("synthetic_ptb")("paper").rows["train_rows"] == 929_589

    # the real small-scale Fashion-MNIST task (fixture files) and its stand-in agree
    real = TASKS.get("fashion_mnist")("small", subset=60, val_subset=50, batch_size=10)
    fake = TASKS.get("synthetic_fashion_mnist")("small", subset=60, val_subset=50, batch_size=10)
    rp, fp = real.build(data_dir=fixture_data), fake.build()
    assert fp.layout == rp.layout and fp.steps_per_epoch == rp.steps_per_epoch
    assert fp.train_batch(0).inputs.shape == rp.train_batch(0).inputs.shape


def test_scale_parameters_pass_through_and_rows_are_checked():
    task = TASKS.get("synthetic_fashion_mnist")("small", hidden=[7], test_rows=30)
    assert task.config()["hidden"] == [7] and task.config()["test_rows"] == 30
    assert task.budget_steps == TASKS.get("fashion_mnist")("small").budget_steps
    with pytest.raises(ValueError, match="train_rows=0 must be a positive integer"):
        TASKS.get("synthetic_fashion_mnist")("small", train_rows=0)
    with pytest.raises(ValueError, match="unknown scale parameter"):
        TASKS.get("synthetic_cifar10")("small", wdith=3)


def test_data_are_seeded_and_data_seed_changes_only_the_order():
    task = TASKS.get("synthetic_fashion_mnist")("small", train_rows=100, val_rows=20,
                                                 test_rows=20)  # fmt: skip
    a, b, c = task.build(data_seed=0), task.build(data_seed=0), task.build(data_seed=1)
    w, m = a.init_weights(0), a.init_model_state()
    assert torch.equal(a.train_batch(3).inputs, b.train_batch(3).inputs)
    assert not torch.equal(a.train_batch(0).inputs, c.train_batch(0).inputs)
    torch.testing.assert_close(a.evaluate(w, m, "test")["loss"], c.evaluate(w, m, "test")["loss"])


def test_runs_through_the_runner():
    cfg = RunConfig(task="synthetic_uci_energy", method="fixed", budget_steps=6, eval_every=3,
                    task_overrides={"width": 4})  # fmt: skip
    (row,) = execute(WorkItem((cfg,)))["runs"]
    assert row["status"] == "ok", row["message"]
    assert row["steps_done"] == 6 and row["cost_gradient"] == 6


def test_layout_ids_are_built_once_and_die_with_the_problem():
    gc.collect()
    before = len(layout_ids._CACHE)
    problem = TASKS.get("synthetic_uci_energy")("small", width=3).build()
    ids = layout_ids.tensor_ids(problem)
    assert torch.equal(ids, problem.layout.tensor_ids())
    assert torch.equal(layout_ids.group_ids(problem), problem.layout.group_ids())
    assert layout_ids.tensor_ids(problem) is ids  # cached
    del problem
    gc.collect()
    assert len(layout_ids._CACHE) == before
