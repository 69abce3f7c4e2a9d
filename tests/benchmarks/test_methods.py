"""pytest-benchmark suite: every registered method × every small benchmark task.

Each case times ``BENCH_STEPS`` seeded weight steps and stores its deterministic figures in
``extra_info``; the figures are a hard gate against ``tests/benchmarks/baseline.json``. A case
the baseline lacks (an installed plugin's method) is a new case: it skips, saying so.
Timings are compared base-vs-head with ``--benchmark-compare`` (README, "Tracking performance
in CI"). In the plain test run (``--benchmark-disable``) each case runs once: the gate alone.
"""

from __future__ import annotations

import platform
from pathlib import Path

import pytest
import torch

from hgbench.bench import regression

CASES = regression.cases()
#: the built-in baseline of this checkout
BASELINE = Path(__file__).with_name("baseline.json")


@pytest.fixture(scope="module")
def baseline() -> dict[str, dict[str, float]]:
    return regression.load_baseline(BASELINE)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_method_case(benchmark, case: regression.Case, baseline) -> None:
    if case.id not in baseline:
        pytest.skip(regression.new_case_message(case.id))
    torch.set_num_threads(1)
    figures = regression.measure(case)
    _, _, run = regression.prepare(case)
    benchmark.extra_info.update(figures)
    benchmark.extra_info.update(
        {"threads": torch.get_num_threads(), "device": "cpu", "machine": platform.machine()}
    )
    benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    problems = regression.compare({case.id: baseline[case.id]}, {case.id: figures})
    assert not problems, "\n".join(problems)


def test_every_case_of_the_builtin_baseline_is_measured(baseline) -> None:
    unmeasured = sorted(set(baseline) - {c.id for c in CASES})
    assert not unmeasured, f"in the baseline but not measured (case removed?): {unmeasured}"
