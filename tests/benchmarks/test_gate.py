"""The regression gate itself: it must catch a moved figure and name it."""

from __future__ import annotations

import pytest

from hgbench.bench import regression
from hgbench.methods import METHODS


def test_compare_reports_moved_missing_and_extra_cases() -> None:
    base = {"a@t": {"cost_hvp": 0, "train_loss": 1.0}, "gone@t": {"cost_hvp": 0}}
    cur = {"a@t": {"cost_hvp": 20, "train_loss": 1.0 + 1e-9}, "new@t": {"cost_hvp": 0}}
    problems = regression.compare(base, cur)
    assert any("'a'" in p and "cost_hvp" in p and "from 0 to 20" in p for p in problems)
    assert not any("train_loss" in p for p in problems)  # within relative tolerance
    assert any(p.startswith("gone@t") and "not measured" in p for p in problems)
    assert any(p.startswith("new@t") and "missing from the baseline" in p for p in problems)


def test_loss_beyond_tolerance_and_nonfinite_are_reported() -> None:
    base = {"m@t": {"train_loss": 1.0, "val_loss": 2.0}}
    cur = {"m@t": {"train_loss": 1.001, "val_loss": float("nan")}}
    names = " ".join(regression.compare(base, cur))
    assert "train_loss" in names and "val_loss" in names


@pytest.fixture
def extra_hvp_per_step(monkeypatch):
    """Inject one extra (counted) HVP into every step of `fixed` — a fake regression."""
    cls = METHODS.get("fixed")
    original = cls.step

    def step(self, problem, state, t):
        problem.counter.add(hvp=1)
        return original(self, problem, state, t)

    monkeypatch.setattr(cls, "step", step)


def test_gate_fails_on_injected_extra_hvp(extra_hvp_per_step) -> None:
    case = regression.Case("fixed", regression.BENCH_TASKS[0])
    baseline = regression.load_baseline()
    problems = regression.compare({case.id: baseline[case.id]}, {case.id: regression.measure(case)})
    assert len(problems) == 1
    assert "method 'fixed'" in problems[0] and "cost_hvp" in problems[0]
    assert f"to {regression.BENCH_STEPS}" in problems[0]


def test_missing_baseline_file_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="--update"):
        regression.load_baseline(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"cases": []}')
    with pytest.raises(ValueError, match="schema"):
        regression.load_baseline(bad)
