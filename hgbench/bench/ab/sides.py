"""The two sides of a comparison as source trees: a checkout path as is, a git ref checked out.

A side given as a directory is used as it is (its working tree, uncommitted edits included).
Any other text is a git ref of the repository the command runs in (``origin/main``, ``HEAD``,
a commit): it is checked out once with ``git worktree add --detach`` into a cache directory
keyed by the commit, and reused by later comparisons of the same commit. Both sides run with
the driver's Python environment (torch and the other dependencies); only hgbench's own source
differs between them (see :mod:`hgbench.bench.ab.worker`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

#: Environment variable naming the directory that holds the checked-out refs.
CACHE_ENV = "HGBENCH_AB_CACHE"


@dataclass(frozen=True)
class Side:
    """One side: what was asked (``spec``), the source tree timed, and its commit."""

    label: str
    spec: str
    source: str
    commit: str | None
    dirty: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ValueError(f"git {' '.join(args)} failed in {cwd}: {done.stderr.strip()}")
    return done.stdout.strip()


def repo_root(cwd: Path | None = None) -> Path:
    """The top of the git working tree the command runs in."""
    return Path(_git("rev-parse", "--show-toplevel", cwd=cwd or Path.cwd()))


def default_cache(repo: Path) -> Path:
    """``$HGBENCH_AB_CACHE``, else ``~/.cache/hgbench/ab/<repo name>-<hash of its path>``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    common = Path(_git("rev-parse", "--path-format=absolute", "--git-common-dir", cwd=repo))
    key = hashlib.sha1(str(common.resolve()).encode()).hexdigest()[:8]
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "hgbench" / "ab" / f"{repo.name}-{key}"


def _checkout_facts(path: Path) -> tuple[str | None, bool]:
    try:
        commit = _git("rev-parse", "HEAD", cwd=path)
        dirty = bool(_git("status", "--porcelain", "--untracked-files=no", cwd=path))
    except (ValueError, FileNotFoundError):
        return None, False
    return commit, dirty


def _check_source(path: Path, spec: str) -> None:
    if not (path / "hgbench" / "bench" / "regression.py").is_file():
        raise ValueError(
            f"side {spec!r} ({path}) is not a checkout of hgbench with hgbench/bench/regression.py"
        )


def worktree_for(repo: Path, commit: str, cache: Path) -> Path:
    """A detached checkout of ``commit`` under ``cache`` (made once, then reused)."""
    path = cache / commit
    if path.is_dir() and _checkout_facts(path) == (commit, False):
        return path
    if path.exists():
        shutil.rmtree(path)
    cache.mkdir(parents=True, exist_ok=True)
    _git("worktree", "prune", cwd=repo)
    _git("worktree", "add", "--detach", str(path), commit, cwd=repo)
    return path


def resolve(label: str, spec: str, *, repo: Path | None = None, cache: Path | None = None) -> Side:
    """The side ``spec``: an existing directory as is, else a git ref of ``repo``."""
    as_path = Path(spec).expanduser()
    if as_path.is_dir():
        path = as_path.resolve()
        _check_source(path, spec)
        commit, dirty = _checkout_facts(path)
        return Side(label, spec, str(path), commit, dirty)
    repo = repo or repo_root()
    try:
        commit = _git("rev-parse", "--verify", "--quiet", f"{spec}^{{commit}}", cwd=repo)
    except ValueError:
        raise ValueError(
            f"{label} {spec!r} is neither a directory nor a git ref of {repo}"
        ) from None
    path = worktree_for(repo, commit, cache or default_cache(repo))
    _check_source(path, spec)
    return Side(label, spec, str(path), commit, False)
