"""The ``hgbench`` command line (also ``python -m hgbench``).

Each command group lives next to what it drives and adds its own sub-parser:
``hgbench.tasks.data.cli`` (``hgbench data ...``), ``hgbench.bench.cli`` (``list``, ``run``,
``show``, ``export``) and ``hgbench.reports.cli`` (``report``).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

#: modules that define ``add_commands(subparsers)``; each sub-parser sets ``func(args) -> int``
COMMAND_MODULES = ("hgbench.bench.cli", "hgbench.tasks.data.cli", "hgbench.reports.cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hgbench", description="Benchmark suite for hypergradient methods."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:  # strict: a command module that fails to import is an error
        importlib.import_module(name).add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = set(parser._subparsers._group_actions[0].choices) if parser._subparsers else set()
    if not any(a in commands for a in argv) and not {"-h", "--help"} & set(argv):
        argv = ["run", *argv]  # the main job: `hgbench [run options]` is `hgbench run ...`
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from hgbench.tasks.data.errors import DataError

    try:
        return int(args.func(args) or 0)
    except (ValueError, KeyError, FileNotFoundError, DataError) as exc:
        print(f"hgbench: error: {exc}", file=sys.stderr)
        return 2
