"""Synthetic results tables with every column of the store's schema, for report tests."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

RUN_DEFAULTS: dict[str, Any] = {
    "suite": "test",
    "task": "toy",
    "task_config": "{}",
    "method": "fixed",
    "method_settings": "{}",
    "label": "fixed",
    "seed": 0,
    "init_index": 0,
    "init_hyper": json.dumps({"lr": 0.1, "weight_decay": 0.0, "momentum": 0.0}),
    "batch_id": None,
    "batch_size": 1,
    "status": "ok",
    "message": "",
    "budget_steps": 10,
    "steps_done": 10,
    "diverged_step": None,
    "method_time_s": 1.0,
    "eval_time_s": 0.1,
    "total_time_s": 1.1,
    "time_is_share": False,
    "peak_memory_bytes": 2**20,
    "memory_kind": "cpu_peak_rss",
    "cost_forward": 10,
    "cost_gradient": 10,
    "cost_hvp": 0,
    "runs_per_init": 1,
    "metric": "mse",
    "lower_is_better": True,
    "divergence_threshold": np.nan,
    "final_train_loss": 1.0,
    "final_val_loss": 1.0,
    "final_test_loss": 1.0,
    "final_test_metric": 1.0,
    "final_hyper": "{}",
    "threads": 1,
    "device": "cpu",
    "dtype": "float32",
    "hgbench_version": "0.1.0",
    "git_commit": "abc",
    "torch_version": "2.13.0",
    "schema_version": 1,
    "started_at": "2026-01-01T00:00:00",
    "finished_at": "2026-01-01T00:00:01",
}


def make_runs(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A runs table: each row is RUN_DEFAULTS updated by ``rows[i]``; run ids r0, r1, ..."""
    out = []
    for i, row in enumerate(rows):
        full = {"run_id": f"r{i}", **RUN_DEFAULTS, **row}
        if "method" in row and "label" not in row:
            full["label"] = row["method"]
        out.append(full)
    return pd.DataFrame(out)


def make_records(rows: list[tuple]) -> pd.DataFrame:
    """A records table from (run_id, step, time_s, split, metric, value) tuples."""
    return pd.DataFrame(rows, columns=["run_id", "step", "time_s", "split", "metric", "value"])
