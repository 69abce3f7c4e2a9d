"""Memory a run owns: its peak above what the worker held just before the run.

* **CPU** (``cpu_run_rss``): Linux keeps a process's peak resident set size (``VmHWM`` in
  ``/proc/self/status``) and resets it to the current RSS when ``5`` is written to
  ``/proc/self/clear_refs``. Just before the run's task is built the worker reads its RSS
  (``VmRSS``: torch's own ~300 MB, the imported modules) and resets the peak; after the run the
  run's peak is ``VmHWM - VmRSS_before - ΔRssFile``. ``ΔRssFile`` is the growth of
  file-backed resident memory during the run: the code pages of torch's shared libraries that
  a forked worker faults in again as it runs (~60 MB on the embedded tasks), which are not the
  run's data. Resolution: one page (4 KiB); memory the allocator reuses without returning it
  to the system counts once. Where the reset is unavailable (not Linux), the figure is
  ``ru_maxrss`` minus the same baseline (``cpu_rss_no_reset``: an upper bound, since an
  earlier peak of the process counts too).
* **CUDA** (``cuda_run_allocated``): ``torch.cuda.max_memory_allocated`` after resetting the
  peak at the run's start, minus ``torch.cuda.memory_allocated`` at that moment.
"""

from __future__ import annotations

import re
import resource
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(field: str) -> int | None:
    try:
        match = re.search(rf"^{field}:\s+(\d+)\s+kB", _STATUS.read_text(), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) if match else None


def _ru_maxrss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)


@dataclass
class MemoryProbe:
    """Started just before a run's task is built; :meth:`peak` after the run."""

    device: torch.device
    baseline: int = 0
    kind: str = ""
    file_baseline: int = 0
    #: CUDA: the run's peak above the baseline as the loop measured it (see :meth:`peak`)
    cuda_run_peak: int = 0

    def start(self) -> MemoryProbe:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.baseline = int(torch.cuda.memory_allocated(self.device))
            torch.cuda.reset_peak_memory_stats(self.device)
            self.kind = "cuda_run_allocated"
            return self
        rss, rss_file = _status_kib("VmRSS"), _status_kib("RssFile")
        self.baseline = rss * 1024 if rss is not None else _ru_maxrss_bytes()
        self.file_baseline = (rss_file or 0) * 1024
        try:
            _CLEAR_REFS.write_text("5")
            self.kind = "cpu_run_rss"
        except OSError:
            self.kind = "cpu_rss_no_reset"
        return self

    def process_peak(self) -> int:
        """The whole process's peak since :meth:`start` (CUDA: max allocated, including the
        run's peak across the loop's per-step counter resets once :meth:`peak` has seen it)."""
        if self.device.type == "cuda":
            return max(int(torch.cuda.max_memory_allocated(self.device)),
                       self.baseline + self.cuda_run_peak)  # fmt: skip
        hwm = _status_kib("VmHWM") if self.kind == "cpu_run_rss" else None
        return hwm * 1024 if hwm is not None else _ru_maxrss_bytes()

    def peak(self, cuda_run_peak: int = 0) -> int:
        """The run's own peak bytes; ``cuda_run_peak``: the loop's peak across its per-step
        counter resets (already relative to the baseline)."""
        if self.device.type == "cuda":
            self.cuda_run_peak = max(self.cuda_run_peak, cuda_run_peak)
            return max(self.cuda_run_peak, self.process_peak() - self.baseline)
        rss_file = _status_kib("RssFile")
        code = max(0, (rss_file or 0) * 1024 - self.file_baseline) if rss_file is not None else 0
        return max(0, self.process_peak() - self.baseline - code)
