"""The default split of the cores between workers and threads (issue 20), and its overrides."""

from __future__ import annotations

import pytest

from hgbench.bench import executors
from hgbench.bench.executors import default_split


@pytest.fixture
def four_cores(monkeypatch):
    monkeypatch.setattr(executors, "available_cores", lambda: 4)


def test_cpu_default_is_the_measured_split(four_cores, monkeypatch) -> None:
    env: dict[str, str] = {}
    workers, threads, why = default_split("cpu", environ=env)
    assert (workers, threads) == (4, 1) and "measured faster" in why
    monkeypatch.setattr(executors, "CPU_SPLIT", "threads")
    assert default_split("cpu", environ=env)[:2] == (1, 4)


def test_flags_override_the_default(four_cores) -> None:
    env: dict[str, str] = {}
    assert default_split("cpu", 3, 2, environ=env)[:2] == (3, 2)
    assert default_split("cpu", 2, environ=env)[:2] == (2, 2)
    assert default_split("cpu", threads=2, environ=env)[:2] == (2, 2)
    assert default_split("cuda", environ=env)[:2] == (1, 4)
    assert default_split("cpu", environ={"OMP_NUM_THREADS": "1"})[:2] == (4, 1)
