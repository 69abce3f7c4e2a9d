"""What a worker process does with one work item: build, train, measure, report rows.

``execute`` never raises for a failing run: an out-of-memory error becomes status ``oom``
and any other exception status ``error`` with its message and a traceback summary. The
rows it returns are complete ``runs`` rows except for the driver-side provenance.
"""

from __future__ import annotations

import json
import logging
import resource
import sys
import traceback
from datetime import datetime, timezone
from typing import Any

import torch

from hgbench.bench.config import RunConfig, WorkItem, build_method
from hgbench.bench.loop import FINAL_KEYS, TrainResult, train
from hgbench.methods.core.hyper import sample_initial_hypers
from hgbench.tasks import TASKS

log = logging.getLogger(__name__)

_DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _peak_memory(device: torch.device) -> tuple[int, str]:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device)), "cuda_max_allocated"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024), "cpu_peak_rss"


def _is_oom(exc: BaseException) -> bool:
    oom_types: tuple[type[BaseException], ...] = (MemoryError,)
    if hasattr(torch, "OutOfMemoryError"):
        oom_types += (torch.OutOfMemoryError,)
    return isinstance(exc, oom_types)


def _base_row(cfg: RunConfig, item: WorkItem, threads: int) -> dict[str, Any]:
    hyper = sample_initial_hypers(cfg.seeds["hyper_seed"], cfg.init_index + 1)[-1]
    return {
        "run_id": cfg.run_id,
        "suite": cfg.suite,
        "task": cfg.task,
        "task_config": json.dumps(cfg.task_config(), sort_keys=True),
        "method": cfg.method,
        "method_settings": json.dumps(cfg.method_settings, sort_keys=True),
        "label": cfg.label,
        "seed": cfg.seed,
        "init_index": cfg.init_index,
        "init_hyper": json.dumps(hyper.as_dict(), sort_keys=True),
        "batch_id": item.batch_id,
        "batch_size": len(item.runs),
        "config": json.dumps(cfg.hashed(), sort_keys=True),
        "threads": threads,
        "device": cfg.device,
        "dtype": cfg.dtype,
        "torch_version": torch.__version__,
        "time_is_share": len(item.runs) > 1,
        **cfg.seeds,
    }


def failure_rows(item: WorkItem, status: str, message: str, tb: str = "") -> list[dict]:
    """Rows for every run of an item that ended without a result (oom/timeout/error)."""
    rows = []
    for cfg in item.runs:
        try:
            row = _base_row(cfg, item, 0)
        except Exception:  # noqa: BLE001 - even the config may be what is broken
            row = {"run_id": cfg.run_id, "task": cfg.task, "method": cfg.method,
                   "label": cfg.label, "seed": cfg.seed, "init_index": cfg.init_index,
                   "suite": cfg.suite, "batch_size": len(item.runs)}  # fmt: skip
        row.update(status=status, message=message, traceback=tb, steps_done=0)
        row.update(dict.fromkeys(FINAL_KEYS, float("nan")))
        rows.append(row)
    return rows


def execute(item: WorkItem, threads: int = 1) -> dict[str, Any]:
    """Run one work item in this process; returns ``{"runs", "records", "batch"}``."""
    torch.set_num_threads(max(1, threads))
    started = _now()
    try:
        rows, records, batch = _execute(item, threads)
    except BaseException as exc:  # noqa: BLE001 - a sweep always completes
        if isinstance(exc, KeyboardInterrupt):
            raise
        status = "oom" if _is_oom(exc) else "error"
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


