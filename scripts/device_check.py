"""The CUDA path, proven and measured: one time-boxed command (see docs/device-check.md).

    python scripts/device_check.py --out OUT --budget-s 400      # on a GPU machine
    python scripts/device_check.py --out /tmp/dc --device cpu --tiny --budget-s 60   # smoke

Runs from a copy of the repository without installing it (the checkout is put first on the
import path) and downloads nothing: tasks whose data are absent run on synthetic tensors of
the real shapes. Writes OUT/device_check.json and OUT/device_check.md after every step.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hgbench.bench.devicecheck.cli import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
