"""Executors: where work items run. Each item runs in a fresh worker process; results come
back to the driver, which alone writes the store.

* :class:`LocalExecutor` (default): up to N worker processes on this machine (forkserver
  context with torch preloaded, so a worker starts in milliseconds, not seconds); a per-item
  time limit (the worker is killed: status ``timeout``); a worker that dies without a result
  (segfault, SIGKILL) gives status ``error``.
* :class:`RayExecutor`: tasks on a Ray cluster (``ray.init(address=...)``), one GPU per run
  where CUDA is present, ``max_retries`` on worker loss, a fresh worker per task
  (``max_calls=1``) so memory figures stay per run.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import pickle
import sys
import time
from collections.abc import Callable, Iterable
from multiprocessing.connection import Connection, wait
from typing import Any

from hgbench.bench.claims import WorkQueue, as_queue
from hgbench.bench.config import WorkItem
from hgbench.bench.worker import execute, failure_rows
from hgbench.methods import METHODS
from hgbench.tasks import TASKS

log = logging.getLogger(__name__)

OnResult = Callable[[WorkItem, dict[str, Any]], None]


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS
        return os.cpu_count() or 1


def default_threads(workers: int, environ: dict[str, str] | None = None) -> int:
    """Torch intra-op threads per worker when ``--threads`` is not given: ``OMP_NUM_THREADS``
    when it is set, else the cores divided by the concurrent workers (at least 1)."""
    env = os.environ if environ is None else environ
    omp = env.get("OMP_NUM_THREADS", "").strip()
    if omp:
        if not omp.isdigit() or int(omp) < 1:
            raise ValueError(f"OMP_NUM_THREADS must be a positive integer, got {omp!r}")
        return int(omp)
    return max(1, available_cores() // max(1, workers))


#: How a CPU sweep splits its cores by default: ``"workers"`` (one worker process per core,
#: one torch thread each) or ``"threads"`` (one worker, a thread per core). Measured on this
#: project's 2-core CPU with ``scripts/bench_split.py`` (docs/measurements.md, "Both cores").
CPU_SPLIT = "workers"


def default_split(
    device: str,
    workers: int | None = None,
    threads: int | None = None,
    environ: dict[str, str] | None = None,
) -> tuple[int, int, str]:
    """``(workers, threads per worker, why)`` of a local sweep: ``--workers``/``--threads``
    where given; else on CUDA one worker; on CPU the measured faster split
    (:data:`CPU_SPLIT`); with only ``--threads`` given, as many workers as fill the cores."""
    cores = available_cores()
    if workers is not None:
        how = "as given" if threads is not None else "--workers as given"
        return workers, threads or default_threads(workers, environ), how
    if threads is not None:
        return max(1, cores // threads), threads, "--threads as given, workers fill the cores"
    if device.startswith("cuda"):
        return 1, default_threads(1, environ), "one worker on CUDA"
    per_core = CPU_SPLIT == "workers"
    split = f"a worker per core ({cores})" if per_core else f"one worker x {cores} threads"
    other = f"one worker x {cores} threads" if per_core else "a worker per core"
    why = (f"default on CPU: {split}, measured faster than {other} (scripts/bench_split.py); "
           "--workers/--threads override")  # fmt: skip
    n = cores if per_core else 1
    return n, default_threads(n, environ), why


Entries = list[tuple[str, str, Any]]


def runtime_entries(item: WorkItem) -> Entries:
    """The item's task and method when they may have been registered at run time in the
    driver (by a test or a user script, outside the built-in modules): a fresh worker
    re-registers them (classes travel pickled by reference). Entries that cannot be pickled
    (classes made dynamically by a built-in module) are found by the worker's own import."""
    out = []
    for kind, reg, key in (
        ("task", TASKS, item.runs[0].task),
        ("method", METHODS, item.runs[0].method),
    ):
        obj = reg.get(key)
        if getattr(obj, "__module__", None) in reg.builtin_modules:
            continue
        try:
            pickle.dumps(obj)
        except (pickle.PicklingError, AttributeError, TypeError):
            continue
        out.append((kind, key, obj))
    return out


def register_entries(entries: Entries) -> None:
    for kind, key, obj in entries:
        reg = TASKS if kind == "task" else METHODS
        try:
            reg.register(key)(obj)
        except ValueError:  # already registered (built in, or an entry point)
            pass


def _child_main(item: WorkItem, entries: Entries, path: list[str], conn: Connection) -> None:
    sys.path[:] = path
    register_entries(entries)
    result = execute(item)
    conn.send(result)
    conn.close()


def _fail(item: WorkItem, status: str, message: str) -> dict[str, Any]:
    return {"runs": failure_rows(item, status, message), "records": [], "batch": None}


