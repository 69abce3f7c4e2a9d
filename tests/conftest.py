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
