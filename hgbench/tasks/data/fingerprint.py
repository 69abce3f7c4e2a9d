"""Fingerprints of the data files a task reads, so that a run's identity follows its data.

:func:`data_fingerprint` is the sha256 over ``(relative name, sha256 of content)`` of each file,
names taken relative to the files' common folder: identical copies in two folders give the same
fingerprint, and changing one byte of one file changes it. :func:`task_fingerprint` applies it
to the files a task declares with ``data_files(data_dir)``.

Per-file digests are cached, keyed by the file's absolute path, device, inode, size, mtime and
ctime (any rewrite changes one of them), so a repeated call costs one ``stat`` per file:

* in this process, in memory;
* across processes, in a JSON file in the user's cache folder (``$HGBENCH_DIGEST_CACHE``, else
  ``$XDG_CACHE_HOME/hgbench-digests.json``, else ``~/.cache/hgbench-digests.json``). It is
  never written inside a data directory (which may be read-only or shared); a cache file that
  cannot be read or written is ignored, at the cost of hashing again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hgbench.tasks.data.paths import user_cache

log = logging.getLogger(__name__)

#: bump when the fingerprint's construction changes (it is mixed into every fingerprint)
FINGERPRINT_VERSION = "hgbench-data-v1"
_CACHE_VERSION = 1
_MAX_ENTRIES = 10_000
_CHUNK = 1 << 20

_memo: dict[tuple[str, int, int, int, int, int], str] = {}
_disk: dict[str, list[Any]] | None = None


def digest_cache_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where per-file digests are kept between processes (see the module docstring)."""
    env = os.environ if environ is None else environ
    if env.get("HGBENCH_DIGEST_CACHE"):
        return Path(env["HGBENCH_DIGEST_CACHE"]).expanduser()
    return user_cache(env) / "hgbench-digests.json"


def clear_memory_cache() -> None:
    """Forget the digests held in this process (the on-disk cache is kept)."""
    global _disk
    _memo.clear()
    _disk = None


def _hash_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _load_disk(path: Path) -> dict[str, list[Any]]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict) or raw.get("version") != _CACHE_VERSION:
        return {}
    files = raw.get("files")
    return files if isinstance(files, dict) else {}


def _save_disk(path: Path, new: dict[str, list[Any]]) -> None:
    """Merge ``new`` into the cache file (dropping entries of files that no longer exist),
    written atomically; failures are logged and ignored."""
    merged = {k: v for k, v in _load_disk(path).items() if os.path.exists(k)}
    merged.update(new)
    if len(merged) > _MAX_ENTRIES:
        merged = dict(list(merged.items())[-_MAX_ENTRIES:])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".digests-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"version": _CACHE_VERSION, "files": merged}, f)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError as exc:
        log.debug("digest cache %s not written: %s", path, exc)


def _file_key(path: Path) -> tuple[str, int, int, int, int, int]:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise FileNotFoundError(f"cannot fingerprint missing data file {path}") from None
    return (str(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def file_digests(paths: Iterable[str | os.PathLike[str]]) -> dict[Path, str]:
    """The sha256 of each file's content (absolute path -> hex), from the caches when the file
    is unchanged; new digests are added to both caches."""
    global _disk
    out: dict[Path, str] = {}
    fresh: dict[str, list[Any]] = {}
    cache_file = digest_cache_path()
    for p in paths:
        path = Path(os.path.abspath(p))
        key = _file_key(path)
        digest = _memo.get(key)
        if digest is None:
            if _disk is None:
                _disk = _load_disk(cache_file)
            entry = _disk.get(key[0])
            if isinstance(entry, list) and len(entry) == 6 and tuple(entry[:5]) == key[1:]:
                digest = str(entry[5])
            else:
                digest = _hash_file(path)
                if _file_key(path) != key:  # changed while being read: not cached
                    out[path] = digest
                    continue
                fresh[key[0]] = [*key[1:], digest]
            _memo[key] = digest
        out[path] = digest
    if fresh:
        _save_disk(cache_file, fresh)
        assert _disk is not None
        _disk.update(fresh)
    return out


def data_fingerprint(paths: Iterable[str | os.PathLike[str]]) -> str:
    """sha256 (hex) over the sorted ``(name relative to the files' common folder, sha256 of
    content)`` of ``paths``; ``""`` when there are none. A missing file raises
    ``FileNotFoundError`` naming it."""
    digests = file_digests(paths)
    if not digests:
        return ""
    common = Path(os.path.commonpath([str(p.parent) for p in digests]))
    h = hashlib.sha256(FINGERPRINT_VERSION.encode())
    for name, digest in sorted((p.relative_to(common).as_posix(), d) for p, d in digests.items()):
        h.update(f"\0{name}\0{digest}".encode())
    return h.hexdigest()


def task_fingerprint(task: object, data_dir: str | os.PathLike[str] | None = None) -> str:
    """:func:`data_fingerprint` of the files ``task.data_files(data_dir)`` declares (``""``
    for a task without data files, or without a ``data_files`` method). A missing file raises
    the task's :class:`~hgbench.tasks.data.errors.MissingDataError`."""
    data_files = getattr(task, "data_files", None)
    if data_files is None:
        return ""
    return data_fingerprint(data_files(None if data_dir is None else str(data_dir)))
