"""The plugin's regression gate: its cases against its own baseline file (``baseline.json``
next to ``pyproject.toml``; rewrite it with the command in ``README.md``)."""

from __future__ import annotations

from pathlib import Path

from hgbench.bench import regression

from hgbench_example.method import PeriodicHD

BASELINE = Path(__file__).resolve().parents[1] / "baseline.json"
CASES = ["periodic_hd@friedman1", "periodic_hd@sk_diabetes", "periodic_hd@sk_digits"]


def test_the_plugin_passes_the_gate_with_its_own_baseline():
    report = regression.check([BASELINE], methods=["periodic_hd"])
    assert report.checked == CASES
    assert report.new == [] and report.problems == []


def test_a_changed_method_fails_its_gate(monkeypatch):
    original = PeriodicHD.step

    def step(self, problem, state, t):  # one extra counted forward pass per step
        problem.counter.add(forward=1)
        return original(self, problem, state, t)

    monkeypatch.setattr(PeriodicHD, "step", step)
    problems = regression.check([BASELINE], methods=["periodic_hd"]).problems
    assert len(problems) == len(CASES)
    assert all("method 'periodic_hd'" in p and "cost_forward moved from 0 to 20" in p
               for p in problems)  # fmt: skip
