"""Freed memory kept in the process for batched CPU steps (issue 20): once per process, and off
with HGBENCH_KEEP_FREED=0."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

CODE = "from hgbench.bench.allocator import kept, retain_freed_memory as r; print(kept(), r(), r())"


def _run(env_value: str | None) -> str:
    env = {} if env_value is None else {"HGBENCH_KEEP_FREED": env_value}
    out = subprocess.run(
        [sys.executable, "-c", CODE], env={**os.environ, **env}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_kept_on_linux_glibc_and_off_on_request() -> None:
    on = _run(None)
    expected = "False True True" if platform.libc_ver()[0] == "glibc" else "False False False"
    assert on == expected
    assert _run("0") == "False False False"