def _execute(item: WorkItem, threads: int) -> tuple[list[dict], list[tuple], dict | None]:
    cfg = item.runs[0]
    device = torch.device(cfg.device)
    if cfg.dtype not in _DTYPES:
        raise ValueError(f"unknown dtype {cfg.dtype!r}; valid: {', '.join(_DTYPES)}")
    dtype = _DTYPES[cfg.dtype]
    seeds = cfg.seeds
    torch.manual_seed(seeds["data_seed"])
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    task = TASKS.get(cfg.task)(scale=cfg.scale, **cfg.task_overrides)
    method = build_method(cfg.method, cfg.method_settings)
    problem = task.build(
        data_dir=cfg.data_dir, device=device, dtype=dtype, data_seed=seeds["data_seed"]
    )
    # an explicit budget wins; else a method whose run length is its own (reversible:
    # meta_iterations x horizon) sets it; else the task's default at this scale
    budget = cfg.budget_steps or getattr(method, "budget_steps", None) or task.budget_steps
    eval_every = cfg.eval_every or task.eval_every
    n_hypers = max(r.init_index for r in item.runs) + 1
    all_hypers = sample_initial_hypers(seeds["hyper_seed"], n_hypers)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    batched = len(item.runs) > 1 and method.supports_batching and problem.supports_batching
    groups = [list(item.runs)] if batched else [[r] for r in item.runs]
    rows, records = [], []
    totals = {"method": 0.0, "eval": 0.0}
    phase_peak = 0
    for group in groups:
        w0s = [problem.init_weights(r.seeds["init_seed"]) for r in group]
        hypers = [all_hypers[r.init_index] for r in group]
        started = _now()
        result = train(
            problem, method, w0s, hypers, budget=budget, eval_every=eval_every,
            batched=batched, sync=sync,
        )  # fmt: skip
        totals["method"] += result.method_time_s
        totals["eval"] += result.eval_time_s
        phase_peak = max(phase_peak, result.cuda_peak_bytes)
        rows_g, recs_g = _rows(item, group, result, threads, started, batched)
        rows += rows_g
        records += recs_g
        for row in rows_g:
            row.update(
                metric=problem.metric,
                lower_is_better=bool(problem.lower_is_better),
                divergence_threshold=float(problem.divergence_threshold)
                if problem.divergence_threshold is not None
                else float("nan"),
                runs_per_init=int(method.runs_per_init),
                budget_steps=budget,
            )
    peak, kind = _peak_memory(device)
    if device.type == "cuda" and phase_peak:  # per-phase resets: the run's peak is their max
        peak = max(peak, phase_peak)
    for row in rows:
        row.update(peak_memory_bytes=peak, memory_kind=kind)
    batch = None
    if batched:
        batch = {
            "batch_id": item.batch_id, "task": cfg.task, "method": cfg.method,
            "label": cfg.label, "batch_size": len(item.runs),
            "method_time_s": totals["method"], "total_time_s": totals["method"] + totals["eval"],
            "peak_memory_bytes": peak, "memory_kind": kind,
        }  # fmt: skip
    return rows, records, batch


def _rows(
    item: WorkItem,
    group: list[RunConfig],
    result: TrainResult,
    threads: int,
    started: str,
    batched: bool,
) -> tuple[list[dict], list[tuple]]:
    n = len(group)
    rows, records = [], []
    for cfg, res in zip(group, result.inits, strict=True):
        row = _base_row(cfg, item, threads)
        if not batched:  # a batch requested but not batchable: ran one by one
            row.update(batch_id=None, batch_size=1, time_is_share=False)
        row.update(
            status=res.status,
            message="" if res.status == "ok" else f"non-finite loss or hyperparameter at step {res.diverged_step}",
            steps_done=res.steps_done,
            diverged_step=res.diverged_step,
            method_time_s=result.method_time_s / n,
            eval_time_s=result.eval_time_s / n,
            total_time_s=(result.method_time_s + result.eval_time_s) / n,
            cost_forward=result.costs["forward"],
            cost_gradient=result.costs["gradient"],
            cost_hvp=result.costs["hvp"],
            final_hyper=json.dumps(res.final_hyper, sort_keys=True),
            started_at=started,
            **res.final,
        )  # fmt: skip
        if res.status == "ok":
            row["message"] = ""
        rows.append(row)
        records += [(cfg.run_id, *rec) for rec in res.records]
    return rows, records
