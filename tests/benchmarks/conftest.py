"""Fix and record what the timings depend on: one torch thread, the CPU, the torch build."""

from __future__ import annotations

import os

import pytest
import torch

#: Benchmarks run with one intra-op thread (tiny models oversubscribe two ~20x here).
BENCH_THREADS = 1


@pytest.fixture(autouse=True)
def _fixed_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(BENCH_THREADS)
    yield
    torch.set_num_threads(previous)


def pytest_benchmark_update_machine_info(config, machine_info):
    """Stored with every saved run, so base-vs-head comparisons show what was held fixed."""
    machine_info["torch_threads"] = BENCH_THREADS
    machine_info["omp_num_threads"] = os.environ.get("OMP_NUM_THREADS", "")
    machine_info["device"] = "cpu"
    machine_info["torch_version"] = torch.__version__
