"""Download official archives, verify their published checksums, extract them safely.

Nothing is written into the data directory unless its checksum matches; an archive is
extracted only when every member is a regular file or directory whose path stays inside the
target (no absolute paths, no ``..``, no links, no device files or FIFOs).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path, PurePosixPath

from hgbench.tasks.data.catalog import DATASETS, DatasetInfo, Source

log = logging.getLogger(__name__)


class ChecksumError(ValueError):
    """Downloaded bytes do not match the published checksum."""


class UnsafeArchiveError(ValueError):
    """An archive member would escape the target directory or is not a plain file/folder."""


def file_digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _url(info: DatasetInfo, src: Source, url_base: str | None) -> str:
    if "://" in src.url:
        return src.url if url_base is None else f"{url_base.rstrip('/')}/{src.dest}"
    return f"{(url_base or info.url_base).rstrip('/')}/{src.url}"


def fetch(url: str, dest: Path, checksum: tuple[str, str], timeout: float = 60.0) -> None:
    """Download ``url`` to ``dest`` through a temporary file, checking ``checksum`` first."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=".part-")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            shutil.copyfileobj(resp, out)
        algorithm, expected = checksum
        if algorithm != "none":
            got = file_digest(tmp, algorithm)
            if got != expected:
                raise ChecksumError(
                    f"checksum mismatch for {url}: {algorithm} {got}, expected {expected}; "
                    "the download is corrupt or the file changed upstream (nothing was written)"
                )
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)


def check_members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """All members, after checking each is a safe regular file or directory."""
    members = tar.getmembers()
    for m in members:
        path = PurePosixPath(m.name)
        if path.is_absolute() or m.name.startswith(("/", "\\")) or ".." in path.parts:
            raise UnsafeArchiveError(f"archive member {m.name!r} escapes the target directory")
        if not (m.isfile() or m.isdir()):
            kind = "link" if (m.issym() or m.islnk()) else "device or special file"
            raise UnsafeArchiveError(f"archive member {m.name!r} is a {kind}; refusing to extract")
    return members


def safe_extract(archive: Path, target: Path) -> None:
    """Extract a tar archive (any compression) into ``target`` after checking every member."""
    with tarfile.open(archive) as tar:
        members = check_members(tar)
        target.mkdir(parents=True, exist_ok=True)
        for m in members:
            dest = target / m.name
            if m.isdir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            src = tar.extractfile(m)
            assert src is not None  # regular file
            with src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out)


def download(
    name: str, data_dir: Path, url_base: str | None = None, force: bool = False
) -> list[Path]:
    """Fetch every source of dataset ``name`` into ``data_dir``; returns the files written."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}")
    info = DATASETS[name]
    written = []
    for src in info.sources:
        url = _url(info, src, url_base)
        if src.extract:
            with tempfile.TemporaryDirectory(dir=data_dir if data_dir.exists() else None) as tmp:
                archive = Path(tmp) / PurePosixPath(src.url).name
                log.info("downloading %s", url)
                fetch(url, archive, src.checksum)
                safe_extract(archive, data_dir)
                written.append(data_dir)
            continue
        dest = data_dir / (src.dest or PurePosixPath(src.url).name)
        if dest.exists() and not force:
            log.info("exists, skipping %s", dest)
            continue
        log.info("downloading %s -> %s", url, dest)
        fetch(url, dest, src.checksum)
        written.append(dest)
    return written
