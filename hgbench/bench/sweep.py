"""A sweep: plan work items from run configs, skip finished runs, execute, store each result.

The driver writes every finished item in one transaction as soon as it arrives, so killing
a sweep loses only the runs in flight; re-running the same sweep skips what is stored.
"""

from __future__ import annotations

import logging
import math
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import hgbench
from hgbench.bench.config import RunConfig, WorkItem
from hgbench.bench.schema import FAILED_STATUSES, SCHEMA_VERSION
from hgbench.bench.store import ResultsStore
from hgbench.methods import METHODS

log = logging.getLogger(__name__)


class Executor(Protocol):
    name: str

    def run(self, items: Iterable[WorkItem], on_result: Any) -> None: ...


def git_commit() -> str | None:
    """The commit of the checkout hgbench is imported from, if it is one."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(hgbench.__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def plan(
    runs: Sequence[RunConfig],
    done: dict[str, str] | None = None,
    *,
    rerun_failed: bool = False,
) -> list[WorkItem]:
    """Work items for the runs not yet finished; runs with ``batch_size > 1`` are grouped
    with their paired inits (same config but ``init_index``) into items of that size."""
    done = done or {}
    todo = []
    for r in runs:
        status = done.get(r.run_id)
        if status is None or (rerun_failed and status in FAILED_STATUSES):
            todo.append(r)
    items: list[WorkItem] = []
    groups: dict[tuple, list[RunConfig]] = {}
    for r in todo:
        if r.batch_size <= 1 or not getattr(METHODS.get(r.method), "supports_batching", False):
            items.append(WorkItem((r,)))
            continue
        key = (r.task, r.method, repr(sorted(r.method_settings.items())), r.seed,
               repr(sorted(r.task_overrides.items())), r.scale, r.batch_size)  # fmt: skip
        group = groups.setdefault(key, [])
        group.append(r)
        if len(group) == r.batch_size:
            items.append(WorkItem(tuple(group)))
            groups[key] = []
    items += [WorkItem(tuple(g)) for g in groups.values() if g]
    return items


@dataclass
class SweepSummary:
    planned: int = 0
    skipped: int = 0
    statuses: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        counts = ", ".join(f"{v} {k}" for k, v in sorted(self.statuses.items())) or "nothing run"
        return f"{self.planned} runs: {self.skipped} already stored, {counts}"


def _summary_line(row: dict[str, Any]) -> str:
    metric = row.get("final_test_metric")
    value = (
        f"{row.get('metric', 'metric')}={metric:.4g}"
        if isinstance(metric, float) and not math.isnan(metric)
        else ""
    )
    time_s = row.get("method_time_s")
    timing = f"{time_s:.2f}s" if isinstance(time_s, float) else ""
    parts = [row.get("task", ""), row.get("label", ""), f"init {row.get('init_index')}",
             row.get("status", ""), value, timing, row.get("message") or ""]  # fmt: skip
    return " | ".join(str(p) for p in parts if p != "")


def run_sweep(
    runs: Sequence[RunConfig],
    results: str | Path,
    executor: Executor,
    *,
    quiet: bool = False,
    rerun_failed: bool = False,
) -> SweepSummary:
    """Execute every run not yet stored in ``results`` and store each as it finishes."""
    seen: dict[str, RunConfig] = {}
    for r in runs:
        seen.setdefault(r.run_id, r)
    runs = list(seen.values())
    provenance = {
        "hgbench_version": hgbench.__version__,
        "git_commit": git_commit(),
        "schema_version": SCHEMA_VERSION,
    }
    summary = SweepSummary(planned=len(runs))
    with ResultsStore(results) as store:
        items = plan(runs, store.statuses(), rerun_failed=rerun_failed)
        n_todo = sum(len(i.runs) for i in items)
        summary.skipped = len(runs) - n_todo
        if summary.skipped and not quiet:
            log.info("%d of %d runs already stored; running %d", summary.skipped, len(runs), n_todo)
        bar = _progress(n_todo, quiet)

        def on_result(item: WorkItem, result: dict[str, Any]) -> None:
            for row in result["runs"]:
                row.update(provenance)
                summary.statuses[row["status"]] = summary.statuses.get(row["status"], 0) + 1
            store.write(result["runs"], result["records"], result["batch"])
            for row in result["runs"]:
                if bar is not None:
                    bar.write(_summary_line(row))
                    bar.update(1)

        try:
            executor.run(items, on_result)
        finally:
            if bar is not None:
                bar.close()
    return summary


def _progress(total: int, quiet: bool) -> Any:
    if quiet or total == 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="run", desc="hgbench", dynamic_ncols=True)
