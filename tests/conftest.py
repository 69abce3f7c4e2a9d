"""Shared test configuration: tests marked ``real_data`` skip unless HGBENCH_DATA is set."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("HGBENCH_DATA"):
        return
    skip = pytest.mark.skip(reason="real data: set HGBENCH_DATA to the data directory")
    for item in items:
        if "real_data" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _digest_cache_in_tmp(tmp_path_factory: pytest.TempPathFactory):
    """Data-fingerprint digests go to a temporary cache, never the user's (workers inherit it)."""
    mp = pytest.MonkeyPatch()
    if not os.environ.get("HGBENCH_DIGEST_CACHE"):
        mp.setenv("HGBENCH_DIGEST_CACHE", str(tmp_path_factory.mktemp("cache") / "digests.json"))
    yield
    mp.undo()
