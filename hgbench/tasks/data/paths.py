"""Where datasets live: ``--data-dir``, else ``$HGBENCH_DATA``, else a per-user cache."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def resolve_data_dir(
    explicit: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Path:
    """The data directory: ``explicit`` if given, else ``$HGBENCH_DATA``, else
    ``$XDG_CACHE_HOME/hgbench`` (``~/.cache/hgbench`` when XDG_CACHE_HOME is unset).

    Pure: reads only its arguments (``environ`` defaults to ``os.environ``); creates nothing.
    """
    env = os.environ if environ is None else environ
    if explicit:
        return Path(explicit).expanduser()
    if env.get("HGBENCH_DATA"):
        return Path(env["HGBENCH_DATA"]).expanduser()
    return user_cache(env) / "hgbench"


def user_cache(environ: Mapping[str, str] | None = None) -> Path:
    """The per-user cache root: ``$XDG_CACHE_HOME``, else ``~/.cache`` (creates nothing)."""
    env = os.environ if environ is None else environ
    return Path(
        env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME", "~")) / ".cache")
    ).expanduser()
