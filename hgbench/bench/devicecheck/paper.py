"""Paper-scale step times and peaks of the methods on one task, through the runner, against
the floors of :mod:`.floors`.

Each method runs as a user's run does (``hgbench.bench.worker.execute``: the task built, the
runner's clock and memory probe) on the synthetic stand-in of the task (real model, batch and
shapes; splits capped to keep evaluation short), and is reported with its steady ms per step
(quartiles), start-up, run-owned and per-phase peaks, cost counters and what the allocator
still held after the run (``leak_bytes``). ``implicit`` and ``unrolled`` get the ratio to
``fixed`` their counters imply with unit costs measured on the task.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch

from hgbench.analysis.cost import UnitCosts, cost_ratio
from hgbench.bench.config import RunConfig, WorkItem
from hgbench.bench.devicecheck.floors import measure_floors
from hgbench.bench.devicecheck.timing import allocated, median_step_ms
from hgbench.bench.worker import execute
from hgbench.methods import METHODS
from hgbench.spec import InitialHyper
from hgbench.tasks import TASKS
from hgbench.tasks.synthetic import register_synthetic_tasks, synthetic_key

#: (label, method, settings): the issue's list
CONFIGS: list[tuple[str, str, dict[str, Any]]] = [
    ("fixed", "fixed", {}),
    ("hd_sgd", "hd_sgd", {}),
    ("tower sgd/sgd", "tower", {"levels": "sgd/sgd"}),
    ("tower adam/adam", "tower", {"levels": "adam/adam"}),
    ("implicit wd_lr_m", "implicit", {"variant": "wd_lr_m"}),
    ("unrolled", "unrolled", {}),
]
TASK_KEYS = ("uci_energy", "fashion_mnist", "cifar10", "ptb")
#: capped splits (rows; PTB tokens): the batch shapes stay the real ones
ROWS: dict[str, dict[str, int]] = {
    "uci_energy": {},
    "fashion_mnist": {"train_rows": 5000, "val_rows": 1000, "test_rows": 1000},
    "cifar10": {"train_rows": 2000, "val_rows": 500, "test_rows": 500},
    "ptb": {"train_rows": 40 * 700 + 1, "val_rows": 40 * 140 + 1, "test_rows": 40 * 140 + 1},
}
#: weight steps per run (a multiple of implicit's T = 10 with several hyper-steps)
BUDGET = {"uci_energy": 200, "fashion_mnist": 200, "cifar10": 40, "ptb": 30}
#: tiny shapes for ``--tiny`` (the smoke test of the script itself)
TINY: dict[str, dict[str, Any]] = {
    "uci_energy": {"width": 8},
    "fashion_mnist": {"hidden": [8], "train_rows": 200, "val_rows": 50, "test_rows": 50},
    "cifar10": {"width": 2, "batch_size": 4, "train_rows": 32, "val_rows": 8, "test_rows": 8},
    "ptb": {"embed": 8, "width": 8, "layers": 2, "streams": 4, "bptt": 5, "train_rows": 4 * 40 + 1,
            "val_rows": 4 * 10 + 1, "test_rows": 4 * 10 + 1},
}  # fmt: skip
TINY_BUDGET = 9
#: shorter hyper-steps in ``--tiny`` so that each phase runs steadily within the budget
TINY_SETTINGS: dict[str, dict[str, Any]] = {"implicit": {"T": 3}, "unrolled": {"T": 3, "k": 2}}


def overrides(task: str, tiny: bool) -> dict[str, Any]:
    return dict(TINY[task]) if tiny else dict(ROWS[task])


def _phase_figures(records: list[tuple]) -> dict[str, dict[str, float]]:
    """The runner's per-phase rows (split ``"phase"``): time and peak of each phase."""
    out: dict[str, dict[str, float]] = {"time_s": {}, "peak_bytes": {}}
    for *_, split, metric, value in records:
        for suffix in ("time_s", "peak_bytes"):
            if split == "phase" and metric.endswith("_" + suffix):
                out[suffix][metric[: -len(suffix) - 1]] = value
    return out


