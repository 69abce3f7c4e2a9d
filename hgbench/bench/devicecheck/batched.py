"""Batched inits against one by one, and the Clarke UCI suite estimate (shared with
``scripts/bench_batched.py``, which prints the same figures on real data).

* :func:`batched_vs_one_by_one`: ``one_by_one`` single-init runs, then one work item of N
  paired inits trained as one vmapped computation, for each N, all through
  :func:`hgbench.bench.worker.execute` in this process: wall time per init (data, evaluation
  included) and method time per init, and the speed-up of each N over one by one.
* :func:`suite_batch_estimate`: one batch of the suite's inits per (data set, batchable
  method variant) measured at ``steps`` steps and scaled to the suite's: training time
  linearly in steps, evaluation time by the number of evaluations, set-up (data, model,
  first calls) added once.
"""

from __future__ import annotations

import math
import time
import warnings
from collections import Counter
from dataclasses import replace
from typing import Any

from hgbench.bench.config import RunConfig, WorkItem
from hgbench.bench.worker import execute
from hgbench.methods import METHODS
from hgbench.tasks import TASKS

#: the methods of issue 10's batched-inits figures
METHOD_SETTINGS: dict[str, dict[str, Any]] = {
    "fixed": {},
    "hd_sgd": {},
    "implicit": {"variant": "wd_lr_m"},
}


def run_configs(task: str, method: str, settings: dict, n: int, *, steps: int, device: str,
                dtype: str = "float32", batch_size: int | None = None,
                data_dir: str | None = None) -> list[RunConfig]:  # fmt: skip
    """Paired inits 0..n-1 of one method on one task at paper scale."""
    return [
        RunConfig(task=task, method=method, method_settings=settings, init_index=k,
                  scale="paper", budget_steps=steps, dtype=dtype, device=device,
                  batch_size=batch_size or n, data_dir=data_dir)
        for k in range(n)
    ]  # fmt: skip


def statuses(rows: list[dict]) -> str:
    counts = Counter(r["status"] for r in rows)
    return " ".join(f"{k}={v}" for k, v in sorted(counts.items()))


def in_process(item: WorkItem) -> tuple[float, dict[str, Any]]:
    """Wall time and result of one work item run in this process."""
    start = time.perf_counter()
    result = execute(item)
    return time.perf_counter() - start, result


def method_time(result: dict[str, Any]) -> float:
    """Training time of a work item: the batch's, or the sum over runs done one by one."""
    if result["batch"]:
        return result["batch"]["method_time_s"]
    return sum(r.get("method_time_s", math.nan) for r in result["runs"])


def warm_up(task: str, method: str, settings: dict, *, device: str, **kw: Any) -> None:
    """Untimed: this process's first single and first vmapped calls of the method."""
    single = run_configs(task, method, settings, 1, steps=2, device=device, **kw)
    execute(WorkItem(tuple(single)))
    pair = run_configs(task, method, settings, 2, steps=2, device=device, **kw)
    execute(WorkItem(tuple(pair)))


def batched_vs_one_by_one(task: str, method: str, settings: dict, sizes: list[int], *,
                          steps: int, one_by_one: int, device: str,
                          **kw: Any) -> list[dict[str, Any]]:  # fmt: skip
    """Rows ``{mode, N, per_init_s, method_per_init_s, status, speedup, speedup_method}``."""
    warm_up(task, method, settings, device=device, **kw)
    walls, train, rows = [], [], []
    for cfg in run_configs(task, method, settings, one_by_one, steps=steps, device=device,
                           batch_size=1, **kw):  # fmt: skip
        wall, result = in_process(WorkItem((cfg,)))
        walls.append(wall)
        train.append(method_time(result))
        rows += result["runs"]
    base = {"mode": "one by one", "N": 1, "runs": one_by_one,
            "per_init_s": sum(walls) / len(walls), "method_per_init_s": sum(train) / len(train),
            "status": statuses(rows)}  # fmt: skip
    out = [base]
    for n in sizes:
        wall, result = in_process(
            WorkItem(
                tuple(run_configs(task, method, settings, n, steps=steps, device=device, **kw))
            )  # fmt: skip
        )
        out.append({"mode": "batched", "N": n, "per_init_s": wall / n,
                    "method_per_init_s": method_time(result) / n,
                    "status": statuses(result["runs"])})  # fmt: skip
    for row in out:
        row["speedup"] = base["per_init_s"] / row["per_init_s"]
        row["speedup_method"] = base["method_per_init_s"] / row["method_per_init_s"]
    return out


