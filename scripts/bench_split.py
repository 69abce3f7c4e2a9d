"""Both cores: W workers x T threads against each other on a slice of the Clarke UCI suite.

The same work items (one batch of ``--inits`` paired inits per (data set, method) of
``--tasks`` x ``--methods``, ``--steps`` weight steps, paper scale, float32) run through
:class:`hgbench.bench.executors.LocalExecutor` once per split in ``--splits`` (default
``2x1,1x2``: 2 workers x 1 torch thread, 1 worker x 2 threads), in alternating order over
``--rounds`` rounds; it prints the wall time of each split per round, the median ratio, and
the faster split. ``hgbench run``'s default split (:func:`hgbench.bench.executors.default_split`)
is the one this measured faster on this CPU (docs/measurements.md).

Usage::

    HGBENCH_DATA=../shared/data python scripts/bench_split.py
    HGBENCH_DATA=../shared/data python scripts/bench_split.py --steps 100 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import replace

from hgbench.bench.config import WorkItem
from hgbench.bench.devicecheck.batched import run_configs, statuses
from hgbench.bench.executors import LocalExecutor


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _split(text: str) -> tuple[int, int]:
    workers, _, threads = text.partition("x")
    return int(workers), int(threads)


def items(args: argparse.Namespace, threads: int) -> list[WorkItem]:
    out = []
    for task in args.tasks:
        for method in args.methods:
            runs = run_configs(task, method, {}, args.inits, steps=args.steps, device="cpu",
                               data_dir=args.data_dir)  # fmt: skip
            out.append(WorkItem(tuple(replace(r, threads=threads) for r in runs)))
    return out


def wall(split: tuple[int, int], args: argparse.Namespace) -> tuple[float, str]:
    workers, threads = split
    rows: list[dict] = []
    executor = LocalExecutor(workers=workers)
    start = time.perf_counter()
    executor.run(items(args, threads), lambda item, res: rows.extend(res["runs"]))
    return time.perf_counter() - start, statuses(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=_csv, default=["uci_kin8nm", "uci_power"])
    parser.add_argument("--methods", type=_csv, default=["fixed", "hd_sgd"])
    parser.add_argument("--inits", type=int, default=200, help="inits per batch (200)")
    parser.add_argument("--steps", type=int, default=50, help="weight steps per batch (50)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds (2)")
    parser.add_argument("--splits", type=lambda s: [_split(x) for x in _csv(s)],
                        default=[(2, 1), (1, 2)], help="WxT list (2x1,1x2)")  # fmt: skip
    parser.add_argument("--data-dir", default=os.environ.get("HGBENCH_DATA"),
                        help="dataset root (default $HGBENCH_DATA)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.data_dir is None:
        parser.error("the UCI data are needed: set HGBENCH_DATA or pass --data-dir")
    n_items = len(args.tasks) * len(args.methods)
    print(f"{n_items} work items ({', '.join(args.tasks)} x {', '.join(args.methods)}), "
          f"{args.inits} inits x {args.steps} steps each, {os.cpu_count()} cores")  # fmt: skip
    label = {s: f"{s[0]} worker(s) x {s[1]} thread(s)" for s in args.splits}
    walls: dict[tuple[int, int], list[float]] = {s: [] for s in args.splits}
    wall(args.splits[0], replace_steps(args, 2))  # untimed: the forkserver and first calls
    for r in range(args.rounds):
        for split in args.splits[:: 1 if r % 2 == 0 else -1]:
            seconds, status = wall(split, args)
            walls[split].append(seconds)
            print(f"round {r}: {label[split]:26s} {seconds:8.1f} s  {status}", flush=True)
    medians = {s: statistics.median(v) for s, v in walls.items()}
    best = min(medians, key=medians.get)
    for s, m in medians.items():
        print(f"{label[s]:26s} median {m:8.1f} s  ({m / medians[best]:.2f}x the fastest)")
    print(f"faster: {label[best]}")
    return 0


def replace_steps(args: argparse.Namespace, steps: int) -> argparse.Namespace:
    return argparse.Namespace(**{**vars(args), "steps": steps, "inits": 2})


if __name__ == "__main__":
    raise SystemExit(main())
