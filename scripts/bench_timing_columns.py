"""What the time and memory columns say, measured through the real runner (issue figures).

Three tables, each from sweeps run by ``hgbench run`` into temporary stores:

1. ``--store PATH`` (e.g. a quick-suite store): per task and method, the time ratio vs
   ``fixed`` as cumulative method time (start-up included, the old column) and as steady
   per-step time (the new column), and the start-up share of method time.
2. UCI Energy (``--data-dir``): start-up share of method time per method at 200 and at 4000
   steps (one init, one by one).
3. ``sk_digits``: run-owned peak memory of ``fixed``, ``unrolled_full`` and ``reversible``
   (horizon T = 100, one meta-iteration) next to the whole worker's peak RSS.

    OMP_NUM_THREADS=1 python scripts/bench_timing_columns.py --store hgbench-results/results.sqlite
    OMP_NUM_THREADS=1 python scripts/bench_timing_columns.py --data-dir ../shared/data --energy
    OMP_NUM_THREADS=1 python scripts/bench_timing_columns.py --memory
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from hgbench.bench.store import load_runs

CLARKE = ["fixed", "random_search", "lorraine", "baydin_loglr", "unrolled", "implicit"]


def ratios(store: str) -> pd.DataFrame:
    runs = load_runs(store)
    runs = runs[runs.status == "ok"]
    med = runs.groupby(["task", "label"])[
        ["method_time_s", "step_time_s", "startup_time_s"]
    ].median()
    fixed = med.xs("fixed", level="label")
    out = pd.DataFrame(
        {
            "ratio (cumulative, old)": med.method_time_s
            / fixed.method_time_s.reindex(med.index, level="task"),
            "ratio (steady per-step, new)": med.step_time_s
            / fixed.step_time_s.reindex(med.index, level="task"),
            "start-up share": med.startup_time_s / med.method_time_s,
        }
    )
    return out


def sweep(suite_text: str, extra: list[str]) -> str:
    folder = Path(tempfile.mkdtemp())
    suite = folder / "s.toml"
    suite.write_text(suite_text)
    store = folder / "r.sqlite"
    cmd = [sys.executable, "-m", "hgbench", "run", str(suite), "--results", str(store),
           "--quiet", "--no-report", "--workers", "1", *extra]  # fmt: skip
    subprocess.run(cmd, check=True)
    return str(store)


def energy(data_dir: str) -> pd.DataFrame:
    rows = {}
    methods = ", ".join(f'"{m}"' for m in CLARKE)
    for budget in (200, 4000):
        text = (f'tasks = ["uci_energy"]\nscale = "paper"\nmethods = [{methods}]\ninits = 1\n'
                f"budget = {budget}\neval_every = {budget // 10}\n")  # fmt: skip
        runs = load_runs(sweep(text, ["--data-dir", data_dir]))
        share = runs.set_index("label").startup_time_s / runs.set_index("label").method_time_s
        rows[f"start-up share at {budget} steps"] = share
    return pd.DataFrame(rows)


def memory() -> pd.DataFrame:
    text = (
        'tasks = ["sk_digits"]\ninits = 1\nmethods = ["fixed", '
        '{key = "unrolled_full", settings = {horizon = 100, meta_iterations = 1}}, '
        '{key = "reversible", settings = {horizon = 100, meta_iterations = 1}}]\n'
        "budget = 100\neval_every = 50\n"
    )
    runs = load_runs(sweep(text, [])).set_index("method")
    mib = 2**20
    return pd.DataFrame(
        {
            "run-owned peak (MiB)": runs.peak_memory_bytes / mib,
            "worker peak RSS (MiB)": runs.process_peak_bytes / mib,
            "state (MiB)": runs.state_bytes / mib,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", help="a results store (table 1)")
    parser.add_argument("--energy", action="store_true", help="table 2 (needs --data-dir)")
    parser.add_argument("--data-dir")
    parser.add_argument("--memory", action="store_true", help="table 3")
    args = parser.parse_args()
    with pd.option_context("display.width", 160, "display.max_rows", 200):
        if args.store:
            print(ratios(args.store).round(3).to_string(), "\n")
        if args.energy:
            print(energy(args.data_dir).round(3).to_string(), "\n")
        if args.memory:
            print(memory().round(2).to_string())


if __name__ == "__main__":
    main()
