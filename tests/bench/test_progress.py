"""Sweep progress on a terminal and off it: no bar (no carriage returns) when piped."""

from __future__ import annotations

import io
import subprocess
import sys

from hgbench.bench.progress import ETA_AFTER, Progress

ROW = {"task": "t", "label": "m", "init_index": 0, "status": "ok", "metric": "mse",
       "final_test_metric": 1.5, "method_time_s": 0.25}  # fmt: skip


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_lines_off_a_terminal_with_an_eta_only_after_a_few_runs():
    out = io.StringIO()
    progress = Progress(5, "auto", stream=out)
    assert progress.mode == "lines"
    for _ in range(5):
        progress.finished(ROW)
    progress.close()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue() and len(lines) == 5
    assert lines[0] == "[1/5] t | m | init 0 | ok | mse=1.5 | 0.25s"
    assert all("left" not in line for line in lines[: ETA_AFTER - 1])
    assert "left)" in lines[ETA_AFTER - 1] and "left" not in lines[-1]


def test_a_bar_on_a_terminal():
    out = _Tty()
    progress = Progress(2, "auto", stream=out)
    assert progress.mode == "bar"
    progress.finished(ROW)
    progress.close()
    assert "\r" in out.getvalue() and "t | m | init 0" in out.getvalue()


def test_a_piped_sweep_prints_plain_lines(tmp_path):
    suite = tmp_path / "s.toml"
    suite.write_text('tasks = ["sk_diabetes"]\nmethods = ["fixed"]\ninits = 4\nbudget = 5\n')
    done = subprocess.run(
        [sys.executable, "-m", "hgbench", "run", str(suite), "--results",
         str(tmp_path / "r.sqlite"), "--no-report", "--workers", "1"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr + done.stdout
    runs = [line for line in done.stderr.splitlines() if line.startswith("[")]
    assert [line.split("]")[0] for line in runs] == ["[1/4", "[2/4", "[3/4", "[4/4"]
