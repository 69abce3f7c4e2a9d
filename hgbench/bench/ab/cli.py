"""``hgbench bench compare BASE HEAD``: the command line of the interleaved A/B comparison."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from hgbench.bench.ab.decide import DEFAULT_CONFIDENCE, DEFAULT_THRESHOLD

log = logging.getLogger(__name__)

#: Default time budget of the rounds (s): ~60 rounds of the 12 default cases on a shared
#: 2-core machine (docs/ci-timing.md, "Calibration").
DEFAULT_BUDGET_S = 60.0
#: Tasks compared by default: every method on the cheaper small task.
DEFAULT_TASKS = ("sk_diabetes",)


def _fraction(text: str) -> float:
    value = float(text.rstrip("%")) / (100.0 if text.endswith("%") else 1.0)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction such as 0.05 or 5%, got {text!r}")
    return value


def _positive(kind: type) -> object:
    def parse(text: str) -> float | int:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
        return value

    return parse


def rounds_statistics() -> list[str]:
    from hgbench.bench.ab.rounds import STATISTICS

    return list(STATISTICS)


def add_compare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="time BASE against HEAD in alternation; paired ratios and a verdict per case",
        description="Time every benchmark case (each registered method, plugins included, on "
        "each small task, as the deterministic gate builds it) on BASE and HEAD in alternation, "
        "and decide per case from the paired ratios head/base: slower, faster, no change or "
        "inconclusive at --threshold. BASE and HEAD are git refs (checked out once with `git "
        "worktree`, cached) or paths of hgbench checkouts (`.` is the working tree).",
        epilog="Exit status: 1 when some case is slower (its whole interval above 1 + "
        "threshold), 0 otherwise, 2 on bad input or a side that cannot be imported.",
    )
    p.add_argument("base", help="git ref or checkout path of the base, e.g. origin/main")
    p.add_argument("head", help="git ref or checkout path of the head, e.g. HEAD or .")
    p.add_argument("--method", action="append", help="only these methods (repeatable)")
    p.add_argument(
        "--task", action="append",
        help=f"these tasks (repeatable; default {', '.join(DEFAULT_TASKS)}; the gate's tasks "
        "are sk_diabetes and sk_digits)",
    )  # fmt: skip
    stop = p.add_mutually_exclusive_group()
    stop.add_argument("--rounds", type=_positive(int), help="exactly N rounds (else --budget-s)")
    stop.add_argument(
        "--budget-s", type=_positive(float), default=DEFAULT_BUDGET_S,
        help=f"run rounds until this many seconds are spent (default {DEFAULT_BUDGET_S:g}; at "
        "least 6 rounds)",
    )  # fmt: skip
    p.add_argument(
        "--threshold", type=_fraction, default=DEFAULT_THRESHOLD,
        help=f"relative change that counts (default {DEFAULT_THRESHOLD:g}: 5 %%)",
    )  # fmt: skip
    p.add_argument(
        "--confidence", type=_fraction, default=DEFAULT_CONFIDENCE,
        help=f"level of the sign-test interval (default {DEFAULT_CONFIDENCE:g})",
    )  # fmt: skip
    p.add_argument(
        "--steps",
        type=_positive(int),
        default=20,
        help="timed weight steps per burst, after a fresh init (20)",
    )
    p.add_argument(
        "--statistic", choices=sorted(rounds_statistics()), default="min",
        help="a burst's figure: its fastest step (min, default) or its median step",
    )  # fmt: skip
    p.add_argument("--threads", type=_positive(int), default=1, help="torch threads per side (1)")
    p.add_argument(
        "--workers", type=_positive(int), default=2,
        help="warmed worker processes per side, used in turn (2)",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="seed of the round orders (0)")
    p.add_argument("--json", type=Path, default=Path("hgbench-compare.json"), help="JSON output")
    p.add_argument("--markdown", type=Path, help="also write the Markdown table to this file")
    p.add_argument("--cache-dir", type=Path, help="where git refs are checked out")
    p.set_defaults(func=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    from hgbench.bench import regression
    from hgbench.bench.ab import report, rounds, sides

    started = time.perf_counter()
    repo = None
    if not all(Path(s).expanduser().is_dir() for s in (args.base, args.head)):
        repo = sides.repo_root()
    base = sides.resolve("base", args.base, repo=repo, cache=args.cache_dir)
    head = sides.resolve("head", args.head, repo=repo, cache=args.cache_dir)
    selected = [c.id for c in regression.cases(args.method, args.task or DEFAULT_TASKS)]
    if not selected:
        raise ValueError("no cases: --method and --task select none")
    schedule = rounds.Schedule(
        cases=selected, steps=args.steps, rounds=args.rounds,
        budget_s=None if args.rounds else args.budget_s, threads=args.threads,
        workers=args.workers, seed=args.seed, statistic=args.statistic,
        modes={c: rounds.process_mode(c.split("@", 1)[0]) for c in selected},
    )  # fmt: skip
    log.info("comparing %d cases: base %s (%s) against head %s (%s)", len(selected),
             base.spec, base.source, head.spec, head.source)  # fmt: skip
    try:
        samples, skipped, workers = rounds.run(
            schedule, base, head,
            on_round=lambda n, s: log.debug("round %d done at %.1f s", n, s),
        )  # fmt: skip
    except rounds.WorkerError as exc:
        print(f"hgbench: error: {exc}", file=sys.stderr)
        return 2
    doc = report.build(
        schedule, (base, head), samples, skipped, workers, threshold=args.threshold,
        confidence=args.confidence, wall_s=time.perf_counter() - started,
    )  # fmt: skip
    report.write(doc, args.json, args.markdown)
    print(report.markdown(doc), end="")
    print(f"hgbench: comparison in {args.json}")
    return 1 if report.any_slower(doc) else 0
