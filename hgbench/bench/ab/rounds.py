"""Workers per side and the interleaved schedule: rounds of base and head in random order.

One round times every case once on each side, back to back, the order (base first or head
first) drawn afresh per case and round; the cases' order within a round is shuffled too. A
*burst* is one fresh init of the case and ``steps`` weight steps, each timed; its figure is
the burst's fastest step (``min``, the default: the noise of a shared machine only ever adds
time, and the fastest of 20 steps is the least disturbed) or its median step (``median``). Each side has a pool of warmed workers (``workers`` processes,
used in turn, round ``r`` on worker ``r % workers``) so that a bias of one process (its memory
layout, the core it landed on) is spread over the rounds instead of shifting every one. A case
declared fresh-process (:func:`process_mode`) gets a new worker per side for every round.
"""

from __future__ import annotations

import json
import logging
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hgbench.bench.ab.sides import Side

log = logging.getLogger(__name__)

WORKER = Path(__file__).with_name("worker.py")
WARM, FRESH = "warm", "fresh"
#: Rounds run at least, whatever the budget (fewer than 6 give no 95 % interval).
MIN_ROUNDS = 6
#: Rounds run at most under a time budget.
MAX_ROUNDS = 500
#: How a burst's per-step times become its figure.
STATISTICS: dict[str, Callable[[list[float]], float]] = {"min": min, "median": statistics.median}
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


class WorkerError(RuntimeError):
    """A worker that could not start or answered with an error."""


def process_mode(method_key: str) -> str:
    """``fresh`` when the method's class declares ``ab_process = "fresh"``, else ``warm``."""
    from hgbench.methods import METHODS

    mode = getattr(METHODS.get(method_key), "ab_process", WARM)
    if mode not in (WARM, FRESH):
        raise ValueError(f"method {method_key!r}: ab_process must be 'warm' or 'fresh'")
    return mode