def evaluations(steps: int, eval_every: int) -> int:
    """Evaluations of a run of ``steps``: at step 0, every ``eval_every``, at the end, final."""
    return 1 + math.ceil(steps / eval_every) + 1


def batchable_variants(variants: list[tuple[str, dict]]) -> tuple[list, list[str]]:
    keep = [(k, s) for k, s in variants if METHODS.get(k).supports_batching]
    return keep, [k for k, _ in variants if not METHODS.get(k).supports_batching]


def suite_batch_estimate(task: str, key: str, settings: dict, *, inits: int, steps: int,
                         full_steps: int, device: str, **kw: Any) -> dict[str, Any]:  # fmt: skip
    """One batch of ``inits`` of one variant on one data set, and its estimate at
    ``full_steps`` (see the module docstring)."""
    every = TASKS.get(task)(scale="paper").eval_every
    eval_scale = evaluations(full_steps, every) / evaluations(steps, every)
    runs = run_configs(task, key, settings, inits, steps=steps, device=device, **kw)
    wall, result = in_process(WorkItem(tuple(runs)))
    rows = result["runs"]
    if result["batch"]:
        train_s = result["batch"]["method_time_s"]
        eval_s = result["batch"]["total_time_s"] - train_s
    else:  # ran one by one (not batchable on this task)
        train_s = sum(r.get("method_time_s", math.nan) for r in rows)
        eval_s = sum(r.get("total_time_s", math.nan) for r in rows) - train_s
    setup = max(0.0, wall - train_s - eval_s)
    estimate = setup + train_s * full_steps / steps + eval_s * eval_scale
    label = key + "".join(f" {k}={v}" for k, v in settings.items())
    return {"task": task, "method": label, "wall_s": wall, "train_s": train_s, "eval_s": eval_s,
            "setup_s": setup, "estimate_s": estimate, "status": statuses(rows)}  # fmt: skip


def warm_variants(task: str, variants: list[tuple[str, dict]], *, device: str, **kw: Any) -> None:
    """Untimed: each variant's first vmapped call."""
    for key, settings in variants:
        warm = run_configs(task, key, settings, 2, steps=2, device=device, **kw)
        execute(WorkItem(tuple(replace(r, budget_steps=2) for r in warm)))


def compiled_vs_eager(task: str, method: str, settings: dict, n: int, *, steps: int,
                      device: str, **kw: Any) -> dict[str, Any]:  # fmt: skip
    """One batch of ``n`` paired inits with the eager step and with the compiled one
    (``RunConfig.compile_step``), in this process: steady ms per step of the batch, start-up
    (compiling included), the largest relative difference of the final metrics between the
    two, and whether the step compiled (else the warning's reason)."""
    out: dict[str, Any] = {"method": method, "N": n, "steps": steps}
    finals = {}
    for mode, compile_step in (("eager", False), ("compiled", True)):
        cfgs = [replace(c, compile_step=compile_step)
                for c in run_configs(task, method, settings, n, steps=steps, device=device, **kw)]  # fmt: skip
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _, result = in_process(WorkItem(tuple(cfgs)))
        off = [str(w.message) for w in caught if "compiled step off" in str(w.message)]
        batch = result["batch"] or {}
        out[mode] = {"steady_ms_per_step": 1e3 * batch.get("step_time_s", math.nan),
                     "startup_s": batch.get("startup_time_s", math.nan),
                     "status": statuses(result["runs"])}  # fmt: skip
        if compile_step:
            out[mode]["compiled"] = not off
            out[mode]["reason"] = off[0] if off else None
        finals[mode] = [r.get("final_val_loss", math.nan) for r in result["runs"]]
    diffs = [abs(a - b) / max(abs(b), 1e-30) for a, b in zip(finals["compiled"], finals["eager"],
                                                            strict=True)]  # fmt: skip
    out["max_rel_diff_final_val_loss"] = max(diffs) if diffs else math.nan
    out["speedup"] = out["eager"]["steady_ms_per_step"] / out["compiled"]["steady_ms_per_step"]
    return out
