"""Deterministic cost figures for CI regression tracking, and the gate that compares them.

Every registered method on every small benchmark task is stepped a fixed number of seeded
weight steps (float64, one thread, CPU). The figures it produces do not depend on the
machine's speed: cost counters per init (gradients, HVPs, forward passes), the training loss
after the last step, the validation loss of the final weights, and peak allocated bytes where
that is deterministic (CUDA). They are committed in baseline files; :func:`compare` lists
every figure that moved beyond its tolerance, naming the case and the figure.

Baselines: the *built-in* one is the checkout's ``tests/benchmarks/baseline.json`` (see
:func:`builtin_baseline`); a plugin keeps its own file and passes it with ``--baseline`` (given
several times, the files merge). A measured case that no baseline holds is a *new* case:
reported, never a failure. A baseline case that is not measured is a problem.

Update with ``python -m hgbench.bench.regression --update`` (the built-in methods' cases) or
``--update --method NAME --baseline FILE`` (only that method's cases, into that file); see
``docs/method-authors.md``.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from hgbench.bench.baselines import (
    BASELINE_ENV,
    BUILTIN_BASELINE,
    Figures,
    builtin_baseline,
    load_baseline,
    load_baselines,
    save_baseline,
)
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
    """Every registered method (built-in and entry-point plugins) × every benchmark task
    (or the given ones; tasks that are not registered are left out)."""
    task_keys = [t for t in dict.fromkeys(tasks or BENCH_TASKS) if t in TASKS]
    return [Case(m, t) for m in dict.fromkeys(methods or METHODS.names()) for t in task_keys]


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


def compare(baseline: Figures, current: Figures) -> list[str]:
    """Human-readable problems: moved figures, figures on one side only, and baseline cases
    that were not measured. Measured cases the baseline lacks are not problems (see
    :func:`new_cases`)."""
    problems = []
    for case_id in sorted(baseline):
        if case_id not in current:
            problems.append(f"{case_id}: in the baseline but not measured (case removed?)")
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


def new_cases(baseline: Figures, current: Figures) -> list[str]:
    """Measured cases no baseline holds (a new method, or a plugin's): reported, not gated."""
    return sorted(set(current) - set(baseline))


def new_case_message(case_id: str) -> str:
    method = case_id.split("@", 1)[0]
    return (
        f"NEW {case_id}: no baseline entry, not gated (keep one with `python -m "
        f"hgbench.bench.regression --update --method {method} --baseline FILE`)"
    )


def baseline_tasks(baseline: Figures) -> list[str]:
    """The benchmark tasks plus every task a baseline names (a plugin's own task)."""
    return list(dict.fromkeys([*BENCH_TASKS, *(c.split("@", 1)[1] for c in sorted(baseline))]))


def measure_all(selected: list[Case], device: str = "cpu") -> Figures:
    torch.set_num_threads(1)
    return {case.id: measure(case, device) for case in selected}


# ------------------------------------------------------------------------------- the gate


@dataclass
class GateReport:
    """The outcome of one check: what was compared, what is new, what moved."""

    checked: list[str]
    new: list[str]
    problems: list[str]

    def lines(self) -> list[str]:
        summary = f"{len(self.checked)} cases checked, {len(self.new)} new, "
        summary += f"{len(self.problems)} problems"
        return [*self.problems, *map(new_case_message, self.new), summary]


def check(
    baselines: Iterable[Path] | None = None,
    methods: Iterable[str] | None = None,
    tasks: Iterable[str] | None = None,
    device: str = "cpu",
) -> GateReport:
    """Measure the selected cases and compare them with the merged ``baselines`` (the built-in
    one when None). Selected: ``methods`` (default: every registered one) × ``tasks``
    (default: the benchmark tasks and those the baselines name); the baseline cases of the
    selected methods and tasks are expected."""
    methods, tasks = (list(x) if x else None for x in (methods, tasks))
    baseline = load_baselines([builtin_baseline()] if baselines is None else baselines)
    current = measure_all(cases(methods, tasks or baseline_tasks(baseline)), device)
    expected = {
        k: v
        for k, v in baseline.items()
        if (methods is None or k.split("@", 1)[0] in methods)
        and (tasks is None or k.split("@", 1)[1] in tasks)
    }
    return GateReport(
        checked=sorted(set(current) & set(expected)),
        new=new_cases(baseline, current),
        problems=compare(expected, current),
    )


def update(
    path: Path | None = None,
    methods: Iterable[str] | None = None,
    tasks: Iterable[str] | None = None,
) -> list[str]:
    """Measure and write cases into one baseline file; the ids written.

    The built-in baseline (``path`` None) without ``methods`` is rewritten with every built-in
    method's cases (plugins are left out). Otherwise only the cases of ``methods`` (default:
    those the file already holds) are replaced and the file's other cases are kept."""
    builtin = path is None
    path = builtin_baseline() if builtin else Path(path)
    old = load_baseline(path) if path.exists() else {}
    methods = list(methods) if methods else None
    if methods is None and builtin:
        old, methods = {}, METHODS.builtin_names()
    elif methods is None:
        methods = sorted({k.split("@", 1)[0] for k in old})
        if not methods:
            raise ValueError(f"{path} holds no cases: name the methods to write with --method")
    current = measure_all(cases(methods, list(tasks) if tasks else baseline_tasks(old)))
    save_baseline({**old, **current}, path, BENCH_STEPS)
    return sorted(current)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hgbench.bench.regression",
        description="Check (default) or update the deterministic benchmark baselines.",
    )
    parser.add_argument("--update", action="store_true", help="measure and write a baseline")
    parser.add_argument(
        "--baseline", type=Path, action="append", metavar="FILE",
        help="a baseline file (repeatable: they merge; default: the checkout's "
        f"{BUILTIN_BASELINE} or ${BASELINE_ENV})",
    )  # fmt: skip
    parser.add_argument("--method", action="append", help="only these methods (repeatable)")
    parser.add_argument("--task", action="append", help="only these tasks (repeatable)")
    args = parser.parse_args(argv)
    try:
        if args.update:
            if args.baseline and len(args.baseline) > 1:
                parser.error("--update writes one baseline file: give --baseline once")
            path = args.baseline[0] if args.baseline else None
            written = update(path, args.method, args.task)
            print(f"wrote {len(written)} cases to {path or builtin_baseline()}")
            return 0
        report = check(args.baseline, args.method, args.task)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        print(f"regression: error: {exc}", file=sys.stderr)
        return 2
    for line in report.lines():
        print(line)
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
