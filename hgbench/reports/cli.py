"""``hgbench report RESULTS --out DIR`` (write a report of a results store) and
``hgbench compare RESULTS A B`` (the paired head-to-head of two methods in the terminal)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def _parse_targets(items: list[str]) -> dict[str, float]:
    targets = {}
    for item in items:
        task, sep, value = item.partition("=")
        try:
            targets[task] = float(value)
        except ValueError:
            sep = ""
        if not sep or not task:
            raise ValueError(f"--target expects TASK=VALUE (e.g. uci_boston=20.5), got {item!r}")
    return targets


def run_report(args: argparse.Namespace) -> int:
    from hgbench.reports.builder import build_report

    if args.results is None:  # a benchmark history alone (CI: no results store)
        from hgbench.reports.history import build_history_report

        if not args.benchmark_json:
            raise ValueError("give a results store, or --benchmark-json for a history alone")
        print(
            build_history_report(args.benchmark_json, args.out or "benchmark_history", dpi=args.dpi)
        )
        return 0
    out = (
        Path(args.out)
        if args.out
        else Path(args.results).with_name(Path(args.results).stem + "_report")
    )
    index = build_report(
        args.results,
        out,
        n_boot=args.bootstrap,
        confidence=args.confidence,
        seed=args.seed,
        targets=_parse_targets(args.target),
        target_split=args.target_split,
        dpi=args.dpi,
        pdf=args.pdf,
        jobs=args.jobs,
        benchmark_json=args.benchmark_json,
    )
    print(index)
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from hgbench.bench.store import load_runs
    from hgbench.reports.terminal import compare_text

    if not Path(args.results).is_file():
        raise FileNotFoundError(f"results file {args.results!r} does not exist")
    runs = load_runs(args.results)
    if runs.empty:
        raise ValueError(f"{args.results}: no runs to compare")
    print(
        compare_text(
            runs, args.method, args.reference, n_boot=args.bootstrap,
            confidence=args.confidence, seed=args.seed,
        )
    )  # fmt: skip
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``report`` and ``compare`` to the ``hgbench`` command line."""
    c = subparsers.add_parser(
        "compare",
        help="head-to-head of two methods over paired inits",
        description="Per task: paired wins / ties / losses of METHOD against REFERENCE, the "
        "median improvement with a bootstrap interval and the Wilcoxon signed-rank p-value.",
    )
    c.add_argument("results", help="results store (SQLite file written by `hgbench run`)")
    c.add_argument("method", help="method label (or a method key with a single variant)")
    c.add_argument("reference", help="the method it is compared with, e.g. fixed")
    c.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples (2000)")
    c.add_argument("--confidence", type=float, default=0.95, help="interval level (0.95)")
    c.add_argument("--seed", type=int, default=0, help="bootstrap seed (0)")
    c.set_defaults(func=run_compare)

    p = subparsers.add_parser(
        "report",
        help="write tables and figures of a results store",
        description="Write index.html, report.md, tables/*.tex|csv and figures/*.png "
        "(and *.pdf with --pdf) from a results store.",
    )
    p.add_argument(
        "results", nargs="?",
        help="results store (SQLite file written by `hgbench run`); omit it to render only "
        "the --benchmark-json history",
    )  # fmt: skip
    p.add_argument("--out", help="output directory (default: RESULTS_STEM_report/ next to RESULTS)")
    p.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples (2000)")
    p.add_argument("--confidence", type=float, default=0.95, help="interval level (0.95)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (0)")
    p.add_argument(
        "--target", action="append", default=[], metavar="TASK=VALUE",
        help="time-to-target target of a task (default: median final metric of fixed)",
    )  # fmt: skip
    p.add_argument(
        "--target-split", default="test", choices=["test", "val"],
        help="split whose metric curve is compared with the target (test)",
    )  # fmt: skip
    p.add_argument("--dpi", type=int, default=150, help="PNG resolution (150)")
    p.add_argument(
        "--jobs", type=int, default=None, metavar="N",
        help="processes drawing the figures (default 1: forked drawers were slower on 2 cores)",
    )  # fmt: skip
    p.add_argument(
        "--pdf", action="store_true",
        help="also write every figure as a vector PDF (for papers; figures take about twice as long)",
    )  # fmt: skip
    p.add_argument(
        "--benchmark-json", nargs="*", default=[], metavar="JSON",
        help="pytest-benchmark JSON files, or directories such as .benchmarks, "
        "to render as a benchmark history (`hgbench bench compare` JSON files among them add "
        "the paired ratios of each compared commit)",
    )  # fmt: skip
    p.set_defaults(func=run_report)
