"""Batched inits against one by one: time per init on UCI Energy at paper settings (issue 10).

Task ``uci_energy`` at scale ``paper`` (MLP [8, 50, 1], full batch, 4000 weight steps, the
Clarke et al. 2022 UCI setup); methods ``fixed``, ``hd_sgd`` and ``implicit`` (variant
``wd_lr_m``); paired inits 0..N-1 of seed 0. For each method it measures

* **one by one, local executor**: ``--one-by-one-runs`` single-init work items through
  :class:`hgbench.bench.executors.LocalExecutor` (one worker process per run, as
  ``hgbench run`` does them): wall time per init, *including* process start-up, data
  loading, first-call overheads and evaluation (the forkserver itself is started before
  the clock, by an untimed warm-up run);
* **one by one, in process**: the same runs through :func:`hgbench.bench.worker.execute` in
  this process (no start-up): wall time per init;
* **batched N** for each ``--sizes`` N: one work item of N paired inits trained as one vmapped
  computation through :func:`hgbench.bench.worker.execute` in this process: wall time / N
  (data loading and evaluation included), and the batch's method time / N;

and prints a table with the speed-up of each batch over both one-by-one figures. Every run
uses one torch thread. ``--suite-total`` estimates the Clarke UCI suite (8 data sets × every
batchable method variant of the ``clarke_uci`` suite × 200 inits × 4000 steps): it measures one
batch of 200 inits per (data set, method) for ``--steps`` steps and scales the training time
*linearly* in steps to the suite's 4000, the evaluation time by the number of evaluations
(every ``eval_every`` steps), and adds the set-up time (data, model, first calls) once; it
prints each estimate, then a data set x method table of CPU-hours.

Usage (real data from ``HGBENCH_DATA`` or ``--data-dir``)::

    HGBENCH_DATA=../shared/data python scripts/bench_batched.py                 # full
    HGBENCH_DATA=../shared/data python scripts/bench_batched.py --steps 200 --sizes 1,10
    HGBENCH_DATA=../shared/data python scripts/bench_batched.py --suite-total --steps 200
"""

from __future__ import annotations

import argparse
import math
import os
import time
from dataclasses import replace
from typing import Any

import torch

from hgbench.bench.config import RunConfig, WorkItem
from hgbench.bench.devicecheck.batched import (
    METHOD_SETTINGS,
    batchable_variants,
    batched_vs_one_by_one,
    run_configs,
    statuses,
    suite_batch_estimate,
    warm_variants,
)
from hgbench.bench.executors import LocalExecutor
from hgbench.bench.suites import load_suite
from hgbench.tasks import TASKS

TASK = "uci_energy"
PAPER_STEPS = 4000


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def one_by_one_executor(runs: list[RunConfig], workers: int) -> tuple[float, list[dict]]:
    """Wall time of ``runs`` as single-init work items through worker processes."""
    rows: list[dict] = []
    executor = LocalExecutor(workers=workers)
    start = time.perf_counter()
    executor.run([WorkItem((r,)) for r in runs], lambda item, res: rows.extend(res["runs"]))
    return time.perf_counter() - start, rows


