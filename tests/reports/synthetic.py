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
    "init_source": "sampled",
    "init_hyper": json.dumps({"lr": 0.1, "weight_decay": 0.0, "momentum": 0.0}),
    "train_split": "train",
    "batch_id": None,
    "batch_size": 1,
    "status": "ok",
    "message": "",
    "budget_steps": 10,
    "steps_done": 10,
    "diverged_step": None,
    "method_time_s": 1.0,
    "startup_time_s": np.nan,  # NULL in stores written before the runner split start-up off
    "startup_steps": None,
    "steady_time_s": np.nan,
    "step_time_s": np.nan,
    "step_time_q25_s": np.nan,
    "step_time_q75_s": np.nan,
    "eval_time_s": 0.1,
    "total_time_s": 1.1,
    "time_is_share": False,
    "peak_memory_bytes": 2**20,
    "memory_kind": "cpu_run_rss",
    "process_peak_bytes": 400 * 2**20,
    "state_bytes": 2**10,
    "cost_forward": 10,
    "cost_gradient": 10,
    "cost_hvp": 0,
    "runs_per_init": 1,
    "metric": "mse",
    "lower_is_better": True,
    "divergence_threshold": np.nan,
    "untrained_test_metric": np.nan,
    "final_train_loss": 1.0,
    "final_val_loss": 1.0,
    "final_test_loss": 1.0,
    "final_test_metric": 1.0,
    "final_hyper": "{}",
    "threads": 1,
    "device": "cpu",
    "dtype": "float32",
    "data_fingerprint": "",
    "hgbench_version": "0.1.0",
    "git_commit": "abc",
    "torch_version": "2.13.0",
    "schema_version": 2,
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


def make_sweep(n_inits: int = 4, steps: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A small sweep: tasks ``reg`` (mse, with ``fixed``) and ``cls`` (accuracy, no ``fixed``).

    Includes a diverged run, a run above the divergence threshold, an OOM run, a timeout, a
    missing init, batched (time-share) runs and per-element lr spread records.
    """
    rng = np.random.default_rng(0)
    runs, records = [], []
    plan = [
        ("reg", "mse", True, ["fixed", "hd_sgd", "implicit"]),
        ("cls", "accuracy", False, ["hd_sgd", "implicit"]),
    ]
    for task, metric, lower, methods in plan:
        for m, method in enumerate(methods):
            label = f"{method}[variant=wd_lr]" if method == "implicit" else method
            for i in range(n_inits):
                if task == "cls" and method == "implicit" and i == n_inits - 1:
                    continue  # a missing run
                run_id = f"{task}-{label}-{i}"
                start = 5.0 if lower else 0.1
                end = (1.0 + 0.3 * i - 0.2 * m) if lower else (0.6 + 0.05 * i + 0.05 * m)
                curve = np.linspace(start, end, steps + 1)
                status, final = "ok", curve[-1]
                if task == "reg" and method == "hd_sgd" and i == 0:
                    status, final, curve = "diverged", np.nan, curve * np.nan
                if task == "reg" and method == "implicit" and i == 1:
                    final = 1e6  # above the divergence threshold
                if task == "reg" and method == "fixed" and i == 2:
                    status, final = "oom", np.nan
                if task == "cls" and method == "hd_sgd" and i == 1:
                    status, final = "timeout", np.nan
                time = 0.1 * (1 + m) * np.arange(steps + 1) * (1 + 0.1 * rng.random())
                runs.append(
                    {
                        **RUN_DEFAULTS,
                        "run_id": run_id, "task": task, "method": method, "label": label,
                        "metric": metric, "lower_is_better": lower, "init_index": i,
                        "status": status, "final_test_metric": final,
                        "final_test_loss": final if lower else 1 - final,
                        "divergence_threshold": 100.0 if lower else float("nan"),
                        "budget_steps": steps, "steps_done": steps if status == "ok" else 2,
                        "method_time_s": float(time[-1]),
                        "startup_time_s": float(time[1]),
                        "step_time_s": float(time[-1] - time[1]) / (steps - 1),
                        "untrained_test_metric": float(curve[0]) if status == "ok" else start,
                        "data_fingerprint": f"{task}-data-sha256",
                        "time_is_share": method == "implicit",
                        "batch_id": "b1" if method == "implicit" else None,
                        "peak_memory_bytes": (1 + m) * 2**20,
                        "cost_forward": steps, "cost_gradient": steps * (1 + m),
                        "cost_hvp": steps * 5 if method == "implicit" else 0,
                        "message": "CUDA out of memory" if status == "oom" else "",
                    }
                )  # fmt: skip
                for s in range(steps + 1):
                    records.append((run_id, s, float(time[s]), "test", metric, float(curve[s])))
                    records.append((run_id, s, float(time[s]), "val", "loss", float(curve[s])))
                    lr = 0.1 * (1 + 0.1 * s * m)
                    records.append((run_id, s, float(time[s]), "hyper", "lr", lr))
                    records.append((run_id, s, float(time[s]), "hyper", "momentum", 0.9))
                    if method == "implicit":
                        records.append((run_id, s, float(time[s]), "hyper", "lr_std", 0.02))
    return pd.DataFrame(runs), make_records(records)
