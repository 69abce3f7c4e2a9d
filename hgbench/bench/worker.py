"""What a worker process does with one work item: build, train, measure, report rows.

``execute`` never raises for a failing run: an out-of-memory error (CPU or CUDA) becomes
status ``oom`` and any other exception status ``error`` with its message and a traceback
summary. The rows it returns are complete ``runs`` rows (``hgbench.bench.schema``) except
for the driver-side provenance.
"""

from __future__ import annotations

import json
import logging
import traceback
from datetime import datetime, timezone
from typing import Any

import torch

from hgbench.bench.allocator import retain_freed_memory
from hgbench.bench.config import RunConfig, WorkItem, build_method
from hgbench.bench.loop import FINAL_KEYS, InitResult, TrainResult, train
from hgbench.bench.memory import MemoryProbe
from hgbench.spec import Method, Problem
from hgbench.tasks import TASKS

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16}
#: what torch's allocators say when they run out (CPU: a plain RuntimeError)
_OOM_MESSAGES = ("can't allocate memory", "CUDA out of memory", "out of memory")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def is_oom(exc: BaseException) -> bool:
    """Whether ``exc`` means the run ran out of memory (CPU or GPU)."""
    oom_types: tuple[type[BaseException], ...] = (MemoryError,)
    if hasattr(torch, "OutOfMemoryError"):
        oom_types += (torch.OutOfMemoryError,)
    if isinstance(exc, oom_types):
        return True
    return isinstance(exc, RuntimeError) and any(m in str(exc) for m in _OOM_MESSAGES)


def run_row(cfg: RunConfig, item: WorkItem, **figures: Any) -> dict[str, Any]:
    """One ``runs`` row: the configuration's columns plus ``figures`` (the one place a row is
    assembled; the driver adds provenance)."""
    row: dict[str, Any] = {
        "run_id": cfg.run_id,
        "suite": cfg.suite,
        "task": cfg.task,
        "method": cfg.method,
        "label": cfg.label,
        "seed": cfg.seed,
        "init_index": cfg.init_index,
        "init_source": cfg.init_source,
        "train_split": cfg.train_split,
        "batch_id": item.batch_id,
        "batch_size": len(item.runs),
        "threads": cfg.threads,
        "device": cfg.device,
        "dtype": cfg.dtype,
        "data_fingerprint": cfg.data_fingerprint,
        "torch_version": torch.__version__,
        "time_is_share": len(item.runs) > 1,
        **cfg.seeds,
    }
    try:  # a broken configuration still gets a row
        row.update(
            task_config=json.dumps(cfg.task_config(), sort_keys=True),
            method_settings=json.dumps(cfg.resolved_settings, sort_keys=True),
            init_hyper=json.dumps(cfg.initial_hyper().as_dict(), sort_keys=True),
            config=json.dumps(cfg.hashed(), sort_keys=True),
        )
    except Exception:  # noqa: BLE001
        row.update(method_settings=json.dumps(cfg.method_settings, sort_keys=True))
    row.update(figures)
    return row


def failure_rows(item: WorkItem, status: str, message: str, tb: str = "") -> list[dict]:
    """Rows for every run of an item that ended without a result (oom/timeout/error)."""
    return [
        run_row(
            cfg,
            item,
            status=status,
            message=message,
            traceback=tb,
            steps_done=0,
            **dict.fromkeys(FINAL_KEYS, float("nan")),
        )  # fmt: skip
        for cfg in item.runs
    ]


def execute(item: WorkItem) -> dict[str, Any]:
    """Run one work item in this process; returns ``{"runs", "records", "batch"}``."""
    torch.set_num_threads(item.runs[0].threads)
    started = _now()
    try:
        rows, records, batch = _execute(item)
    except BaseException as exc:  # noqa: BLE001 - a sweep always completes
        if isinstance(exc, KeyboardInterrupt):
            raise
        status = "oom" if is_oom(exc) else "error"
        tb = "".join(traceback.format_exception(exc)[-6:])
        log.debug("work item failed: %s", tb)
        rows, records, batch = (
            failure_rows(item, status, f"{type(exc).__name__}: {exc}", tb),
            [],
            None,
        )
    finished = _now()
    for row in rows:
        row.setdefault("started_at", started)
        row["finished_at"] = finished
    return {"runs": rows, "records": records, "batch": batch}


