"""The example task: registered by its entry point, deterministic data, scales as data."""

from __future__ import annotations

import hgbench
import pytest
import torch
from hgbench.api import TASKS

from hgbench_example.task import Friedman1


def test_the_entry_point_registers_the_class():
    assert TASKS.get("friedman1") is Friedman1


def test_splits_model_and_determinism(problem):
    sizes = [len(problem._splits[s]) for s in ("train", "val", "test")]
    assert sizes == [36, 12, 12]
    assert problem.layout.size == 10 * 8 + 8 + 8 + 1  # MLP 10-8-1
    again = TASKS.get("friedman1")(rows=60, width=8).build(dtype=torch.float64, data_seed=5)
    for split in ("train", "val", "test"):  # data_seed changes the batch order, not the data
        assert torch.equal(problem._splits[split].inputs, again._splits[split].inputs)
    metrics = problem.evaluate(problem.init_weights(0), problem.init_model_state(), "test")
    assert set(metrics) == {"loss", "mse"} and problem.metric == "mse"


def test_scales_and_overrides():
    assert Friedman1().budget_steps == 300 and Friedman1("paper").params["rows"] == 5000
    resolved = {"steps": 300, "rows": 100, "noise": 1.0, "width": 32}
    assert Friedman1(rows=100).config() == {"task": "friedman1", "scale": "small", **resolved}
    with pytest.raises(ValueError, match="unknown scale parameter.*row"):
        Friedman1(row=100)
    with pytest.raises(ValueError, match="bad split sizes"):
        Friedman1(rows=3).build()


def test_no_data_files_and_a_fixed_method_learns_it():
    assert Friedman1().data_files() == []  # generated: the data fingerprint is empty
    runs = hgbench.run("fixed", "friedman1", budget=200, init=[{"lr": 0.05, "weight_decay": 0.0,
                       "momentum": 0.9}])  # fmt: skip
    assert runs.status.iloc[0] == "ok"
    assert runs.final_test_metric.iloc[0] < 0.5 * runs.untrained_test_metric.iloc[0]
