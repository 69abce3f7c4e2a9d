"""Time-boxed steps: each in a forked child with its own limit, the report written after each.

The parent imports torch but never touches CUDA, so every child initialises CUDA itself
(fork before CUDA is safe; after it is not). A child gets a soft deadline (it stops starting
new items and returns what it has) and a hard one (its process group is killed: pytest's
subprocess too). While it runs it saves its result so far to a part file; a step that fails,
crashes or times out is recorded with that partial result, and the next step runs. Each
step's limit is its weight's share of the time left, so time a step does not use goes to the
later ones.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

StepFn = Callable[["StepContext"], dict[str, Any]]
#: the hard limit is this much later than the soft deadline the child is given
GRACE = 0.15


@dataclass(frozen=True)
class Step:
    name: str
    weight: float
    run: StepFn
    #: why the step does not run here (the step is recorded as skipped), or None
    skip: str | None = None


@dataclass
class StepContext:
    """What a step function gets: the check's options, its soft deadline (``time.monotonic``
    seconds) and ``save`` to keep its result so far."""

    options: Any
    deadline: float
    part: Path

    def save(self, result: dict[str, Any]) -> None:
        tmp = self.part.with_suffix(".tmp")
        tmp.write_text(json.dumps(result, default=str))
        tmp.replace(self.part)

    def time_left(self) -> float:
        return self.deadline - time.monotonic()


def _child(step: Step, ctx: StepContext) -> None:
    os.setpgid(0, 0)  # its own process group: the parent can end it with its children
    try:
        result = step.run(ctx)
        ctx.save({"status": "ok", **result} if "status" not in result else result)
        code = 0
    except BaseException as exc:  # noqa: BLE001 - the parent records it, the next step runs
        partial = json.loads(ctx.part.read_text()) if ctx.part.is_file() else {}
        ctx.save({**partial, "status": "failed", "error": f"{type(exc).__name__}: {exc}",
                  "traceback": traceback.format_exc()[-3000:]})  # fmt: skip
        code = 1
    os._exit(code)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_step(step: Step, options: Any, limit_s: float, workdir: Path) -> dict[str, Any]:
    """Run one step in a forked child for at most ``limit_s`` seconds; its record."""
    if step.skip:
        return {"status": "skipped", "reason": step.skip, "elapsed_s": 0.0, "limit_s": limit_s}
    part = workdir / f"{step.name}.json"
    part.unlink(missing_ok=True)
    start = time.monotonic()
    ctx = StepContext(options, start + limit_s * (1 - GRACE), part)
    proc = mp.get_context("fork").Process(target=_child, args=(step, ctx), daemon=False)
    proc.start()
    proc.join(limit_s)
    timed_out = proc.is_alive()
    if timed_out:
        _kill_group(proc.pid)
        proc.join()
    else:
        _kill_group(proc.pid)  # anything it left running
    record = json.loads(part.read_text()) if part.is_file() else {}
    if timed_out:
        record = {**record, "status": "timeout", "error": f"killed after {limit_s:.0f} s"}
    elif not record:
        record = {
            "status": "failed",
            "error": f"the step's process died (exit code {proc.exitcode})",
        }
    record["elapsed_s"] = time.monotonic() - start
    record["limit_s"] = limit_s
    return record


def limits(steps: list[Step], budget_left: float, index: int) -> float:
    """Step ``index``'s share of the time left, by weight among the steps still to run."""
    weights = [s.weight for s in steps[index:] if not s.skip]
    share = steps[index].weight / sum(weights) if weights else 1.0
    return max(5.0, budget_left * share)


def run_steps(
    steps: list[Step],
    options: Any,
    budget_s: float,
    on_record: Callable[[str, dict[str, Any]], None],
) -> dict[str, dict[str, Any]]:
    """Run ``steps`` in order within ``budget_s``; ``on_record(name, record)`` after each."""
    start = time.monotonic()
    records: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="hgbench-device-check-") as tmp:
        for i, step in enumerate(steps):
            left = budget_s - (time.monotonic() - start)
            if left < 5.0 and not step.skip:
                records[step.name] = {"status": "not run", "error": "the check's budget is spent"}
            else:
                records[step.name] = run_step(step, options, limits(steps, left, i), Path(tmp))
            on_record(step.name, records[step.name])
    return records
