"""Wall time of one driver and of two cooperating drivers on the same 30-run sweep.

Two ``hgbench run`` processes on one results file split the sweep through claims in the store
(``hgbench.bench.claims``) instead of each running all of it. The sweep is 3 methods x 10
paired inits on ``sk_digits``, one by one. ``--workers W`` gives each driver W workers (default:
hgbench's default); ``--repeats R`` alternates the one- and two-driver runs R times (the
machine's load changes between runs; compare figures of the same round).

    OMP_NUM_THREADS=1 python scripts/bench_drivers.py --repeats 2
    OMP_NUM_THREADS=1 python scripts/bench_drivers.py --repeats 2 --workers 1
"""

from __future__ import annotations

import argparse
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


def drivers(n: int, folder: Path, workers: list[str]) -> tuple[float, list[str]]:
    suite = folder / "s.toml"
    suite.write_text(SUITE)
    store = folder / "r.sqlite"
    cmd = [sys.executable, "-m", "hgbench", "run", str(suite), "--results", str(store),
           "--quiet", "--no-report", *workers]  # fmt: skip
    start = time.perf_counter()
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(n)]
    outs = [p.communicate()[0].strip() for p in procs]
    wall = time.perf_counter() - start
    runs = load_runs(store)
    assert len(runs) == 30 and runs.run_id.is_unique and (runs.status == "ok").all(), outs
    return wall, outs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, help="workers per driver (default: hgbench's)")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    workers = ["--workers", str(args.workers)] if args.workers else []
    for round_ in range(args.repeats):
        for n in (1, 2) if round_ % 2 == 0 else (2, 1):
            wall, outs = drivers(n, Path(tempfile.mkdtemp()), workers)
            print(f"round {round_}: {n} driver(s): {wall:.1f} s wall for the 30-run sweep")
            for out in outs:
                print("   ", out)


if __name__ == "__main__":
    main()
