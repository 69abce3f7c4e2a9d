"""The regression gate itself: it must catch a moved figure and name it; a case without a
baseline entry is new (reported, not failed); plugins keep their own baseline files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from hgbench.bench import regression
from hgbench.bench.baselines import BASELINE_ENV, builtin_baseline, load_baselines
from hgbench.methods import METHODS
from hgbench.registry import Registry

BUILTIN = Path(__file__).with_name("baseline.json")


def test_compare_reports_moved_and_missing_cases_and_new_cases_apart() -> None:
    base = {"a@t": {"cost_hvp": 0, "train_loss": 1.0}, "gone@t": {"cost_hvp": 0}}
    cur = {"a@t": {"cost_hvp": 20, "train_loss": 1.0 + 1e-9}, "new@t": {"cost_hvp": 0}}
    problems = regression.compare(base, cur)
    assert any("'a'" in p and "cost_hvp" in p and "from 0 to 20" in p for p in problems)
    assert not any("train_loss" in p for p in problems)  # within relative tolerance
    assert any(p.startswith("gone@t") and "not measured" in p for p in problems)
    assert not any("new@t" in p for p in problems)  # a new case is not a problem
    assert regression.new_cases(base, cur) == ["new@t"]


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
    baseline = regression.load_baseline(BUILTIN)
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


def test_the_builtin_baseline_is_found_from_the_checkout(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(BASELINE_ENV, raising=False)
    checkout = tmp_path / "checkout"
    (checkout / ".git").mkdir(parents=True)
    (checkout / "tests" / "benchmarks").mkdir(parents=True)
    (checkout / "tests" / "benchmarks" / "baseline.json").write_text("{}")
    inner = checkout / "src" / "deep"
    inner.mkdir(parents=True)
    assert builtin_baseline(checkout) == checkout / "tests" / "benchmarks" / "baseline.json"
    assert builtin_baseline(inner) == checkout / "tests" / "benchmarks" / "baseline.json"
    monkeypatch.setenv(BASELINE_ENV, str(tmp_path / "elsewhere.json"))
    assert builtin_baseline(inner) == tmp_path / "elsewhere.json"
    monkeypatch.delenv(BASELINE_ENV)
    (checkout / "tests" / "benchmarks" / "baseline.json").unlink()
    with pytest.raises(FileNotFoundError, match=f"{BASELINE_ENV}, or pass --baseline FILE"):
        builtin_baseline(inner)


def _baseline_file(path: Path, cases: dict) -> Path:
    path.write_text(json.dumps({"schema": 1, "steps": regression.BENCH_STEPS, "cases": cases}))
    return path


def test_baselines_merge_and_a_case_in_two_files_is_an_error(tmp_path) -> None:
    a = _baseline_file(tmp_path / "a.json", {"m@t": {"cost_hvp": 0}})
    b = _baseline_file(tmp_path / "b.json", {"p@t": {"cost_hvp": 1}})
    assert load_baselines([a, b]) == {"m@t": {"cost_hvp": 0}, "p@t": {"cost_hvp": 1}}
    with pytest.raises(ValueError, match="m@t is in two baselines"):
        load_baselines([a, b, a])


@pytest.fixture
def plugin_method(tmp_path, monkeypatch):
    """A registry of built-in ``fixed`` and ``plugin_fixed`` from an installed-looking
    distribution's entry point (a third-party method no baseline holds)."""
    (tmp_path / "hgb_gate_plugin.py").write_text(
        "from hgbench.methods import METHODS\n\n"
        "class PluginFixed(METHODS.get('fixed')):\n    key = 'plugin_fixed'\n"
    )
    dist = tmp_path / "hgb_gate_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: hgb-gate-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[hgbench.methods]\nplugin_fixed = hgb_gate_plugin:PluginFixed\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry("method", "hgbench.methods")
    registry.register("fixed")(METHODS.get("fixed"))
    monkeypatch.setattr(regression, "METHODS", registry)
    monkeypatch.setenv(BASELINE_ENV, str(BUILTIN))
    yield registry
    sys.modules.pop("hgb_gate_plugin", None)


