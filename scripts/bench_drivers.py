"""Wall time of one driver and of two cooperating drivers on the same 30-run sweep.

Two ``hgbench run`` processes on one results file split the sweep through claims in the store
(``hgbench.bench.claims``) instead of each running all of it. Each driver uses the default
worker count; the sweep is 3 methods x 10 paired inits on ``sk_digits``, one by one.

    OMP_NUM_THREADS=1 python scripts/bench_drivers.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hgbench.bench.store import load_runs

SUITE = """
tasks = ["sk_digits"]
methods = ["fixed", "hd_sgd", "tower"]
inits = 10
budget = 200
batch_inits = 1
"""


def drivers(n: int, folder: Path) -> tuple[float, list[str]]:
    suite = folder / "s.toml"
    suite.write_text(SUITE)
    store = folder / "r.sqlite"
    cmd = [sys.executable, "-m", "hgbench", "run", str(suite), "--results", str(store),
           "--quiet", "--no-report"]  # fmt: skip
    start = time.perf_counter()
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(n)]
    outs = [p.communicate()[0].strip() for p in procs]
    wall = time.perf_counter() - start
    runs = load_runs(store)
    assert len(runs) == 30 and runs.run_id.is_unique and (runs.status == "ok").all(), outs
    return wall, outs


def main() -> None:
    for n in (1, 2):
        wall, outs = drivers(n, Path(tempfile.mkdtemp()))
        print(f"{n} driver(s): {wall:.1f} s wall for the 30-run sweep")
        for out in outs:
            print("   ", out)


if __name__ == "__main__":
    main()
