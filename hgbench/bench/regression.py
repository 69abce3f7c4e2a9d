"""Deterministic cost figures for CI regression tracking, and the gate that compares them.

Every registered method on every small benchmark task is stepped a fixed number of seeded
weight steps (float64, one thread, CPU). The figures it produces do not depend on the
machine's speed: cost counters per init (gradients, HVPs, forward passes), the training loss
after the last step, the validation loss of the final weights, and peak allocated bytes where
that is deterministic (CUDA). They are committed in a baseline file; :func:`compare` lists
every figure that moved beyond its tolerance, naming the case and the figure.

Update the baseline with ``python -m hgbench.bench.regression --update`` (see README,
"Tracking performance in CI").
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from hgbench.methods import METHODS
from hgbench.methods.core.hyper import sample_initial_hypers
from hgbench.spec import Method, Problem
from hgbench.tasks import TASKS

#: The small tasks every method is benchmarked on (embedded: no download needed).
BENCH_TASKS: tuple[str, ...] = ("sk_diabetes", "sk_digits")
#: Weight steps per case; a multiple of the implicit family's default T = 10.
BENCH_STEPS = 20
#: The paired init every case starts from (init 1: lr ≈ 0.028, momentum ≈ 0.8, so 20 steps
#: move the loss enough for a changed update to show in the loss figures).
BENCH_INIT = 1
#: Settings that fit a case's steps: methods whose unit of work spans many weight steps
#: get a horizon that completes (two meta-iterations, reverse passes included) within it.
BENCH_SETTINGS: dict[str, dict[str, Any]] = {
    "reversible": {"horizon": 10, "meta_iterations": 2},
    "unrolled_full": {"horizon": 10, "meta_iterations": 2},
}
SCHEMA = 1
DEFAULT_BASELINE = Path(__file__).resolve().parents[2] / "tests" / "benchmarks" / "baseline.json"

#: Tolerance of each figure: ("abs", x) or ("rel", x). Counts are exact.
TOLERANCES: dict[str, tuple[str, float]] = {
    "cost_gradient": ("abs", 0),
    "cost_hvp": ("abs", 0),
    "cost_forward": ("abs", 0),
    "train_loss": ("rel", 1e-6),
    "val_loss": ("rel", 1e-6),
    # hyper_<name> (final natural hyperparameter values) default to ("rel", 1e-6)
    "peak_bytes": ("rel", 0.05),
}


@dataclass(frozen=True)
class Case:
    """One method on one small task."""

    method: str
    task: str
    steps: int = BENCH_STEPS

    @property
    def id(self) -> str:
        return f"{self.method}@{self.task}"


def cases(methods: Iterable[str] | None = None, tasks: Iterable[str] | None = None) -> list[Case]:
    """Every registered method (built-in and entry-point plugins) × every benchmark task."""
    task_keys = [t for t in (tasks or BENCH_TASKS) if t in TASKS]
    return [Case(m, t) for m in (methods or METHODS.names()) for t in task_keys]


def prepare(case: Case, device: str = "cpu") -> tuple[Problem, Method, Callable[[], Any]]:
    """Build the case's problem and method; return a closure that runs its steps afresh."""
    torch.manual_seed(0)
    problem = TASKS.get(case.task)(scale="small").build(
        device=device, dtype=torch.float64, data_seed=0
    )
    method = METHODS.get(case.method)(**BENCH_SETTINGS.get(case.method, {}))
    hyper = sample_initial_hypers(seed=0, n=BENCH_INIT + 1)[BENCH_INIT]

    def run() -> tuple[Any, torch.Tensor]:
        problem.counter.reset()
        state = method.init(problem, problem.init_weights(0), problem.init_model_state(), hyper)
        loss = torch.tensor(float("nan"))
        for t in range(case.steps):
            state, loss = method.step(problem, state, t)
        state = method.finalize(problem, state)
        if problem.device.type == "cuda":
            torch.cuda.synchronize(problem.device)
        return state, loss

    return problem, method, run