def test_a_case_without_a_baseline_entry_is_new_not_a_failure(plugin_method, capsys) -> None:
    assert regression.main(["--method", "plugin_fixed"]) == 0
    out = capsys.readouterr().out
    assert "NEW plugin_fixed@sk_diabetes: no baseline entry, not gated" in out
    assert "--update --method plugin_fixed --baseline FILE" in out
    assert "0 cases checked, 2 new, 0 problems" in out


def test_a_plugin_keeps_and_is_gated_by_its_own_baseline(plugin_method, tmp_path, capsys):
    own = tmp_path / "plugin_baseline.json"
    argv = ["--method", "plugin_fixed", "--baseline", str(own)]
    assert regression.main(["--update", *argv]) == 0
    assert sorted(json.loads(own.read_text())["cases"]) == [
        "plugin_fixed@sk_diabetes",
        "plugin_fixed@sk_digits",
    ]  # only that method's cases
    assert regression.main(argv) == 0
    assert "2 cases checked, 0 new, 0 problems" in capsys.readouterr().out
    both = ["--method", "fixed", "--method", "plugin_fixed", "--baseline", str(BUILTIN)]
    assert regression.main([*both, "--baseline", str(own)]) == 0  # the files merge
    assert "4 cases checked, 0 new, 0 problems" in capsys.readouterr().out
    data = json.loads(own.read_text())
    data["cases"]["plugin_fixed@sk_digits"]["cost_gradient"] = 19
    own.write_text(json.dumps(data))
    assert regression.main(argv) == 1
    out = capsys.readouterr().out
    assert "plugin_fixed@sk_digits: method 'plugin_fixed'" in out and "cost_gradient" in out


def test_update_without_method_keeps_the_methods_a_plugin_file_holds(plugin_method, tmp_path):
    own = tmp_path / "plugin_baseline.json"
    assert regression.main(["--update", "--baseline", str(own)]) == 2  # nothing to refresh
    regression.update(own, ["plugin_fixed"], ["sk_diabetes"])
    assert regression.update(own) == ["plugin_fixed@sk_diabetes", "plugin_fixed@sk_digits"]
    with pytest.raises(SystemExit):
        regression.main(["--update", "--baseline", str(own), "--baseline", str(BUILTIN)])


def test_builtin_update_leaves_plugins_out(plugin_method, tmp_path, monkeypatch) -> None:
    target = _baseline_file(tmp_path / "builtin.json", {"gone@sk_diabetes": {"cost_hvp": 0}})
    monkeypatch.setenv(BASELINE_ENV, str(target))
    monkeypatch.setattr(regression, "BENCH_TASKS", ("sk_diabetes",))
    assert regression.update() == ["fixed@sk_diabetes"]  # rewritten: the stale case is gone
    assert list(json.loads(target.read_text())["cases"]) == ["fixed@sk_diabetes"]


def test_an_unmeasured_baseline_case_stays_a_problem(plugin_method, tmp_path, capsys) -> None:
    figures = regression.load_baseline(BUILTIN)["fixed@sk_diabetes"]
    stale = _baseline_file(
        tmp_path / "b.json", {"fixed@sk_diabetes": figures, "removed@sk_diabetes": figures}
    )
    assert regression.main(["--baseline", str(stale), "--task", "sk_diabetes"]) == 1
    out = capsys.readouterr().out
    assert "removed@sk_diabetes: in the baseline but not measured" in out
    assert "NEW plugin_fixed@sk_diabetes" in out


def test_a_bad_baseline_file_is_a_clear_error_exit_2(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    assert regression.main(["--baseline", str(bad), "--method", "fixed"]) == 2
    assert "bad.json: not a baseline file" in capsys.readouterr().err