def bench_method(method: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    settings = METHOD_SETTINGS[method]
    label = method + "".join(f" {k}={v}" for k, v in settings.items())
    kw = {"dtype": args.dtype, "data_dir": args.data_dir}
    singles = run_configs(TASK, method, settings, args.one_by_one_runs, steps=args.steps,
                          device=args.device, batch_size=1, **kw)  # fmt: skip
    one_by_one_executor([replace(singles[0], budget_steps=min(args.steps, 20))], args.workers)
    wall, rows = one_by_one_executor(singles, args.workers)
    exec_per_init = wall / len(singles)
    out = [{"method": label, "mode": f"one by one, local executor ({len(singles)} runs, "
            f"{args.workers} worker)", "N": 1, "per_init_s": exec_per_init,
            "method_per_init_s": sum(r.get("method_time_s", math.nan) for r in rows) / len(rows),
            "status": statuses(rows)}]  # fmt: skip
    measured = batched_vs_one_by_one(TASK, method, settings, args.sizes, steps=args.steps,
                                     one_by_one=args.one_by_one_runs, device=args.device,
                                     **kw)  # fmt: skip
    proc_per_init = measured[0]["per_init_s"]
    for row in measured:
        mode = "one by one, in process" if row["mode"] == "one by one" else "batched, in process"
        if row["mode"] == "one by one":
            mode += f" ({row['runs']} runs)"
        out.append({**row, "method": label, "mode": mode})
    for row in out:
        row["speedup_vs_executor"] = exec_per_init / row["per_init_s"]
        row["speedup_vs_in_process"] = proc_per_init / row["per_init_s"]
    return out


def print_table(rows: list[dict[str, Any]]) -> None:
    head = (f"{'method':22s} {'mode':44s} {'N':>4s} {'s/init':>9s} {'method s/init':>13s} "
            f"{'x vs exec':>9s} {'x vs proc':>9s}  status")  # fmt: skip
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['method']:22s} {r['mode']:44s} {r['N']:4d} {r['per_init_s']:9.4f} "
              f"{r['method_per_init_s']:13.4f} {r['speedup_vs_executor']:9.1f} "
              f"{r['speedup_vs_in_process']:9.1f}  {r['status']}")  # fmt: skip


def suite_total(args: argparse.Namespace) -> None:
    """Measure one batch per (data set, batchable method variant) and scale to 4000 steps."""
    suite = load_suite("clarke_uci").at_scale("paper")
    full_steps, inits = PAPER_STEPS, args.suite_inits
    variants, skipped = batchable_variants(suite.method_variants())
    if args.suite_methods:
        variants = [(k, v) for k, v in variants if k in args.suite_methods]
    tasks = args.suite_tasks or suite.tasks
    kw = {"dtype": args.dtype, "data_dir": args.data_dir}
    print(f"\nClarke UCI suite estimate: {len(tasks)} data sets x {len(variants)} batchable "
          f"method variants x {inits} inits in batches of {inits}. Measured at {args.steps} "
          f"steps; training time scaled linearly in steps to {full_steps}, evaluation time by "
          "the number of evaluations, set-up (data, model, first calls) added once"
          + (f"; not batchable (not estimated): {', '.join(skipped)}" if skipped else ""))  # fmt: skip
    warm_variants(tasks[0], variants, device=args.device, **kw)
    print(f"{'task':14s} {'method':30s} {'wall (s)':>9s} {'train (s)':>9s} {'eval (s)':>9s} "
          f"{'est. 4000 steps (s)':>19s}  status")  # fmt: skip
    total = measured = 0.0
    rows = []
    for task in tasks:
        for key, settings in variants:
            r = suite_batch_estimate(task, key, settings, inits=inits, steps=args.steps,
                                     full_steps=full_steps, device=args.device, **kw)  # fmt: skip
            rows.append(r)
            total += r["estimate_s"]
            measured += r["wall_s"]
            print(f"{task:14s} {r['method']:30s} {r['wall_s']:9.2f} {r['train_s']:9.2f} "
                  f"{r['eval_s']:9.2f} {r['estimate_s']:19.1f}  {r['status']}", flush=True)  # fmt: skip
    print_cpu_hours(rows)
    print(f"measured {measured:.1f} s in all; estimated total of these data sets at "
          f"{full_steps} steps: {total:.0f} s = {total / 3600:.2f} h on this machine "
          f"(1 thread, {args.device}, one batch at a time)")  # fmt: skip