def measure(case: Case, device: str = "cpu") -> dict[str, float]:
    """The deterministic figures of one case."""
    problem, method, run = prepare(case, device)
    if problem.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(problem.device)
    state, loss = run()
    w, mstate = method.weights(state)
    figures: dict[str, float] = {f"cost_{k}": v for k, v in problem.counter.as_dict().items()}
    figures["train_loss"] = float(loss)
    figures["val_loss"] = float(problem.evaluate(w, mstate, "val")["loss"])
    for name, value in method.hyperparameters(state).items():
        figures[f"hyper_{name}"] = float(value)
    if problem.device.type == "cuda":
        figures["peak_bytes"] = float(torch.cuda.max_memory_allocated(problem.device))
    return figures


def _moved(name: str, old: float, new: float) -> bool:
    kind, tol = TOLERANCES.get(name, ("rel", 1e-6))
    if math.isnan(old) and math.isnan(new):
        return False
    if not (math.isfinite(old) and math.isfinite(new)):
        return old != new
    if kind == "abs":
        return abs(new - old) > tol
    return abs(new - old) > tol * max(abs(old), 1e-12)


def compare(
    baseline: dict[str, dict[str, float]], current: dict[str, dict[str, float]]
) -> list[str]:
    """Human-readable problems: moved figures, and cases missing from either side."""
    problems = []
    for case_id in sorted(set(baseline) | set(current)):
        if case_id not in current:
            problems.append(f"{case_id}: in the baseline but not measured (case removed?)")
            continue
        if case_id not in baseline:
            problems.append(f"{case_id}: measured but missing from the baseline (new case?)")
            continue
        old, new = baseline[case_id], current[case_id]
        for name in sorted(set(old) | set(new)):
            if name not in old or name not in new:
                problems.append(f"{case_id}: figure {name!r} present on one side only")
            elif _moved(name, float(old[name]), float(new[name])):
                method, task = case_id.split("@", 1)
                problems.append(
                    f"{case_id}: method {method!r} on task {task!r}: {name} moved "
                    f"from {old[name]!r} to {new[name]!r}"
                )
    return problems


def load_baseline(path: Path = DEFAULT_BASELINE) -> dict[str, dict[str, float]]:
    if not path.exists():
        raise FileNotFoundError(
            f"no benchmark baseline at {path}; create it with "
            "`python -m hgbench.bench.regression --update`"
        )
    data = json.loads(path.read_text())
    if data.get("schema") != SCHEMA or not isinstance(data.get("cases"), dict):
        raise ValueError(f"{path}: not a baseline file of schema {SCHEMA}")
    return data["cases"]


def save_baseline(figures: dict[str, dict[str, float]], path: Path = DEFAULT_BASELINE) -> None:
    payload = {"schema": SCHEMA, "steps": BENCH_STEPS, "cases": figures}
    path.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")


def measure_all(selected: list[Case], device: str = "cpu") -> dict[str, dict[str, float]]:
    torch.set_num_threads(1)
    return {case.id: measure(case, device) for case in selected}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hgbench.bench.regression",
        description="Check (default) or update the deterministic benchmark baseline.",
    )
    parser.add_argument("--update", action="store_true", help="rewrite the baseline file")
    parser.add_argument("--baseline", type=Path, default=DEFAULT_BASELINE)
    parser.add_argument("--method", action="append", help="only these methods")
    args = parser.parse_args(argv)
    selected = cases(methods=args.method)
    current = measure_all(selected)
    if args.update:
        merged = {} if args.method is None else load_baseline(args.baseline)
        merged.update(current)
        save_baseline(merged, args.baseline)
        print(f"wrote {len(current)} cases to {args.baseline}")
        return 0
    baseline = load_baseline(args.baseline)
    if args.method:
        baseline = {k: v for k, v in baseline.items() if k in current}
    problems = compare(baseline, current)
    for line in problems:
        print(line)
    print(f"{len(current)} cases checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
