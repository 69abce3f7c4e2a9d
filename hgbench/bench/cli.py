"""``hgbench list | run | show | export``: the harness's commands."""

from __future__ import annotations

import argparse
import importlib
import logging
from pathlib import Path

from hgbench.bench.store import export_csv, load_runs
from hgbench.bench.suites import builtin_suites, load_suite
from hgbench.methods import METHODS
from hgbench.tasks import TASKS

log = logging.getLogger(__name__)

DEFAULT_RESULTS = "hgbench-results/results.sqlite"


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list tasks, methods and suites")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("run", help="run a suite (default: quick) and store the results")
    p.add_argument("suite", nargs="?", default="quick", help="suite name or .toml file")
    p.add_argument("--task", type=_csv, action="extend", help="only these tasks (comma list)")
    p.add_argument("--method", type=_csv, action="extend", help="only these methods")
    p.add_argument("--inits", type=int, help="paired initial hyperparameters per method")
    p.add_argument("--seeds", type=lambda s: [int(x) for x in _csv(s)], help="e.g. 0,1,2")
    p.add_argument("--scale", choices=["small", "paper"], help="override the suite's scale")
    p.add_argument("--batch-inits", type=int, help="train N paired inits as one batch")
    p.add_argument("--executor", choices=["local", "ray"], default="local")
    p.add_argument("--address", help="Ray cluster address (with --executor ray)")
    p.add_argument("--workers", type=int, default=None, help="concurrent worker processes")
    p.add_argument("--threads", type=int, default=None, help="torch threads per worker")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    p.add_argument("--results", default=DEFAULT_RESULTS, help="results SQLite file")
    p.add_argument("--data-dir", default=None, help="dataset root (default $HGBENCH_DATA)")
    p.add_argument("--rerun-failed", action="store_true", help="retry stored oom/timeout/error")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-run lines")
    p.add_argument("--no-report", action="store_true", help="do not build a report after")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("show", help="summarise a results file")
    p.add_argument("results", nargs="?", default=DEFAULT_RESULTS)
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("export", help="write runs/records/batches as CSV")
    p.add_argument("results", nargs="?", default=DEFAULT_RESULTS)
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=cmd_export)


def cmd_list(args: argparse.Namespace) -> int:
    print("tasks:   " + ", ".join(TASKS.names()))
    print("methods: " + ", ".join(METHODS.names()))
    print("suites:")
    for name in builtin_suites():
        print(f"  {name:16s} {load_suite(name).description}")
    return 0


def _executor(args: argparse.Namespace, device: str):
    from hgbench.bench.executors import LocalExecutor, RayExecutor, available_cores

    if args.executor == "ray":
        return RayExecutor(address=args.address, workers=args.workers, threads=args.threads or 1)
    if args.address:
        raise ValueError("--address is only used with --executor ray")
    workers = args.workers or (1 if device.startswith("cuda") else available_cores())
    return LocalExecutor(workers=workers, threads=args.threads)


def cmd_run(args: argparse.Namespace) -> int:
    import torch

    from hgbench.bench.sweep import run_sweep

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    suite = load_suite(args.suite).at_scale(args.scale)
    for name, value in (("--inits", args.inits), ("--batch-inits", args.batch_inits)):
        if value is not None and value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    runs = suite.expand(
        tasks=args.task, methods=args.method, inits=args.inits, seeds=args.seeds,
        batch_inits=args.batch_inits, device=device, data_dir=args.data_dir,
    )  # fmt: skip
    if not runs:
        raise ValueError("nothing to run: the suite and filters select no runs")
    if not args.quiet:
        log.info("suite %s (%s scale): %d runs -> %s", suite.name, suite.scale, len(runs),
                 args.results)  # fmt: skip
    summary = run_sweep(runs, args.results, _executor(args, device), quiet=args.quiet,
                        rerun_failed=args.rerun_failed)  # fmt: skip
    print(f"hgbench: {summary.line()}; results in {args.results}")
    if not args.no_report:
        _report(args.results, quiet=args.quiet)
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
    df = load_runs(args.results)
    if df.empty:
        print(f"{args.results}: no runs")
        return 0
    from hgbench.reports.terminal import show_text

    print(show_text(df, args.results))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    for path in export_csv(args.results, args.out):
        print(path)
    return 0