def print_cpu_hours(rows: list[dict[str, Any]]) -> None:
    """The estimates as a data set x method table of CPU-hours, with row and column sums."""
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    hours = {(r["task"], r["method"]): r["estimate_s"] / 3600 for r in rows}
    short = [m.replace("random_search", "rs").replace("implicit variant=", "impl ")
             .replace(" n=1 stepped_lr=True", " xLR") for m in methods]  # fmt: skip
    print("\nestimated CPU-hours at the suite's steps (1 thread), data set x method:")
    print(f"{'task':14s}" + "".join(f" {m[:11]:>11s}" for m in short) + f" {'total':>8s}")
    for task in tasks:
        vals = [hours.get((task, m), 0.0) for m in methods]
        print(f"{task:14s}" + "".join(f" {v:11.2f}" for v in vals) + f" {sum(vals):8.2f}")
    sums = [sum(hours.get((t, m), 0.0) for t in tasks) for m in methods]
    print(f"{'total':14s}" + "".join(f" {v:11.2f}" for v in sums) + f" {sum(sums):8.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=PAPER_STEPS, help="weight steps (4000)")
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in _csv(s)],
                        default=[1, 10, 100, 200], help="batch sizes N (1,10,100,200)")  # fmt: skip
    parser.add_argument("--methods", type=_csv, default=list(METHOD_SETTINGS),
                        help="comma list of fixed,hd_sgd,implicit")  # fmt: skip
    parser.add_argument("--one-by-one-runs", type=int, default=3,
                        help="single-init runs timed one by one per method (3)")  # fmt: skip
    parser.add_argument("--workers", type=int, default=1, help="local executor workers (1)")
    parser.add_argument("--dtype", default="float32", help="float32 (the suite's) or float64")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--data-dir", default=os.environ.get("HGBENCH_DATA"),
                        help="dataset root (default $HGBENCH_DATA)")  # fmt: skip
    parser.add_argument(
        "--suite-total",
        action="store_true",
        help="also estimate the whole Clarke UCI suite (see module docstring)",
    )
    parser.add_argument("--suite-inits", type=int, default=200, help="inits per batch (200)")
    parser.add_argument("--suite-tasks", type=_csv, default=None,
                        help="only these suite data sets (default: all 8)")  # fmt: skip
    parser.add_argument("--suite-methods", type=_csv, default=None,
                        help="only these method keys (default: every batchable one)")  # fmt: skip
    parser.add_argument(
        "--skip-compare",
        action="store_true",
        help="skip the batched vs one-by-one table (with --suite-total)",
    )
    args = parser.parse_args(argv)
    for name in args.methods:
        if name not in METHOD_SETTINGS:
            parser.error(f"--methods: unknown {name!r}; valid: {', '.join(METHOD_SETTINGS)}")
    if args.steps < 1 or args.one_by_one_runs < 1 or min(args.sizes, default=0) < 1:
        parser.error("--steps, --one-by-one-runs and every --sizes value must be at least 1")
    if args.data_dir is None:
        parser.error("the UCI data are needed: set HGBENCH_DATA or pass --data-dir")
    torch.set_num_threads(1)
    # fail early, with the loader's message naming the missing file, not inside a worker
    try:
        TASKS.get(TASK)(scale="paper").build(data_dir=args.data_dir)
    except (OSError, ValueError) as exc:
        parser.error(str(exc))
    print(f"{TASK} paper scale, {args.steps} weight steps, dtype {args.dtype}, {args.device}, "
          f"1 torch thread, torch {torch.__version__}, {os.cpu_count()} cores")  # fmt: skip
    if not args.skip_compare:
        rows = [row for m in args.methods for row in bench_method(m, args)]
        print_table(rows)
        failed = [r for r in rows if any(k in r["status"] for k in ("error", "oom", "timeout"))]
        if failed:
            print(f"WARNING: {len(failed)} rows include failed runs; their times mean nothing")
        print(
            "s/init: wall time per init (data loading and evaluation included; one by one "
            "through the executor also process start-up); method s/init: training time only. "
            "x vs exec / x vs proc: speed-up over one by one via the executor / in process."
        )
    if args.suite_total:
        suite_total(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
