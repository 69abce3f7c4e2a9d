"""``hgbench list | run | show | export | bench compare``: the harness's commands."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path
from typing import Any

from hgbench.bench.progress import MODES

# The commands import torch and the registries only when they run, so that building the
# `hgbench` parser (every command, `hgbench report` too) stays cheap.

log = logging.getLogger(__name__)

DEFAULT_RESULTS = "hgbench-results/results.sqlite"


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _init(text: str) -> dict[str, float]:
    """``lr=5e-4,weight_decay=2e-5,momentum=0.6`` -> a dict (checked later, by the suite)."""
    out: dict[str, float] = {}
    for part in _csv(text):
        name, sep, value = part.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise argparse.ArgumentTypeError(
                f"expected NAME=VALUE pairs such as lr=1e-3,weight_decay=1e-5,momentum=0.9, "
                f"got {part!r}"
            )
    return out


def add_commands(sub: argparse._SubParsersAction) -> None:
    from hgbench.bench.ab.cli import add_compare

    p = sub.add_parser("bench", help="timing comparisons: `hgbench bench compare BASE HEAD`")
    add_compare(p.add_subparsers(dest="bench_command", metavar="SUBCOMMAND"))
    p = sub.add_parser("list", help="list tasks, methods and suites")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("run", help="run a suite (default: quick) and store the results")
    p.add_argument("suite", nargs="?", default="quick", help="suite name or .toml file")
    p.add_argument("--task", type=_csv, action="extend", help="only these tasks (comma list)")
    p.add_argument("--method", type=_csv, action="extend", help="only these methods")
    p.add_argument("--inits", type=_positive_int, help="paired initial hyperparameters per method")
    p.add_argument(
        "--init", type=_init, action="append", metavar="lr=X,weight_decay=Y,momentum=Z",
        help="an explicit paired init (repeatable; replaces the sampled inits)",
    )  # fmt: skip
    p.add_argument("--seeds", type=lambda s: [int(x) for x in _csv(s)], help="e.g. 0,1,2")
    p.add_argument("--scale", choices=["small", "paper"], help="override the suite's scale")
    p.add_argument("--batch-inits", type=_positive_int, help="train N paired inits as one batch")
    p.add_argument(
        "--compile-step", action="store_true",
        help="compile the batched step with torch.compile (with --batch-inits N > 1; eager, "
        "with a warning, for a method whose step does not compile); part of a run's identity",
    )  # fmt: skip
    p.add_argument("--executor", choices=["local", "ray"], default="local")
    p.add_argument("--address", help="Ray cluster address (with --executor ray)")
    p.add_argument(
        "--workers", type=_positive_int, default=None,
        help="concurrent worker processes (default: the number of cores on CPU, 1 on CUDA)",
    )  # fmt: skip
    p.add_argument(
        "--threads", type=_positive_int, default=None,
        help="torch intra-op threads per worker (default: $OMP_NUM_THREADS when set, else "
        "cores / workers); part of a CPU run's identity",
    )  # fmt: skip
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    p.add_argument("--results", default=DEFAULT_RESULTS, help="results SQLite file")
    p.add_argument("--data-dir", default=None, help="dataset root (default $HGBENCH_DATA)")
    p.add_argument("--rerun-failed", action="store_true", help="retry stored oom/timeout/error")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-run lines")
    p.add_argument(
        "--progress", choices=MODES, default="auto",
        help="auto: a bar on a terminal, one line per run otherwise",
    )  # fmt: skip
    p.add_argument("--no-report", action="store_true", help="do not build a report after")
    p.set_defaults(func=cmd_run)
    p.epilog = (
        "Exit status: 0 when every run ended ok, diverged or timeout; 1 when some run ended "
        "with an error (its message is stored); 2 on bad input, before any run starts."
    )

    p = sub.add_parser("show", help="summarise a results file")
    p.add_argument("results", nargs="?", default=DEFAULT_RESULTS)
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("export", help="write runs/records/batches as CSV")
    p.add_argument("results", nargs="?", default=DEFAULT_RESULTS)
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=cmd_export)


def cmd_list(args: argparse.Namespace) -> int:
    from hgbench.bench.suites import builtin_suites, load_suite
    from hgbench.methods import METHODS
    from hgbench.tasks import TASKS

    print("tasks:   " + ", ".join(TASKS.names()))
    print("methods: " + ", ".join(METHODS.names()))
    print("suites:")
    for name in builtin_suites():
        print(f"  {name:16s} {load_suite(name).description}")
    return 0


def _executor(args: argparse.Namespace, device: str) -> tuple[Any, int]:
    """The executor and the torch threads per worker (the split of the cores is
    :func:`hgbench.bench.executors.default_split`'s, logged)."""
    from hgbench.bench.executors import LocalExecutor, RayExecutor, default_split, default_threads

    if args.executor == "ray":
        threads = args.threads or default_threads(1, {"OMP_NUM_THREADS": "1"} | dict(os.environ))
        return RayExecutor(address=args.address, workers=args.workers), threads
    if args.address:
        raise ValueError("--address is only used with --executor ray")
    workers, threads, why = default_split(device, args.workers, args.threads)
    if not getattr(args, "quiet", False):
        log.info("%d worker(s) x %d thread(s): %s", workers, threads, why)
    return LocalExecutor(workers=workers), threads


def cmd_run(args: argparse.Namespace) -> int:
    import torch

    from hgbench.bench.config import with_data_fingerprints
    from hgbench.bench.store import check_results_path
    from hgbench.bench.suites import load_suite
    from hgbench.bench.sweep import run_sweep

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    check_results_path(args.results)
    suite = load_suite(args.suite).at_scale(args.scale)
    executor, threads = _executor(args, device)
    runs = suite.expand(
        tasks=args.task, methods=args.method, inits=args.inits, explicit_inits=args.init,
        seeds=args.seeds, batch_inits=args.batch_inits, device=device, threads=threads,
        data_dir=args.data_dir, compile_step=args.compile_step,
    )  # fmt: skip
    if not runs:
        raise ValueError("nothing to run: the suite and filters select no runs")
    runs = with_data_fingerprints(runs)
    if not args.quiet:
        log.info("suite %s (%s scale): %d runs, %d thread(s) per worker -> %s", suite.name,
                 suite.scale, len(runs), threads, args.results)  # fmt: skip
    summary = run_sweep(runs, args.results, executor, quiet=args.quiet,
                        rerun_failed=args.rerun_failed, progress=args.progress)  # fmt: skip
    print(f"hgbench: {summary.line()}; results in {args.results}")
    if not args.no_report:
        _report(args.results, quiet=args.quiet)
    if summary.errors:
        print(f"hgbench: {summary.errors} run(s) ended with an error: see `hgbench show "
              f"{args.results}`", file=sys.stderr)  # fmt: skip
        return 1
    return 0


def _report(results: str, *, quiet: bool) -> None:
    """Build a report next to the results when hgbench.reports provides one."""
    try:
        reports = importlib.import_module("hgbench.reports")
    except ImportError:
        return
    build = getattr(reports, "build_report", None)
    if build is None:
        return
    out_dir = Path(results).parent / "report"
    try:
        build(results, out_dir)
    except Exception as exc:  # noqa: BLE001 - the results are stored; a report can follow
        log.warning("report failed (results are stored; run `hgbench report`): %s", exc)
        return
    if not quiet:
        print(f"hgbench: report in {out_dir}")


def cmd_show(args: argparse.Namespace) -> int:
    from hgbench.bench.store import load_runs

    df = load_runs(args.results)
    if df.empty:
        print(f"{args.results}: no runs")
        return 0
    from hgbench.reports.terminal import show_text

    print(show_text(df, args.results))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from hgbench.bench.store import export_csv

    for path in export_csv(args.results, args.out):
        print(path)
    return 0
