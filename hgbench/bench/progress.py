"""Progress of a sweep on the terminal: a bar on a terminal, plain lines otherwise.

``--progress auto`` (the default) draws a tqdm bar when stderr is a terminal and prints one
plain line per finished run otherwise (a pipe or a file gets no carriage returns). The
estimated time left is shown only once :data:`ETA_AFTER` runs have finished, from the mean
time per finished run so far.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any, TextIO

MODES = ("auto", "bar", "lines", "none")
#: finished runs before an estimate of the time left is shown
ETA_AFTER = 3


def summary_line(row: dict[str, Any]) -> str:
    """``task | label | init k | status | metric=value | time | message`` of one run."""
    metric = row.get("final_test_metric")
    value = (
        f"{row.get('metric', 'metric')}={metric:.4g}"
        if isinstance(metric, float) and not math.isnan(metric)
        else ""
    )
    time_s = row.get("method_time_s")
    timing = f"{time_s:.2f}s" if isinstance(time_s, float) and not math.isnan(time_s) else ""
    parts = [row.get("task", ""), row.get("label", ""), f"init {row.get('init_index')}",
             row.get("status", ""), value, timing, row.get("message") or ""]  # fmt: skip
    return " | ".join(str(p) for p in parts if p != "")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


class Progress:
    """Reports finished runs in the chosen mode (see the module docstring)."""

    def __init__(self, total: int, mode: str = "auto", stream: TextIO | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"--progress must be one of {', '.join(MODES)}, got {mode!r}")
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "bar" if self.stream.isatty() else "lines"
        self.mode = "none" if total == 0 else mode
        self.total, self.done = total, 0
        self.start = time.monotonic()
        self.bar = None
        if self.mode == "bar":
            from tqdm import tqdm

            self.bar = tqdm(
                total=total, unit="run", desc="hgbench", dynamic_ncols=True, file=self.stream,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} "
                "[{elapsed}{postfix}]",
            )  # fmt: skip

    def eta(self) -> str:
        if self.done < ETA_AFTER or self.done >= self.total:
            return ""
        per_run = (time.monotonic() - self.start) / self.done
        return f"~{_duration(per_run * (self.total - self.done))} left"

    def finished(self, row: dict[str, Any]) -> None:
        self.done += 1
        line = summary_line(row)
        if self.mode == "bar" and self.bar is not None:
            self.bar.write(line, file=self.stream)
            eta = self.eta()
            self.bar.set_postfix_str(eta, refresh=False)
            self.bar.update(1)
        elif self.mode == "lines":
            eta = self.eta()
            tail = f" ({eta})" if eta else ""
            print(f"[{self.done}/{self.total}] {line}{tail}", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
