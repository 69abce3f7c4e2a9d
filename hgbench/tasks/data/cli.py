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


def unverified_files(name: str, root: Path) -> list[str]:
    """The present files of dataset ``name`` that have no published checksum to verify."""
    return [rel for rel in DATASETS[name].unverified_files() if (root / rel).is_file()]


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


def _report_unverified(name: str, root: Path) -> None:
    unverified = unverified_files(name, root)
    if unverified:
        print(
            f"  unverified (no published checksum): {', '.join(unverified)}; "
            "checked for well-formedness only"
        )


def cmd_check(args: argparse.Namespace) -> int:
    root = resolve_data_dir(args.data_dir)
    failed = []
    for name in _names(args.name):
        problems = check_dataset(name, root)
        print(f"{name}: {'OK' if not problems else 'FAILED'}")
        for p in problems:
            print(f"  - {p}")
        _report_unverified(name, root)
        if problems:
            failed.append(name)
    for name in failed:
        print(
            f"fix {name}: `hgbench data download {name} --data-dir {root}` fetches missing "
            "files; delete a bad file first (or add --force to fetch every file again)"
        )
    return 1 if failed else 0


def cmd_download(args: argparse.Namespace) -> int:
    root = resolve_data_dir(args.data_dir)
    for name in _names(args.name):
        download(
            name,
            root,
            url_base=args.url_base,
            force=args.force,
            allow_unverified=args.allow_unverified,
        )
        problems = check_dataset(name, root)
        if problems:
            for p in problems:
                print(f"  - {p}")
            return 1
        print(f"{name}: downloaded and verified in {root}")
        _report_unverified(name, root)
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
    p = sub.add_parser(
        "check",
        help="verify files exist, parse and match known sha256; list those without a checksum",
    )
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
    p.add_argument(
        "--allow-unverified",
        action="store_true",
        help="also fetch files that have no published or pinned checksum (refused otherwise)",
    )
    common(p)
    p.set_defaults(func=cmd_download)
