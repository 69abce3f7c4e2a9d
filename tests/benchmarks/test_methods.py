"""pytest-benchmark suite: every registered method × every small benchmark task.

Each case times ``BENCH_STEPS`` seeded weight steps and stores its deterministic figures in
``extra_info``; the figures are a hard gate against ``tests/benchmarks/baseline.json``.
Timings are compared base-vs-head with ``--benchmark-compare`` (README, "Tracking performance
in CI"). In the plain test run (``--benchmark-disable``) each case runs once: the gate alone.
"""

from __future__ import annotations

import platform

import pytest
import torch

from hgbench.bench import regression

CASES = regression.cases()


@pytest.fixture(scope="module")
def baseline() -> dict[str, dict[str, float]]:
    return regression.load_baseline()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_method_case(benchmark, case: regression.Case, baseline) -> None:
    torch.set_num_threads(1)
    figures = regression.measure(case)
    _, _, run = regression.prepare(case)
    benchmark.extra_info.update(figures)
    benchmark.extra_info.update(
        {"threads": torch.get_num_threads(), "device": "cpu", "machine": platform.machine()}
    )
    benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    problems = regression.compare({case.id: baseline.get(case.id, {})}, {case.id: figures})
    if case.id not in baseline:
        problems = [f"{case.id}: measured but missing from the baseline (new case?)"]
    assert not problems, "\n".join(problems)
