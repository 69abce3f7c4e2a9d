"""A timing worker of ``hgbench bench compare``: one side's hgbench, warmed, driven over pipes.

Run as a script, never imported from the side it times::

    python .../hgbench/bench/ab/worker.py SIDE_SOURCE THREADS

It puts ``SIDE_SOURCE`` (a checkout of hgbench) first on ``sys.path``, so ``import hgbench``
loads that side's code even where another checkout is installed (editable or not), pins torch
to ``THREADS`` intra-op threads, and answers one JSON request per stdin line with one JSON
line on stdout:

- ``{"op": "hello"}`` -> ``{"hgbench_file", "torch_threads", "torch_version", "pid"}``
- ``{"op": "start", "case": "method@task"}`` -> ``{"ok": true}``: a fresh init of the case
  (built as the deterministic gate builds it, ``hgbench.bench.regression.prepare``, once per
  case and kept: warm);
- ``{"op": "steps", "case": "method@task", "k": K}`` -> ``{"step_s": [K floats]}``: the case's
  next ``K`` weight steps, each timed with ``time.perf_counter``;
- ``{"op": "quit"}`` -> exits.

An error answers ``{"error": "one line"}``. Only the standard library is imported before the
side's hgbench, so this file works with any side that has ``hgbench.bench.regression``.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from typing import Any


def _import_side(source: str, threads: int) -> Any:
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    sys.path.insert(0, source)
    import torch

    torch.set_num_threads(threads)
    import hgbench
    from hgbench.bench import regression

    found = os.path.realpath(hgbench.__file__)
    if not found.startswith(os.path.realpath(source) + os.sep):
        raise ImportError(f"imported hgbench from {found}, not from the side {source}")
    return regression


class Cases:
    """The cases built so far (problem, method, init hyperparameters) and each one's live
    training state: ``start`` makes a fresh init, ``steps`` times the next weight steps."""

    def __init__(self, regression: Any) -> None:
        self.regression = regression
        self.built: dict[str, Any] = {}
        self.live: dict[str, tuple[Any, int]] = {}

    def start(self, case_id: str) -> None:
        import torch

        reg = self.regression
        if case_id not in self.built:
            method_key, task = case_id.split("@", 1)
            problem, method, _ = reg.prepare(reg.Case(method_key, task))
            hyper = reg.sample_initial_hypers(seed=0, n=reg.BENCH_INIT + 1)[reg.BENCH_INIT]
            self.built[case_id] = (problem, method, hyper)
        problem, method, hyper = self.built[case_id]
        torch.manual_seed(0)
        state = method.init(problem, problem.init_weights(0), problem.init_model_state(), hyper)
        self.live[case_id] = (state, 0)

    def steps(self, case_id: str, k: int) -> list[float]:
        import torch

        problem, method, _ = self.built[case_id]
        state, t = self.live[case_id]
        sync = problem.device.type == "cuda"
        out = []
        for _ in range(k):
            start = time.perf_counter()
            state, _loss = method.step(problem, state, t)
            if sync:
                torch.cuda.synchronize(problem.device)
            out.append(time.perf_counter() - start)
            t += 1
        self.live[case_id] = (state, t)
        return out


def serve(source: str, threads: int) -> int:
    def say(payload: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(payload) + "\n")
        sys.stdout.flush()

    try:
        regression = _import_side(source, threads)
    except Exception as exc:  # noqa: BLE001 - reported to the driver as one line
        say({"error": f"{type(exc).__name__}: {exc}".splitlines()[0]})
        return 1
    import torch

    import hgbench

    cases = Cases(regression)
    for line in sys.stdin:
        request = json.loads(line)
        op = request.get("op")
        try:
            if op == "quit":
                return 0
            if op == "hello":
                say({"hgbench_file": os.path.realpath(hgbench.__file__), "pid": os.getpid(),
                     "torch_threads": torch.get_num_threads(),
                     "torch_version": torch.__version__})  # fmt: skip
            elif op == "start":
                cases.start(request["case"])
                say({"ok": True})
            elif op == "steps":
                say({"step_s": cases.steps(request["case"], request["k"])})
            else:
                say({"error": f"unknown request {op!r}"})
        except Exception as exc:  # noqa: BLE001 - one case failing must not end the worker
            last = traceback.format_exception_only(type(exc), exc)[-1].strip()
            say({"error": last})
    return 0


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1], int(sys.argv[2])))
