"""pytest-benchmark JSON history: ordering, drift, figure and report wiring, bad input.

The synthetic files copy the layout pytest-benchmark 5 writes (``--benchmark-json`` /
``--benchmark-autosave``) for ``tests/benchmarks/test_methods.py``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from hgbench.reports.document import render_html, render_markdown
from hgbench.reports.history import (
    RELATIVE,
    TIME,
    benchmark_history_section,
    drift_table,
    history_figure,
    history_table,
    load_history,
)

CASES = ("fixed@sk_diabetes", "hd_sgd@sk_diabetes")


def bench_entry(param: str, median: float, extra: dict[str, Any]) -> dict[str, Any]:
    name = f"test_method_case[{param}]"
    return {
        "group": None,
        "name": name,
        "fullname": f"tests/benchmarks/test_methods.py::{name}",
        "params": {"case": f"UNSERIALIZABLE[Case(method={param.split('@')[0]!r})]"},
        "param": param,
        "extra_info": {**extra, "threads": 1, "device": "cpu", "machine": "x86_64"},
        "options": {"disable_gc": False, "timer": "perf_counter", "min_rounds": 5},
        "stats": {"min": median * 0.9, "max": median * 1.2, "mean": median, "median": median,
                  "rounds": 3, "iterations": 1, "data": [median] * 3},
    }  # fmt: skip


def write_run(
    path: Path,
    commit: str,
    commit_time: str | None,
    medians: dict[str, float],
    hvp: dict[str, int] | None = None,
    *,
    run_time: str | None = "2026-11-23T11:01:31.938510+00:00",
    dirty: bool = False,
    cpu: str = "AMD EPYC",
) -> Path:
    """A pytest-benchmark JSON file with one benchmark per case of ``medians`` (seconds)."""
    hvp = hvp or {}
    payload = {
        "machine_info": {"node": f"runner-{commit}", "machine": "x86_64", "system": "Linux",
                         "cpu": {"brand_raw": cpu, "count": 2}},
        "commit_info": {"id": commit, "time": commit_time, "author_time": commit_time,
                        "dirty": dirty, "project": "hgbench", "branch": "main"},
        "benchmarks": [
            bench_entry(case, m, {"cost_forward": 0, "cost_gradient": 20,
                                  "cost_hvp": hvp.get(case, 0), "train_loss": 0.8555862008809072,
                                  "val_loss": 0.9552393086124542})
            for case, m in medians.items()
        ],
        "datetime": run_time,
        "version": "5.2.3",
    }  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=4))
    return path


@pytest.fixture
def three_runs(tmp_path: Path) -> list[Path]:
    """Three commits, given out of commit order; fixed slows 10 → 11 → 13 ms, hd_sgd gains an HVP."""
    root = tmp_path / ".benchmarks" / "Linux-CPython-3.11-64bit"
    return [
        write_run(root / "0001_ccc_run.json", "ccc3333aaaa", "2026-11-03T09:00:00+00:00",
                  {CASES[0]: 0.013, CASES[1]: 0.020}, {CASES[1]: 20}, dirty=True),
        write_run(root / "0002_aaa_run.json", "aaa1111bbbb", "2026-11-01T09:00:00+01:00",
                  {CASES[0]: 0.010, CASES[1]: 0.020}),
        write_run(root / "0003_bbb_run.json", "bbb2222cccc", "2026-11-02T09:00:00Z",
                  {CASES[0]: 0.011, CASES[1]: 0.021}),
    ]  # fmt: skip


def test_runs_are_ordered_by_commit_time_not_file_order(three_runs: list[Path]) -> None:
    history = load_history(three_runs)
    runs = history.drop_duplicates("run").sort_values("run")
    assert runs["run_label"].tolist() == ["1:aaa1111", "2:bbb2222", "3:ccc3333+"]
    fixed = history[(history["param"] == CASES[0]) & (history["quantity"] == TIME)]
    assert fixed.sort_values("run")["value"].tolist() == pytest.approx([10.0, 11.0, 13.0])
    # context keys describe the run; they are not tracked quantities
    assert set(history["quantity"]) == {
        TIME, "cost_forward", "cost_gradient", "cost_hvp", "train_loss", "val_loss"
    }  # fmt: skip


def test_directory_is_searched_recursively(three_runs: list[Path]) -> None:
    by_dir = load_history([three_runs[0].parents[1]])
    by_files = load_history(three_runs)
    pd.testing.assert_frame_equal(by_dir, by_files)


def test_without_commit_times_runs_fall_back_to_datetime_then_given_order(tmp_path: Path) -> None:
    late = write_run(tmp_path / "a.json", "unversioned", None, {CASES[0]: 0.002},
                     run_time="2026-11-05T00:00:00+00:00")  # fmt: skip
    early = write_run(tmp_path / "b.json", "unversioned", None, {CASES[0]: 0.001},
                      run_time="2026-11-04T00:00:00+00:00")  # fmt: skip
    history = load_history([late, early])
    assert history.sort_values("run")["file"].drop_duplicates().tolist() == [str(early), str(late)]
    timeless = write_run(tmp_path / "c.json", "unversioned", None, {CASES[0]: 0.003}, run_time=None)
    history = load_history([timeless, late, early])
    order = history.sort_values("run")["file"].drop_duplicates().tolist()
    assert order == [str(timeless), str(late), str(early)]


def test_drift_and_history_tables(three_runs: list[Path]) -> None:
    history = load_history(three_runs)
    drift = drift_table(history).set_index("case")
    fixed, hd = (f"test_method_case[{c}]" for c in CASES)
    assert drift.loc[fixed, "change (%)"] == pytest.approx(30.0)
    assert drift.loc[fixed, "first (ms)"] == pytest.approx(10.0)
    assert drift.loc[fixed, "max (ms)"] == pytest.approx(13.0)
    assert drift.loc[hd, "change (%)"] == pytest.approx(0.0)
    assert drift.loc[hd, "figures that moved"] == "cost_hvp"
    assert drift.loc[fixed, "figures that moved"] == "none"
    assert set(drift["runs"]) == {3}

    wide = history_table(history)
    assert len(wide) == 6
    assert list(wide.columns[:4]) == ["case", "run", "machine", TIME]
    hd_rows = wide[wide["case"] == hd]
    assert hd_rows["cost_hvp"].tolist() == [0, 0, 20]
    assert hd_rows["run"].tolist() == ["1:aaa1111", "2:bbb2222", "3:ccc3333+"]


def test_figure_has_a_panel_per_quantity_and_a_line_per_case(three_runs: list[Path]) -> None:
    history = load_history(three_runs)
    figure = history_figure(history)
    panels = [ax for ax in figure.axes if ax.get_visible()]
    assert len(panels) == 7
    assert panels[0].get_title().startswith(TIME)
    assert panels[1].get_title() == RELATIVE
    assert panels[-1].get_title() == "val_loss"
    for i, ax in enumerate(panels):
        assert len(ax.get_lines()) == len(CASES) + (i == 1)  # + the reference line at 1
        assert [t.get_text() for t in ax.get_xticklabels()] == ["1:aaa1111", "2:bbb2222",
                                                                "3:ccc3333+"]  # fmt: skip

    def ys(ax: object) -> set[tuple[float, ...]]:
        return {tuple(round(float(v), 9) for v in line.get_ydata()) for line in ax.get_lines()}

    assert (10.0, 11.0, 13.0) in ys(panels[0])
    assert {(1.0, 1.1, 1.3), (1.0, 1.05, 1.0)} <= ys(panels[1])
    legend = [t.get_text() for t in figure.legends[0].get_texts()]
    assert sorted(legend) == sorted(CASES)


def test_section_writes_figure_csv_and_renders(three_runs: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "report"
    section = benchmark_history_section(three_runs, out, dpi=20)
    assert section is not None
    for name in ("figures/benchmark_history.png", "figures/benchmark_history.pdf"):
        assert (out / name).stat().st_size > 0
    csv = pd.read_csv(out / "tables" / "benchmark_history.csv")
    assert len(csv) == 3 * 2 * 6
    markdown = render_markdown("r", [section], out)
    html = render_html("r", [section], out)
    for text in (markdown, html):
        assert "Benchmark history" in text
        assert "figures/benchmark_history.png" in text
        assert "3:ccc3333+" in text
    assert "| test_method_case[fixed@sk_diabetes] | 3 | 10 | 13 | 30 |" in markdown
    assert benchmark_history_section([]) is None


def test_runs_from_several_machines_are_flagged(tmp_path: Path, three_runs: list[Path]) -> None:
    same_cpu = benchmark_history_section(three_runs)  # host names differ, the CPU does not
    assert same_cpu is not None
    assert not any("more than one" in str(b) for kind, b in same_cpu.blocks if kind == "text")
    a = write_run(tmp_path / "a.json", "a" * 8, "2026-11-01T00:00:00Z", {CASES[0]: 0.01})
    b = write_run(
        tmp_path / "b.json", "b" * 8, "2026-11-02T00:00:00Z", {CASES[0]: 0.01}, cpu="Xeon"
    )
    section = benchmark_history_section([a, b])
    assert section is not None
    notes = " ".join(str(block) for kind, block in section.blocks if kind == "text")
    assert "more than one machine" in notes


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.json"):
        load_history([tmp_path / "nope.json"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no pytest-benchmark JSON files"):
        load_history([tmp_path / "empty"])
    (tmp_path / "blank.json").write_text("")
    with pytest.raises(ValueError, match=r"blank\.json.*empty: no benchmark ran"):
        load_history([tmp_path / "blank.json"])
    (tmp_path / "other.json").write_text(json.dumps({"runs": []}))
    with pytest.raises(ValueError, match=r"other\.json.*no 'benchmarks' list"):
        load_history([tmp_path / "other.json"])
    broken = write_run(tmp_path / "broken.json", "c" * 8, None, {CASES[0]: 0.01})
    data = json.loads(broken.read_text())
    del data["benchmarks"][0]["stats"]["median"]
    broken.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"broken\.json.*fixed@sk_diabetes.*stats\.median"):
        load_history([broken])


@pytest.mark.slow
def test_hgbench_report_renders_the_history(three_runs: list[Path], tmp_path: Path) -> None:
    from hgbench.bench.store import ResultsStore
    from hgbench.reports.cli import add_commands
    from tests.reports.synthetic import make_sweep

    runs, records = make_sweep(n_inits=2, steps=3)
    with ResultsStore(tmp_path / "results.sqlite") as store:
        store.write(runs.to_dict("records"), records.itertuples(index=False, name=None))
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers())
    args = parser.parse_args(
        ["report", str(tmp_path / "results.sqlite"), "--out", str(tmp_path / "r"),
         "--bootstrap", "10", "--dpi", "20",
         "--benchmark-json", str(three_runs[0].parents[1])]
    )  # fmt: skip
    assert args.func(args) == 0
    markdown = (tmp_path / "r" / "report.md").read_text()
    assert "## Benchmark history" in markdown
    assert "figures/benchmark_history.png" in markdown
    assert (tmp_path / "r" / "figures" / "benchmark_history.png").is_file()


def test_hgbench_report_without_results_renders_the_history_alone(
    three_runs: list[Path], tmp_path: Path
) -> None:
    from hgbench.reports.cli import add_commands

    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers())
    out = tmp_path / "hist"
    args = parser.parse_args(
        ["report", "--out", str(out), "--dpi", "20", "--benchmark-json", str(three_runs[0].parent)]
    )
    assert args.func(args) == 0
    html = (out / "index.html").read_text()
    assert "Benchmark history" in html and "3:ccc3333+" in html
    assert (out / "figures" / "benchmark_history.png").is_file()
    args = parser.parse_args(["report"])
    with pytest.raises(ValueError, match="--benchmark-json"):
        args.func(args)