class LocalExecutor:
    """Up to ``workers`` concurrent worker processes, one per work item."""

    name = "local"

    def __init__(self, workers: int = 1, start_method: str = "forkserver") -> None:
        if workers < 1:
            raise ValueError(f"--workers must be at least 1, got {workers}")
        self.workers = workers
        if start_method not in mp.get_all_start_methods():
            start_method = "spawn"
        self.ctx = mp.get_context(start_method)
        if start_method == "forkserver":
            self.ctx.set_forkserver_preload(
                ["torch", "hgbench.bench.worker", "hgbench.bench.preload"]
            )

    def run(self, items: Iterable[WorkItem] | WorkQueue, on_result: OnResult) -> None:
        queue = as_queue(items)
        running: dict[Connection, tuple[WorkItem, Any, float | None]] = {}
        try:
            while True:
                while len(running) < self.workers:
                    item = queue.take()
                    if item is None:
                        break
                    running.update(self._start(item))
                if not running:
                    if queue.finished():
                        return
                    queue.wait()  # the rest is claimed by other drivers
                    continue
                self._collect(running, on_result, poll=None if queue.finished() else 1.0)
                queue.renew()
        finally:
            for _, proc, _ in running.values():
                proc.kill()

    def _start(self, item: WorkItem) -> dict[Connection, tuple[WorkItem, Any, float | None]]:
        recv, send = self.ctx.Pipe(duplex=False)
        proc = self.ctx.Process(
            target=_child_main,
            args=(item, runtime_entries(item), list(sys.path), send),
            daemon=True,
        )
        proc.start()
        send.close()
        limit = item.runs[0].time_limit_s
        return {recv: (item, proc, time.monotonic() + limit if limit else None)}

    def _collect(self, running: dict, on_result: OnResult, poll: float | None = None) -> None:
        deadlines = [d for _, _, d in running.values() if d is not None]
        timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
        if poll is not None:
            timeout = poll if timeout is None else min(timeout, poll)
        ready = wait(list(running), timeout=timeout)
        for conn in ready:
            item, proc, _ = running.pop(conn)
            try:
                result = conn.recv()
            except EOFError:  # died without a result
                proc.join()
                code = proc.exitcode
                why = f"killed by signal {-code}" if code and code < 0 else f"exit code {code}"
                result = _fail(item, "error", f"worker process died ({why})")
            conn.close()
            proc.join()
            on_result(item, result)
        now = time.monotonic()
        for conn, (item, proc, deadline) in list(running.items()):
            if deadline is not None and now >= deadline:
                proc.kill()
                proc.join()
                running.pop(conn)
                conn.close()
                limit = item.runs[0].time_limit_s
                on_result(item, _fail(item, "timeout", f"exceeded the time limit of {limit:g} s"))


class InlineExecutor:
    """Work items in this process, one after another (``hgbench.run``, notebooks, tests).

    No isolation: a crash takes the caller down, there is no time limit, and memory figures
    are this process's (start-up and run-owned memory are those of a warm process only after
    ``hgbench.bench.preload`` was imported, which ``hgbench.run`` does).
    """

    name = "inline"

    def run(self, items: Iterable[WorkItem] | WorkQueue, on_result: OnResult) -> None:
        queue = as_queue(items)
        while (item := queue.take()) is not None:
            on_result(item, execute(item))


def _ray_execute(item: WorkItem, entries: Entries) -> dict[str, Any]:
    register_entries(entries)
    return execute(item)


class RayExecutor:
    """Work items as Ray tasks; at most ``workers`` in flight (default: the cluster's CPUs)."""

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        workers: int | None = None,
        max_retries: int = 2,
    ) -> None:
        try:
            import ray
        except ImportError as exc:
            raise ValueError(
                "--executor ray needs the ray extra: pip install 'hgbench[ray]'"
            ) from exc
        self.ray = ray
        self.address = address
        self.workers = workers
        self.max_retries = max_retries

    def run(self, items: Iterable[WorkItem] | WorkQueue, on_result: OnResult) -> None:
        import torch

        ray = self.ray
        if not ray.is_initialized():
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False)
        gpus = 1 if torch.cuda.is_available() else 0
        remote = ray.remote(num_gpus=gpus, max_retries=self.max_retries, max_calls=1)(_ray_execute)
        workers = self.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        queue = as_queue(items)
        pending: dict[Any, tuple[WorkItem, float | None]] = {}
        while True:
            while len(pending) < workers:
                item = queue.take()
                if item is None:
                    break
                ref = remote.options(num_cpus=item.runs[0].threads).remote(
                    item, runtime_entries(item)
                )
                limit = item.runs[0].time_limit_s
                pending[ref] = (item, time.monotonic() + limit if limit else None)
            if not pending:
                if queue.finished():
                    return
                queue.wait()
                continue
            deadlines = [d for _, d in pending.values() if d is not None]
            timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            if not queue.finished():
                timeout = 1.0 if timeout is None else min(timeout, 1.0)
            done, _ = ray.wait(list(pending), num_returns=1, timeout=timeout)
            for ref in done:
                item, _ = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - worker lost after retries
                    result = _fail(item, "error", f"ray task failed: {type(exc).__name__}: {exc}")
                on_result(item, result)
            now = time.monotonic()
            for ref, (item, deadline) in list(pending.items()):
                if deadline is not None and now >= deadline:
                    ray.cancel(ref, force=True)
                    pending.pop(ref)
                    limit = item.runs[0].time_limit_s
                    on_result(
                        item, _fail(item, "timeout", f"exceeded the time limit of {limit:g} s")
                    )
            queue.renew()
