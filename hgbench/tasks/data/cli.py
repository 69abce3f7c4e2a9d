"""``hgbench data list|check|download``: see which datasets are present, verify them, fetch them."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from hgbench.tasks.data.catalog import DATASETS
from hgbench.tasks.data.download import download, file_digest
from hgbench.tasks.data.errors import DataFormatError, MissingDataError
from hgbench.tasks.data.paths import resolve_data_dir

log = logging.getLogger(__name__)


def check_dataset(name: str, root: Path) -> list[str]:
    """Problems found with dataset ``name`` under ``root`` (empty when it is complete)."""
    info = DATASETS[name]
    problems = []
    for rel, sha in info.files.items():
        path = root / rel
        if not path.is_file():
            problems.append(f"missing {path}")
        elif sha is not None and file_digest(path, "sha256") != sha:
            problems.append(f"sha256 mismatch for {path} (expected {sha})")
    if not problems:
        try:
            info.check(root)
        except (MissingDataError, DataFormatError) as exc:
            problems.append(str(exc))
    return problems


def _names(arg: str) -> list[str]:
    if arg == "all":
        return list(DATASETS)
    if arg not in DATASETS:
        raise ValueError(f"unknown dataset {arg!r}; valid: all, {', '.join(DATASETS)}")
    return [arg]


def cmd_list(args: argparse.Namespace) -> int:
    root = resolve_data_dir(args.data_dir)
    print(f"data directory: {root}")
    for name, info in DATASETS.items():
        present = all((root / rel).is_file() for rel in info.files)
        print(f"  {name:14s} {'present' if present else 'missing':8s} {info.description}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    root = resolve_data_dir(args.data_dir)
    failed = 0
    for name in _names(args.name):
        problems = check_dataset(name, root)
        print(f"{name}: {'OK' if not problems else 'FAILED'}")
        for p in problems:
            print(f"  - {p}")
        failed += bool(problems)
    if failed:
        print(f"fix with: hgbench data download NAME --data-dir {root}")
    return 1 if failed else 0


def cmd_download(args: argparse.Namespace) -> int:
    root = resolve_data_dir(args.data_dir)
    for name in _names(args.name):
        download(name, root, url_base=args.url_base, force=args.force)
        problems = check_dataset(name, root)
        if problems:
            for p in problems:
                print(f"  - {p}")
            return 1
        print(f"{name}: downloaded and verified in {root}")
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``data list|check|download`` to the ``hgbench`` parser."""
    data = subparsers.add_parser("data", help="list, check and download datasets")
    sub = data.add_subparsers(dest="data_command", metavar="{list,check,download}", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--data-dir", default=None, help="default: $HGBENCH_DATA or ~/.cache/hgbench"
        )

    p = sub.add_parser("list", help="datasets and whether they are present")
    common(p)
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("check", help="verify files exist, parse and match known sha256")
    p.add_argument("name", help=f"all or one of {', '.join(DATASETS)}")
    common(p)
    p.set_defaults(func=cmd_check)
    p = sub.add_parser(
        "download", help="fetch the official files, verify checksums, extract safely"
    )
    p.add_argument("name", help=f"all or one of {', '.join(DATASETS)}")
    p.add_argument(
        "--url-base", default=None, help="mirror to fetch from instead of the official host"
    )
    p.add_argument("--force", action="store_true", help="re-download files that exist")
    common(p)
    p.set_defaults(func=cmd_download)
