"""What the time and memory columns mean: start-up apart from steady state, run-owned memory."""

from __future__ import annotations

import pytest
import torch

from hgbench.bench.config import RunConfig, WorkItem
from hgbench.bench.executors import LocalExecutor
from hgbench.bench.store import load_runs
from hgbench.bench.sweep import run_sweep
from hgbench.bench.worker import execute

MIB = 2**20


def _cfg(**kw) -> RunConfig:
    base = dict(task="toy_quadratic", method="toy_sgd", dtype="float64")
    base.update(kw)
    return RunConfig(**base)


@pytest.mark.parametrize("batched", [False, True])
def test_startup_is_apart_from_steady_state(toys, batched):
    sleep = 0.5
    n = 2 if batched else 1
    runs = tuple(
        _cfg(method="toy_slow_start", init_index=k, batch_size=n,
             method_settings={"first_sleep_s": sleep})
        for k in range(n)
    )  # fmt: skip
    rows = execute(WorkItem(runs))["runs"]
    for row in rows:
        assert row["status"] == "ok", row["message"]
        # the first step's sleep is start-up (per init: the batch's divided by its size)
        assert row["startup_time_s"] >= sleep / n
        assert row["startup_steps"] == 1
        assert row["step_time_s"] < sleep / 10  # later steps do not sleep (a loose bound)
        assert row["steady_time_s"] == pytest.approx(row["method_time_s"] - row["startup_time_s"])


def test_cpu_run_owned_memory_is_the_known_allocation(toys, tmp_path):
    """Through forked workers, as a sweep runs: the peak is the ballast, not torch's RSS."""
    sizes = (64, 192)
    runs = [_cfg(method="toy_allocate", init_index=k, method_settings={"mib": m})
            for k, m in enumerate(sizes)]  # fmt: skip
    path = tmp_path / "r.sqlite"
    run_sweep(runs, path, LocalExecutor(workers=1), quiet=True)
    df = load_runs(path).set_index("init_index")
    for k, mib in enumerate(sizes):
        row = df.loc[k]
        assert row.status == "ok" and row.memory_kind == "cpu_run_rss"
        # tolerance: 8 MiB of the run's own temporaries and allocator slack, plus 3 %
        assert abs(row.peak_memory_bytes - mib * MIB) <= 8 * MIB + 0.03 * mib * MIB
        assert row.process_peak_bytes > row.peak_memory_bytes + 100 * MIB  # torch's own RSS
        assert row.state_bytes >= mib * MIB
    growth = df.loc[1].peak_memory_bytes - df.loc[0].peak_memory_bytes
    assert growth == pytest.approx((sizes[1] - sizes[0]) * MIB, rel=0.05)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_run_owned_memory_is_the_known_allocation(toys):
    for mib in (64, 192):
        (row,) = execute(
            WorkItem((_cfg(method="toy_allocate", device="cuda", method_settings={"mib": mib}),))
        )["runs"]
        assert row["status"] == "ok" and row["memory_kind"] == "cuda_run_allocated"
        # the caching allocator rounds blocks up to 2 MiB; the toy's own tensors are tiny
        assert mib * MIB <= row["peak_memory_bytes"] <= mib * MIB + 4 * MIB
