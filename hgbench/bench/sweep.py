"""A sweep: plan work items from run configs, skip finished runs, execute, store each result.

The driver writes every finished item in one transaction as soon as it arrives, so killing
a sweep loses only the runs in flight; re-running the same sweep skips what is stored.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import hgbench
from hgbench.bench.claims import DEFAULT_LEASE_S, ClaimQueue
from hgbench.bench.config import RunConfig, WorkItem
from hgbench.bench.progress import Progress
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
    #: stored failures (oom/timeout/error) skipped because --rerun-failed was not given
    stored_failures: int = 0
    #: runs another driver on the same store finished or held while this one ran
    elsewhere: int = 0
    statuses: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        counts = ", ".join(f"{v} {k}" for k, v in sorted(self.statuses.items())) or "nothing run"
        text = f"{self.planned} runs: {self.skipped} already stored, {counts}"
        if self.elsewhere:
            text += f", {self.elsewhere} run by another driver"
        if self.stored_failures:
            text += (
                f"; {self.stored_failures} stored failures (oom/timeout/error) were not retried: "
                "add --rerun-failed to retry them"
            )
        return text

    @property
    def errors(self) -> int:
        """Runs of this sweep that ended ``error`` (the command then exits non-zero)."""
        return self.statuses.get("error", 0)


def run_sweep(
    runs: Sequence[RunConfig],
    results: str | Path,
    executor: Executor,
    *,
    quiet: bool = False,
    rerun_failed: bool = False,
    progress: str = "auto",
    lease_s: float = DEFAULT_LEASE_S,
) -> SweepSummary:
    """Execute every run not yet stored in ``results`` and store each as it finishes.

    Runs are claimed in the store before they start (:mod:`hgbench.bench.claims`), so several
    drivers on one results file split the sweep.
    """
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
        statuses = store.statuses()
        items = plan(runs, statuses, rerun_failed=rerun_failed)
        n_todo = sum(len(i.runs) for i in items)
        summary.skipped = len(runs) - n_todo
        if not rerun_failed:
            summary.stored_failures = sum(statuses.get(r.run_id) in FAILED_STATUSES for r in runs)
        if summary.skipped and not quiet:
            log.info("%d of %d runs already stored; running %d", summary.skipped, len(runs), n_todo)
        bar = Progress(n_todo, "none" if quiet else progress)
        queue = ClaimQueue(str(results), items, rerun_failed=rerun_failed, lease_s=lease_s)

        def on_result(item: WorkItem, result: dict[str, Any]) -> None:
            for row in result["runs"]:
                row.update(provenance)
                summary.statuses[row["status"]] = summary.statuses.get(row["status"], 0) + 1
            store.write(result["runs"], result["records"], result["batch"])
            queue.release(item)
            for row in result["runs"]:
                bar.finished(row)

        try:
            executor.run(queue, on_result)
        finally:
            bar.close()
            summary.elsewhere = queue.skipped_elsewhere
            queue.close()
    return summary