def worker_env(threads: int, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a worker: thread counts pinned, no user site, no PYTHONPATH."""
    env = dict(os.environ if environ is None else environ)
    env.pop("PYTHONPATH", None)
    env.update({name: str(threads) for name in _THREAD_VARS})
    env.update({"PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1"})
    return env


class Worker:
    """One timing worker process of one side, spoken to in JSON lines."""

    def __init__(self, side: Side, threads: int) -> None:
        self.side = side
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), side.source, str(threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, cwd=side.source, env=worker_env(threads),
        )  # fmt: skip
        self.threads = threads
        self.hello: dict[str, Any] = {}

    def ready(self) -> Worker:
        """Wait for the worker to have imported its side; check what it imported."""
        self.hello = self.ask({"op": "hello"})
        if self.hello.get("torch_threads") != self.threads:
            raise WorkerError(
                f"{self.side.label} worker runs {self.hello.get('torch_threads')} torch "
                f"threads, not {self.threads}"
            )
        return self

    def send(self, request: dict[str, Any]) -> None:
        assert self.proc.stdin
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass  # the worker exited: receive() reports why

    def receive(self) -> dict[str, Any]:
        assert self.proc.stdout
        line = self.proc.stdout.readline()
        if not line:
            err = (self.proc.stderr.read() if self.proc.stderr else "").strip().splitlines()
            raise WorkerError(
                f"{self.side.label} ({self.side.spec}) worker exited: {err[-1] if err else '?'}"
            )
        answer = json.loads(line)
        if "error" in answer:
            raise WorkerError(f"{self.side.label} ({self.side.spec}): {answer['error']}")
        return answer

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        self.send(request)
        return self.receive()

    def burst(self, case_id: str, steps: int) -> list[float]:
        """The per-step times (s) of one fresh init and ``steps`` weight steps of the case."""
        self.ask({"op": "start", "case": case_id})
        return self.ask({"op": "steps", "case": case_id, "k": steps})["step_s"]

    def quit(self) -> None:
        if self.proc.poll() is None:
            self.send({"op": "quit"})

    def close(self) -> None:
        self.quit()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass
class CaseSamples:
    """The paired per-step times of one case, one pair per round, and the order of each."""

    case: str
    process: str = WARM
    base: list[float] = field(default_factory=list)
    head: list[float] = field(default_factory=list)
    order: list[str] = field(default_factory=list)


@dataclass
class Schedule:
    """What to run: the cases, the burst length, and when to stop."""

    cases: list[str]
    steps: int = 20
    rounds: int | None = None
    budget_s: float | None = 60.0
    threads: int = 1
    workers: int = 2
    seed: int = 0
    modes: dict[str, str] = field(default_factory=dict)
    statistic: str = "min"

    def figure(self, step_s: list[float]) -> float:
        """A burst's figure: its fastest step or its median step."""
        return STATISTICS[self.statistic](step_s)

    def more(self, done: int, elapsed: float) -> bool:
        if self.rounds is not None:
            return done < self.rounds
        return done < MIN_ROUNDS or (done < MAX_ROUNDS and elapsed < (self.budget_s or 0.0))


def start_pools(sides: Iterable[Side], threads: int, workers: int) -> dict[str, list[Worker]]:
    """``workers`` warmed-up processes per side (closed again when one fails to start)."""
    pools: dict[str, list[Worker]] = {}
    try:  # all start at once (importing torch is most of a worker's start-up), then checked
        for side in sides:
            pools[side.label] = [Worker(side, threads) for _ in range(workers)]
        for pool in pools.values():
            for worker in pool:
                worker.ready()
    except BaseException:
        close_pools(pools)
        raise
    return pools


def close_pools(pools: dict[str, list[Worker]]) -> None:
    workers = [w for pool in pools.values() for w in pool]
    for worker in workers:  # all are told first, so they exit side by side
        worker.quit()
    for worker in workers:
        worker.close()


def warm_up(pools: dict[str, list[Worker]], case: str, steps: int) -> None:
    """Build ``case`` on every worker (side by side) and run one untimed burst on each."""
    workers = [w for pool in pools.values() for w in pool]
    for worker in workers:
        worker.send({"op": "start", "case": case})
    answers = []
    for worker in workers:
        try:
            worker.receive()
        except WorkerError as exc:
            answers.append(exc)
    if answers:
        raise answers[0]
    for worker in workers:
        worker.burst(case, steps)


def run(
    schedule: Schedule,
    base: Side,
    head: Side,
    on_round: Callable[[int, float], None] | None = None,
) -> tuple[dict[str, CaseSamples], dict[str, str], dict[str, list[dict[str, Any]]]]:
    """Run the rounds; the samples per case, the cases skipped (case -> reason) and each side's
    worker facts (``hello`` answers)."""
    rng = random.Random(schedule.seed)
    pools = start_pools([base, head], schedule.threads, schedule.workers)
    facts = {label: [w.hello for w in pool] for label, pool in pools.items()}
    samples: dict[str, CaseSamples] = {}
    skipped: dict[str, str] = {}
    try:
        for case in schedule.cases:  # warm-up burst on every worker; a case a side lacks is skipped
            try:
                warm_up(pools, case, schedule.steps)
            except WorkerError as exc:
                skipped[case] = str(exc)
                log.warning("skipping %s: %s", case, exc)
                continue
            samples[case] = CaseSamples(case, schedule.modes.get(case, WARM))
        if not samples:
            raise ValueError("no case ran on both sides: " + "; ".join(skipped.values()))
        start, done = time.perf_counter(), 0
        while schedule.more(done, time.perf_counter() - start):
            order = list(samples)
            rng.shuffle(order)
            for case in order:
                _one_round(samples[case], pools, base, head, schedule, done, rng)
            done += 1
            if on_round is not None:
                on_round(done, time.perf_counter() - start)
    finally:
        close_pools(pools)
    return samples, skipped, facts


def _one_round(
    cs: CaseSamples,
    pools: dict[str, list[Worker]],
    base: Side,
    head: Side,
    schedule: Schedule,
    r: int,
    rng: random.Random,
) -> None:
    first_base = rng.random() < 0.5
    sides = [base, head] if first_base else [head, base]
    got: dict[str, float] = {}
    for side in sides:
        if cs.process == FRESH:
            worker = Worker(side, schedule.threads).ready()
            try:
                got[side.label] = schedule.figure(worker.burst(cs.case, schedule.steps))
            finally:
                worker.close()
        else:
            pool = pools[side.label]
            got[side.label] = schedule.figure(pool[r % len(pool)].burst(cs.case, schedule.steps))
    cs.base.append(got[base.label])
    cs.head.append(got[head.label])
    cs.order.append("BH" if first_base else "HB")