def _execute(item: WorkItem) -> tuple[list[dict], list[tuple], dict | None]:
    cfg = item.runs[0]
    device = torch.device(cfg.device)
    if cfg.dtype not in DTYPES:
        raise ValueError(f"unknown dtype {cfg.dtype!r}; valid: {', '.join(DTYPES)}")
    torch.manual_seed(cfg.seeds["data_seed"])
    probe = MemoryProbe(device).start()
    task = TASKS.get(cfg.task)(scale=cfg.scale, **cfg.task_overrides)
    method = build_method(cfg.method, cfg.method_settings)
    problem = task.build(
        data_dir=cfg.data_dir, device=device, dtype=DTYPES[cfg.dtype],
        data_seed=cfg.seeds["data_seed"], train_split=cfg.train_split,
    )  # fmt: skip
    # an explicit budget wins; else a method that fixes its own run length; else the task's
    budget = cfg.budget_steps or method.budget_steps or task.budget_steps
    eval_every = cfg.eval_every or task.eval_every
    batched = len(item.runs) > 1 and method.supports_batching and problem.supports_batching
    if batched and device.type == "cpu":
        retain_freed_memory()  # after the memory baseline: docs/roofline.md
    groups = [list(item.runs)] if batched else [[r] for r in item.runs]
    rows, records, batch = [], [], None
    for group in groups:
        w0s = [problem.init_weights(r.seeds["init_seed"]) for r in group]
        result = train(
            problem, method, w0s, [r.initial_hyper() for r in group], budget=budget,
            eval_every=eval_every, batched=batched, memory_baseline=probe.baseline,
            compile_step=cfg.compile_step,
        )  # fmt: skip
        peak = probe.peak(result.cuda_peak_bytes)
        shared = _shared_figures(problem, method, result, budget, peak, probe)
        for cfg_i, res in zip(group, result.inits, strict=True):
            row = run_row(cfg_i, item, **shared, **_init_figures(res, result.costs, problem.metric))
            if not batched:  # a batch requested but not batchable: ran one by one
                row.update(batch_id=None, batch_size=1, time_is_share=False)
            rows.append(row)
            records += [(cfg_i.run_id, *rec) for rec in res.records]
        if batched:
            batch = _batch_row(item, result, peak, probe.kind)
    return rows, records, batch


def _shared_figures(
    problem: Problem,
    method: Method,
    result: TrainResult,
    budget: int,
    peak: int,
    probe: MemoryProbe,
) -> dict[str, Any]:
    """The figures every init of one training computation shares (times divided by n)."""
    n, t = len(result.inits), result.timings
    threshold = problem.divergence_threshold
    return {
        "metric": problem.metric,
        "lower_is_better": bool(problem.lower_is_better),
        "divergence_threshold": float("nan") if threshold is None else float(threshold),
        "runs_per_init": int(method.runs_per_init),
        "counts_exact": bool(method.counts_exact),
        "budget_steps": budget,
        "method_time_s": t.method_s / n,
        "startup_time_s": t.startup_s / n,
        "startup_steps": t.startup_steps,
        "steady_time_s": t.steady_s / n,
        "step_time_s": t.step_s / n,
        "step_time_q25_s": t.step_q25_s / n,
        "step_time_q75_s": t.step_q75_s / n,
        "eval_time_s": result.eval_time_s / n,
        "total_time_s": (t.method_s + result.eval_time_s) / n,
        "peak_memory_bytes": peak,
        "memory_kind": probe.kind,
        "process_peak_bytes": probe.process_peak(),
        "state_bytes": result.state_bytes // n,
    }


def _init_figures(res: InitResult, costs: dict[str, int], metric: str) -> dict[str, Any]:
    untrained = [
        v for s, _, split, m, v in res.records if s == 0 and split == "test" and m == metric
    ]
    message = (
        ""
        if res.status == "ok"
        else (f"non-finite loss or hyperparameter at step {res.diverged_step}")
    )
    return {
        "status": res.status,
        "message": message,
        "steps_done": res.steps_done,
        "diverged_step": res.diverged_step,
        "cost_forward": costs["forward"],
        "cost_gradient": costs["gradient"],
        "cost_hvp": costs["hvp"],
        "final_hyper": json.dumps(res.final_hyper, sort_keys=True),
        "untrained_test_metric": untrained[0] if untrained else float("nan"),
        **res.final,
    }


def _batch_row(item: WorkItem, result: TrainResult, peak: int, kind: str) -> dict[str, Any]:
    cfg, t = item.runs[0], result.timings
    return {
        "batch_id": item.batch_id, "task": cfg.task, "method": cfg.method, "label": cfg.label,
        "batch_size": len(item.runs), "method_time_s": t.method_s, "startup_time_s": t.startup_s,
        "steady_time_s": t.steady_s, "step_time_s": t.step_s,
        "total_time_s": t.method_s + result.eval_time_s, "peak_memory_bytes": peak,
        "memory_kind": kind,
    }  # fmt: skip
