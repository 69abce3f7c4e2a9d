"""The plugin's tests need it installed: its entry points are how hgbench finds it."""

from __future__ import annotations

import pytest
import torch
from hgbench.api import METHODS, TASKS


def pytest_configure(config: pytest.Config) -> None:
    if "periodic_hd" not in METHODS or "friedman1" not in TASKS:
        raise pytest.UsageError(
            "hgbench does not see the example plugin's entry points: install it first "
            "(pip install -e examples/hgbench-example-plugin)"
        )


@pytest.fixture
def problem():
    """A small float64 build of the plugin's task (60 rows, MLP 10-8-1)."""
    return TASKS.get("friedman1")(rows=60, width=8).build(dtype=torch.float64)
