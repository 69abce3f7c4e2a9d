"""Fixtures for the harness tests: the toy task and methods of ``bench_toys``, registered
only while a test module that asks for them runs (so no other test suite sees them)."""

from __future__ import annotations

import bench_toys
import pytest

from hgbench.methods import METHODS
from hgbench.tasks import TASKS


@pytest.fixture(scope="module")
def toys():
    TASKS.register("toy_quadratic")(bench_toys.ToyTask)
    for cls in bench_toys.TOY_METHODS:
        METHODS.register(cls.key)(cls)
    yield bench_toys
    del TASKS._builtin["toy_quadratic"]
    for cls in bench_toys.TOY_METHODS:
        del METHODS._builtin[cls.key]
