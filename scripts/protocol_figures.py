"""Figures of the paper-protocol checks (docs/protocols.md): the Clarke et al. "Baydin" arm in
both forms and ``fixed`` on UCI Energy, trained on train and on train+val, and the
``clarke_fmnist`` suite at a reduced budget.

    HGBENCH_DATA=/work/shared/data OMP_NUM_THREADS=1 \\
        python scripts/protocol_figures.py uci --results uci_protocol.sqlite
    HGBENCH_DATA=/work/shared/data OMP_NUM_THREADS=1 \\
        python scripts/protocol_figures.py fmnist --results fmnist_protocol.sqlite \\
        --inits 6 --steps 2000 --batch-inits 6

Every run goes through the benchmark runner (one worker, one thread) into the SQLite file
given; a second call reuses the stored runs and only prints. The tables print final natural
lr and test metric per method label and training split: mean, median, min and max over the
runs (UCI: over the weight seeds; Fashion-MNIST: over the paired inits).
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import pandas as pd

from hgbench.bench.executors import LocalExecutor
from hgbench.bench.store import load_runs
from hgbench.bench.suites import load_suite, parse_suite
from hgbench.bench.sweep import run_sweep

#: the UCI Energy point of issue 15 (an init of Clarke et al.'s sampler)
ENERGY_INIT = {"lr": 5.32e-4, "weight_decay": 2.15e-5, "momentum": 0.675}

UCI_SUITE = """
description = "UCI Energy from one init: the Baydin arm in both forms and fixed"
scale = "paper"
tasks = ["uci_energy"]
methods = ["fixed", "baydin_loglr",
           {{ key = "baydin_loglr", settings = {{ form = "chain_rule" }} }}]
seeds = {seeds}
budget = {steps}
baseline_train_split = "{split}"
time_limit_s = 3600

[[inits]]
lr = {lr}
weight_decay = {weight_decay}
momentum = {momentum}
"""


def summarise(results: str) -> pd.DataFrame:
    """Final lr and test metric per (label, train split), over the stored runs."""
    runs = load_runs(results)
    runs["final_lr"] = runs["final_hyper"].map(lambda s: json.loads(s or "{}").get("lr"))
    grouped = runs.groupby(["label", "train_split"])
    table = pd.concat(
        {
            "runs": grouped.size(),
            "diverged": grouped["status"].agg(lambda s: int((s == "diverged").sum())),
            "lr_mean": grouped["final_lr"].mean(),
            "lr_min": grouped["final_lr"].min(),
            "lr_max": grouped["final_lr"].max(),
            "metric_mean": grouped["final_test_metric"].mean(),
            "metric_median": grouped["final_test_metric"].median(),
            "metric_min": grouped["final_test_metric"].min(),
            "metric_max": grouped["final_test_metric"].max(),
        },
        axis=1,
    )
    return table.reset_index()


def run_uci(args: argparse.Namespace) -> None:
    runs = []
    for split in ("train", "train+val"):
        text = UCI_SUITE.format(
            seeds=list(args.seeds), steps=args.steps, split=split, **ENERGY_INIT
        )
        suite = parse_suite(text, "protocol_uci_energy")
        runs += suite.expand(threads=1, data_dir=args.data_dir)
    run_sweep(runs, args.results, LocalExecutor(workers=1), progress="lines")


def run_fmnist(args: argparse.Namespace) -> None:
    suite = dataclasses.replace(load_suite("clarke_fmnist").at_scale("paper"), budget=args.steps)
    runs = suite.expand(
        inits=args.inits, batch_inits=args.batch_inits, threads=1, data_dir=args.data_dir
    )
    run_sweep(runs, args.results, LocalExecutor(workers=1), progress="lines")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("uci", "fmnist"))
    parser.add_argument("--results", required=True, help="SQLite results file")
    parser.add_argument("--data-dir", default=None, help="dataset root (default $HGBENCH_DATA)")
    parser.add_argument("--steps", type=int, default=None, help="uci: 4000; fmnist: 2000")
    parser.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=None)
    parser.add_argument("--inits", type=int, default=6, help="fmnist: paired inits")
    parser.add_argument("--batch-inits", type=int, default=6, help="fmnist: inits per batch")
    parser.add_argument("--print-only", action="store_true", help="only print stored results")
    args = parser.parse_args(argv)
    if args.steps is None:
        args.steps = 4000 if args.what == "uci" else 2000
    if args.seeds is None:
        args.seeds = [0, 1, 2, 3, 4] if args.what == "uci" else [0]
    if not args.print_only:
        (run_uci if args.what == "uci" else run_fmnist)(args)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(summarise(args.results).to_string(index=False, float_format=lambda v: f"{v:.4g}"))


if __name__ == "__main__":
    main()