def run_method(cfg: RunConfig) -> dict[str, Any]:
    """One run through the runner in this process, with its figures and leak check."""
    dev = torch.device(cfg.device)
    before = allocated(dev)
    start = time.perf_counter()
    result = execute(WorkItem((cfg,)))
    wall = time.perf_counter() - start
    after = allocated(dev)
    (row,) = result["runs"]
    out = {k: row.get(k) for k in ("status", "message", "budget_steps", "startup_time_s",
                                   "startup_steps", "method_time_s", "eval_time_s",
                                   "peak_memory_bytes", "memory_kind", "state_bytes")}  # fmt: skip
    for k, name in (("step_time_s", "step_ms"), ("step_time_q25_s", "step_q25_ms"),
                    ("step_time_q75_s", "step_q75_ms")):  # fmt: skip
        out[name] = (row.get(k) or float("nan")) * 1e3
    out["counts"] = {k: row.get(f"cost_{k}") for k in ("forward", "gradient", "hvp")}
    out["phases"] = _phase_figures(result["records"])
    out["wall_s"] = wall
    out["leak_bytes"] = None if before is None else after - before
    return out


def bare_fixed_ms(problem, steps: int, repeats: int) -> dict[str, float]:
    """``fixed``'s step called directly (no runner): the runner's overhead is the gap."""
    method = METHODS.get("fixed")()
    hyper = InitialHyper(0, lr=1e-3, weight_decay=1e-4, momentum=0.9)
    box = {"s": method.init(problem, problem.init_weights(0), problem.init_model_state(), hyper)}

    def step(t: int) -> None:
        box["s"], _ = method.step(problem, box["s"], t)

    return median_step_ms(step, problem.device, steps=steps, repeats=repeats)


def measure_task(
    task: str,
    *,
    device: str,
    tiny: bool,
    record: Callable[[dict[str, Any]], None],
    deadline: float,
) -> dict[str, Any]:
    """Floors and every configuration of :data:`CONFIGS` on ``task``; ``record`` is called
    with the result so far after each part (a later timeout keeps what was measured)."""
    register_synthetic_tasks()
    key, ov = synthetic_key(task), overrides(task, tiny)
    budget = TINY_BUDGET if tiny else BUDGET[task]
    dev = torch.device(device)
    before = allocated(dev)
    task_obj = TASKS.get(key)("paper", **ov)
    problem = task_obj.build(device=dev)
    resident = None if before is None else allocated(dev) - before
    out: dict[str, Any] = {"task": task, "synthetic": key, "overrides": ov,
                           "weights": problem.layout.size, "budget_steps": budget,
                           "eval_every": max(1, budget // 4), "resident_bytes": resident,
                           "floors": {}, "runs": {}}  # fmt: skip
    steps, repeats = (3, 3) if tiny else (max(5, budget // 4), 5)
    out["floors"] = measure_floors(problem, task_obj.model_parts(), task_obj.real.params,
                                   steps=steps, repeats=repeats)  # fmt: skip
    out["floors"]["fixed_bare_step"] = bare_fixed_ms(problem, steps, repeats)
    del problem
    record(out)
    for label, method, settings in CONFIGS:
        if time.monotonic() > deadline:
            out["runs"][label] = {"status": "not run", "message": "time box reached"}
            continue
        if tiny:
            settings = {**settings, **TINY_SETTINGS.get(method, {})}
        cfg = RunConfig(task=key, method=method, method_settings=settings, scale="paper",
                        task_overrides=ov, budget_steps=budget, eval_every=out["eval_every"],
                        device=device)  # fmt: skip
        out["runs"][label] = {"method": method, "settings": settings, **run_method(cfg)}
        record(out)
    out["implied"] = implied_ratios(out)
    record(out)
    return out


def implied_ratios(out: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Measured ratio to ``fixed`` against the counter-implied one (unit costs measured)."""
    floors, runs = out["floors"], out["runs"]
    fixed = runs.get("fixed", {})
    if fixed.get("status") != "ok" or "gradient" not in floors:
        return {}
    g = floors["gradient"]["ms"]
    units = UnitCosts(hvp=floors["hvp"]["ms"] / g, forward=floors["forward"]["ms"] / g)
    res = {}
    for label in ("implicit wd_lr_m", "unrolled"):
        run = runs.get(label, {})
        if run.get("status") != "ok":
            continue
        implied = cost_ratio(run["counts"], fixed["counts"], units)
        measured = run["step_ms"] / fixed["step_ms"]
        res[label] = {"implied_ratio": implied, "measured_ratio": measured,
                      "measured_over_implied": measured / implied, "units": units.as_dict()}  # fmt: skip
    return res
