"""Step 1 of the device check: the CUDA-marked tests, in a pytest subprocess, summarised from
its JUnit XML report."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

#: ``-o addopts=`` drops the project's ``--benchmark-disable`` (pytest-benchmark may be absent);
#: ``-v`` prints each outcome as it comes, so a run cut short still tells what it did
PYTEST_ARGS = ("-m", "cuda", "-v", "-p", "no:cacheprovider", "-o", "addopts=", "-rfEs")
_VERBOSE = re.compile(r"^(\S+::.*?) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\b", re.MULTILINE)


def pytest_command(junit: Path, paths: tuple[str, ...] = ("tests",)) -> list[str]:
    return [sys.executable, "-m", "pytest", *PYTEST_ARGS, f"--junitxml={junit}", *paths]


def parse_junit(path: Path) -> dict[str, Any]:
    """Counts by outcome and one entry per test case (failures with their first lines)."""
    root = ET.parse(path).getroot()
    cases = []
    for case in root.iter("testcase"):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                text = node.get("message") or node.text or ""
                message = text.strip().splitlines()[0][:300] if text.strip() else ""
                break
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        cases.append({"name": name, "outcome": outcome, "message": message,
                      "time_s": float(case.get("time") or 0.0)})  # fmt: skip
    counts = {k: sum(c["outcome"] == k for c in cases)
              for k in ("passed", "failed", "error", "skipped")}  # fmt: skip
    return {"counts": counts, "tests": cases}


def parse_verbose(text: str) -> dict[str, Any]:
    """Counts and outcomes from ``pytest -v`` output (what a run cut short printed)."""
    names = {"PASSED": "passed", "FAILED": "failed", "ERROR": "error", "SKIPPED": "skipped",
             "XFAIL": "skipped", "XPASS": "passed"}  # fmt: skip
    cases = [{"name": n, "outcome": names[o], "message": "", "time_s": 0.0}
             for n, o in _VERBOSE.findall(text)]  # fmt: skip
    counts = {k: sum(c["outcome"] == k for c in cases)
              for k in ("passed", "failed", "error", "skipped")}  # fmt: skip
    return {"counts": counts, "tests": cases}


def run_cuda_tests(junit: Path, timeout_s: float, cwd: Path) -> dict[str, Any]:
    """Run the CUDA-marked tests; the summary, or what is known when pytest ran out of time
    or wrote no report."""
    cmd = pytest_command(junit)
    out: dict[str, Any] = {"command": " ".join(cmd[1:])}
    try:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout_s,
                              check=False)  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        text = exc.stdout or b""
        text = text.decode(errors="replace") if isinstance(text, bytes) else text
        out.update(status="timeout", output_tail=text[-3000:], **parse_verbose(text))
        out["error"] = f"pytest ran past {timeout_s:.0f} s; outcomes so far from its output"
        return out
    out["returncode"] = done.returncode
    out["output_tail"] = (done.stdout + done.stderr)[-3000:]
    if not junit.is_file():
        out["status"] = "failed"
        out["error"] = "pytest wrote no JUnit report"
        return out
    out.update(parse_junit(junit))
    c = out["counts"]
    out["status"] = (
        "ok" if c["failed"] == c["error"] == 0 and done.returncode in (0, 5) else "failed"
    )
    return out
