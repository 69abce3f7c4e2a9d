"""Shared test configuration: tests marked ``real_data`` skip unless HGBENCH_DATA is set."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "bench"))  # the toy tasks and methods


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("HGBENCH_DATA"):
        return
    skip = pytest.mark.skip(reason="real data: set HGBENCH_DATA to the data directory")
    for item in items:
        if "real_data" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _caches_in_tmp(tmp_path_factory: pytest.TempPathFactory):
    """Data-fingerprint digests and compiled kernels go to a temporary cache, never the
    user's (workers inherit it)."""
    mp = pytest.MonkeyPatch()
    if not os.environ.get("HGBENCH_DIGEST_CACHE"):
        mp.setenv("HGBENCH_DIGEST_CACHE", str(tmp_path_factory.mktemp("cache") / "digests.json"))
    if not os.environ.get("HGBENCH_CACHE"):  # compiled kernels too (hgbench.tasks.fused)
        mp.setenv("HGBENCH_CACHE", str(tmp_path_factory.mktemp("hgbench-cache")))
    yield
    mp.undo()


@pytest.fixture(scope="module")
def toys():
    """The toy task and methods of ``tests/bench/bench_toys.py``, registered only while a test
    module that asks for them runs (so no other module sees them)."""
    import bench_toys

    from hgbench.methods import METHODS
    from hgbench.tasks import TASKS

    TASKS.register("toy_quadratic")(bench_toys.ToyTask)
    for cls in bench_toys.TOY_METHODS:
        METHODS.register(cls.key)(cls)
    yield bench_toys
    del TASKS._builtin["toy_quadratic"]
    for cls in bench_toys.TOY_METHODS:
        del METHODS._builtin[cls.key]
