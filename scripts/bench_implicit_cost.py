"""Measured wall-time ratio to ``fixed`` next to the counter-implied ratio (Clarke et al. family).

UCI Energy at paper settings (MLP [8, 50, 1], full batch; task ``uci_energy``, scale
``paper``), each method stepped for the same number of weight steps as ``fixed`` on one
thread, one init, no evaluation in the timed region. Falls back to ``sk_diabetes`` when the
UCI data are not found (says so). Usage::

    HGBENCH_DATA=../shared/data python scripts/bench_implicit_cost.py --steps 1000
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from hgbench.analysis.cost import UnitCosts, calibrate_unit_costs, cost_ratio
from hgbench.methods import METHODS
from hgbench.spec import InitialHyper
from hgbench.tasks import TASKS

CONFIGS = [
    ("implicit", {"variant": "wd_lr"}),
    ("implicit", {"variant": "wd_lr_m"}),
    ("implicit", {"variant": "wd_hdlr_m"}),
    ("lorraine", {}),
    ("unrolled", {}),
    ("baydin_loglr", {}),
    ("random_search", {"n": 3}),
]


def build_problem(data_dir: str | None):
    try:
        task = TASKS.get("uci_energy")(scale="paper")
        return task.build(data_dir=data_dir), "uci_energy (paper)"
    except Exception as exc:  # noqa: BLE001 -- report and fall back
        print(f"uci_energy unavailable ({exc}); falling back to sk_diabetes (paper)")
        return TASKS.get("sk_diabetes")(scale="paper").build(), "sk_diabetes (paper)"


def time_round_robin(configs, problem, steps, hyper, repeats):
    """Median wall time of ``steps`` weight steps per config, the configs timed in turn each
    repeat (so load changes on a shared machine hit all of them alike), and their counts."""
    methods = [METHODS.get(key)(**kw) for key, kw in configs]
    w0, ms = problem.init_weights(0), problem.init_model_state()
    times: list[list[float]] = [[] for _ in methods]
    counts: list[dict[str, int]] = [{} for _ in methods]
    hvps, fwds = [], []
    for _ in range(repeats):
        units = calibrate_unit_costs(problem, w0, ms, 50)  # in the same round as the methods
        hvps.append(units.hvp)
        fwds.append(units.forward)
        for i, method in enumerate(methods):
            state = method.init(problem, w0, ms, hyper)
            state, _ = method.step(problem, state, 0)  # warm-up outside the timed region
            problem.counter.reset()
            start = time.perf_counter()
            for t in range(1, steps + 1):
                state, _ = method.step(problem, state, t)
            times[i].append(time.perf_counter() - start)
            counts[i] = problem.counter.as_dict()
    med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
    units = UnitCosts(hvp=med(hvps), forward=med(fwds))
    return [med(ts) for ts in times], counts, units


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--data-dir", default=os.environ.get("HGBENCH_DATA"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    problem, label = build_problem(args.data_dir)
    hyper = InitialHyper(0, 1e-2, 1e-4, 0.5)
    print(
        f"task {label}, {args.steps} weight steps, 1 thread, median of {args.repeats} round-robin repeats"
    )
    configs = [("fixed", {}), *CONFIGS]
    times, counts, units = time_round_robin(configs, problem, args.steps, hyper, args.repeats)
    print(f"calibrated unit costs (gradients, median over rounds): {units.as_dict()}")
    t_fixed, c_fixed = times[0], counts[0]
    print(
        f"{'method':28s} {'ms/step':>8s} {'measured':>9s} {'implied':>8s} {'meas/impl':>9s}  counts"
    )
    for (key, kw), t, c in zip(configs, times, counts, strict=True):
        name = key + "".join(f" {k}={v}" for k, v in kw.items())
        measured, implied = t / t_fixed, cost_ratio(c, c_fixed, units)
        print(
            f"{name:28s} {1e3 * t / args.steps:8.3f} {measured:9.2f} {implied:8.2f} "
            f"{measured / implied:9.2f}  {c}"
        )


if __name__ == "__main__":
    main()
