"""Compiling a kernel's C source into a shared library once per machine, and loading it.

The library is built with the system C compiler (``$CC``, else ``cc``, ``gcc`` or ``clang``)
at ``-O3 -march=native`` and kept in ``$HGBENCH_CACHE/kernels`` (default
``~/.cache/hgbench/kernels``) under a name hashed from the source, the flags, the compiler's
version and this CPU's feature flags, so a cache shared between machines never hands one
machine another's instructions. A build goes to a temporary file renamed into place, so
concurrent workers never load a half-written library. When no compiler works the kernel is
unavailable, with the reason (:class:`KernelUnavailable`), and callers keep their portable path.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

from hgbench.tasks.data.paths import user_cache

FLAGS = ("-O3", "-fPIC", "-shared")
NATIVE = "-march=native"


class KernelUnavailable(RuntimeError):
    """The kernel cannot be built or loaded here (the message says why, in one line)."""


def cache_dir() -> Path:
    """``$HGBENCH_CACHE/kernels``, else ``kernels`` in the per-user hgbench cache."""
    root = os.environ.get("HGBENCH_CACHE")
    return (Path(root).expanduser() if root else user_cache() / "hgbench") / "kernels"


def compiler() -> str:
    """The C compiler's path; KernelUnavailable when there is none."""
    named = os.environ.get("CC")
    candidates = [named] if named else ["cc", "gcc", "clang"]
    for name in candidates:
        path = shutil.which(name)
        if path:
            return path
    raise KernelUnavailable(
        f"no C compiler ({'$CC=' + named if named else 'cc, gcc or clang'} not found)"
    )


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor()


@lru_cache(maxsize=8)
def _compiler_version(cc: str) -> str:
    try:
        out = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        raise KernelUnavailable(f"C compiler {cc} does not run: {exc}") from exc
    return out.stdout.splitlines()[0] if out.stdout else ""


def _compile(cc: str, source: Path, target: Path, flags: list[str]) -> str | None:
    """Compile ``source`` to ``target`` atomically; None on success, else the first error."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".so.tmp")
        os.close(fd)
    except OSError as exc:
        return f"cannot write the kernel cache {target.parent} ({exc.strerror}; set HGBENCH_CACHE)"
    try:
        done = subprocess.run(
            [cc, *flags, "-o", tmp, str(source)], capture_output=True, text=True, timeout=300
        )
        if done.returncode != 0:
            lines = [
                x for x in done.stderr.splitlines() if "error" in x
            ] or done.stderr.splitlines()
            return lines[0].strip() if lines else f"exit status {done.returncode}"
        os.replace(tmp, target)
        return None
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@lru_cache(maxsize=16)
def load(source: Path, defines: tuple[tuple[str, str], ...] = ()) -> ctypes.CDLL:
    """The shared library of ``source`` built with ``-D`` ``defines`` (built on first use and
    cached on disk); KernelUnavailable with the reason when it cannot be built or loaded."""
    cc = compiler()
    code = source.read_bytes()
    base = [*FLAGS, *(f"-D{k}={v}" for k, v in defines)]
    key = hashlib.sha256(
        b"\0".join(
            [
                code,
                " ".join(base).encode(),
                _compiler_version(cc).encode(),
                platform.machine().encode(),
                _cpu_flags().encode(),
            ]
        )  # fmt: skip
    ).hexdigest()[:16]
    target = cache_dir() / f"{source.stem}-{key}.so"
    if not target.exists():
        error = _compile(cc, source, target, [*base, NATIVE])
        if error is not None:  # a compiler without -march=native: portable code
            error = _compile(cc, source, target, base)
        if error is not None:
            raise KernelUnavailable(f"building {source.name} with {cc} failed: {error}")
    try:
        return ctypes.CDLL(str(target))
    except OSError as exc:
        raise KernelUnavailable(f"loading {target} failed: {exc}") from exc


def source_digest(source: Path) -> str:
    """First 12 hex digits of the source's sha256 (what a run's identity records)."""
    return hashlib.sha256(source.read_bytes()).hexdigest()[:12]
