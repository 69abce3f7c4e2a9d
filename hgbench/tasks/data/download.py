"""Download official archives, verify their published checksums, extract them safely.

Nothing is written into the data directory unless its checksum matches; a source without a
published or pinned checksum is refused unless the caller allows unverified files. An archive is
extracted only when every member is a regular file or directory whose path stays inside the
target (no absolute paths, no ``..``, no links, no device files or FIFOs), into a staging folder
inside the target whose files are moved into place only once the whole archive has been read.
A failed download leaves behind no folder it created and no partial file: files already
verified stay. Every failure is a :class:`~hgbench.tasks.data.errors.DataError` whose one-line
message names the fix.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import logging
import lzma
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path, PurePosixPath

from hgbench.tasks.data.catalog import DATASETS, DatasetInfo, Source
from hgbench.tasks.data.errors import DataError, DownloadError

log = logging.getLogger(__name__)


class ChecksumError(DataError, ValueError):
    """Downloaded bytes do not match the published checksum."""


class UnsafeArchiveError(DataError, ValueError):
    """An archive member would escape the target directory or is not a plain file/folder."""


class CorruptArchiveError(DataError, ValueError):
    """An archive cannot be read to its end (truncated or corrupt), whatever its checksum."""


class UnverifiedSourceError(DataError, ValueError):
    """A source has no published or pinned checksum and unverified files were not allowed."""


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


#: what a failed request or an interrupted transfer raises
_NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError)


def _network_problem(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, TimeoutError):
        return "timed out"
    return f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__


def fetch(
    url: str, dest: Path, checksum: tuple[str, str], timeout: float = 60.0, hint: str = ""
) -> None:
    """Download ``url`` to ``dest`` through a temporary file, checking ``checksum`` first
    (``("none", "")``: no check). Network failures raise :class:`DownloadError` with ``hint``
    (what to do about it) appended."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=".part-")
    tmp = Path(tmp_name)
    try:
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                shutil.copyfileobj(resp, out)
        except _NETWORK_ERRORS as exc:
            raise DownloadError(
                f"cannot download {url}: {_network_problem(exc)}" + (f"; {hint}" if hint else "")
            ) from exc
        algorithm, expected = checksum
        if algorithm != "none":
            got = file_digest(tmp, algorithm)
            if got != expected:
                raise ChecksumError(
                    f"checksum mismatch for {url}: {algorithm} {got}, expected {expected}; "
                    "the download is corrupt, the mirror serves other bytes or the file changed "
                    f"upstream ({dest.name} was not written)"
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


#: what reading a damaged archive raises (tarfile's own errors, or its decompressor's)
_ARCHIVE_ERRORS = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, lzma.LZMAError)


def safe_extract(archive: Path, target: Path) -> list[Path]:
    """Extract a tar archive (any compression) into ``target`` after checking every member;
    returns the files written. Members are written into a staging folder inside ``target`` and
    moved into place only once the whole archive has been read, so a truncated or corrupt
    archive (:class:`CorruptArchiveError`) or a hostile one (:class:`UnsafeArchiveError`)
    leaves ``target`` as it was."""
    target.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target, prefix=".extract-"))
    try:
        try:
            with tarfile.open(archive) as tar:
                members = check_members(tar)
                for m in members:
                    dest = staging / m.name
                    if m.isdir():
                        dest.mkdir(parents=True, exist_ok=True)
                        continue
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    src = tar.extractfile(m)
                    assert src is not None  # regular file
                    with src, open(dest, "wb") as out:
                        shutil.copyfileobj(src, out)
        except _ARCHIVE_ERRORS as exc:
            problem = " ".join(str(exc).split())  # one line (tarfile.open's may have several)
            raise CorruptArchiveError(
                f"archive {archive.name} is truncated or corrupt ({type(exc).__name__}: "
                f"{problem}); nothing was extracted into {target}. Download it again later or "
                "from another mirror (--url-base)"
            ) from exc
        written = []
        for path in sorted(p for p in staging.rglob("*") if p.is_file()):
            dest = target / path.relative_to(staging)
            dest.parent.mkdir(parents=True, exist_ok=True)
            path.replace(dest)
            written.append(dest)
        return written
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _make_dir(path: Path, created: list[Path]) -> None:
    """``mkdir -p path``, appending each folder it creates to ``created`` (outermost first)."""
    missing = []
    for p in (path, *path.parents):
        if p.exists():
            break
        missing.append(p)
    for p in reversed(missing):
        p.mkdir()
        created.append(p)


def _remove_if_empty(folders: list[Path]) -> None:
    for p in reversed(folders):
        try:
            p.rmdir()
        except OSError:
            pass  # not empty (it holds verified files) or already gone


def _hint(name: str, url_base: str | None, src: Source) -> str:
    if url_base:
        return (
            f"check --url-base {url_base}: the mirror must serve the official files under the "
            f"same paths (here {src.url if '://' not in src.url else src.dest})"
        )
    return f"check your network connection, or fetch {name} from a mirror with --url-base"


def download(
    name: str,
    data_dir: Path,
    url_base: str | None = None,
    force: bool = False,
    allow_unverified: bool = False,
) -> list[Path]:
    """Fetch every source of dataset ``name`` into ``data_dir``; returns the files written.

    Sources without a checksum are refused (:class:`UnverifiedSourceError`, before anything is
    fetched) unless ``allow_unverified``. On failure, folders this call created and left empty
    are removed; files already fetched and verified are kept."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}")
    info = DATASETS[name]
    unverified = [src for src in info.sources if not src.verified]
    if unverified and not allow_unverified:
        urls = ", ".join(_url(info, src, url_base) for src in unverified)
        raise UnverifiedSourceError(
            f"{name}: {len(unverified)} file(s) have no published or pinned checksum ({urls}); "
            "nothing was downloaded. Pass --allow-unverified to fetch them anyway"
        )
    for src in unverified:
        log.warning("%s has no checksum: downloading it unverified", _url(info, src, url_base))
    written: list[Path] = []
    created: list[Path] = []
    try:
        _make_dir(data_dir, created)
        for src in info.sources:
            url = _url(info, src, url_base)
            hint = _hint(name, url_base, src)
            if src.extract:
                with tempfile.TemporaryDirectory(dir=data_dir, prefix=".download-") as tmp:
                    archive = Path(tmp) / PurePosixPath(src.url).name
                    log.info("downloading %s", url)
                    fetch(url, archive, src.checksum, hint=hint)
                    written.extend(safe_extract(archive, data_dir))
                continue
            dest = data_dir / (src.dest or PurePosixPath(src.url).name)
            if dest.exists() and not force:
                log.info("exists, skipping %s", dest)
                continue
            _make_dir(dest.parent, created)
            log.info("downloading %s -> %s", url, dest)
            fetch(url, dest, src.checksum, hint=hint)
            written.append(dest)
    except OSError as exc:  # the data directory cannot be written (not a network failure)
        _remove_if_empty(created)
        if isinstance(exc, DataError):
            raise
        where = exc.filename or data_dir
        raise DownloadError(
            f"cannot write {where}: {exc.strerror or exc}; pass --data-dir a writable folder "
            "with enough free space"
        ) from exc
    except BaseException:
        _remove_if_empty(created)
        raise
    return written
