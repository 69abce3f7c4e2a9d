"""The history report's table of ``hgbench bench compare`` results: commit × case ratios."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hgbench.bench.ab import report
from hgbench.bench.ab.rounds import CaseSamples, Schedule
from hgbench.bench.ab.sides import Side
from hgbench.reports.ab_history import load_comparisons, ratio_table
from hgbench.reports.document import render_markdown
from hgbench.reports.history import benchmark_history_section, split_files
from tests.reports.test_history import write_run


def comparison(path: Path, head: str, created: str, slowdown: float) -> Path:
    """A comparison document of two cases, ``hd_sgd`` ``slowdown`` x slower on the head."""
    samples = {
        "fixed@sk_diabetes": CaseSamples("fixed@sk_diabetes", base=[1e-3] * 10, head=[1e-3] * 10),
        "hd_sgd@sk_diabetes": CaseSamples(
            "hd_sgd@sk_diabetes", base=[2e-3] * 10, head=[2e-3 * slowdown] * 10
        ),
    }
    for s in samples.values():
        s.order = ["BH"] * 10
    sides = (
        Side("base", "origin/main", "/b", "a" * 40, False),
        Side("head", "HEAD", "/h", head, False),
    )
    doc = report.build(
        Schedule(cases=list(samples), rounds=10), sides, samples, {}, {},
        threshold=0.05, confidence=0.95, wall_s=12.0,
    )  # fmt: skip
    doc["created"] = created
    path.write_text(json.dumps(doc))
    return path


def test_comparisons_become_a_commit_by_case_table(tmp_path):
    late = comparison(tmp_path / "b.json", "c" * 40, "2026-12-02T10:00:00+00:00", 1.25)
    early = comparison(tmp_path / "a.json", "b" * 40, "2026-12-01T10:00:00+00:00", 1.0)
    rows = load_comparisons([late, early])
    assert list(rows["head"].unique()) == ["bbbbbbb", "ccccccc"]  # ordered by creation
    slow = rows[(rows["head"] == "ccccccc") & (rows["case"] == "hd_sgd@sk_diabetes")].iloc[0]
    assert slow["verdict"] == "slower" and slow["ratio"] == pytest.approx(1.25)
    table = ratio_table(rows)
    assert list(table["commit"]) == ["bbbbbbb vs aaaaaaa", "ccccccc vs aaaaaaa"]
    assert table.loc[1, "hd_sgd@sk_diabetes"] == "1.250 [1.250, 1.250] slower"
    assert table.loc[0, "fixed@sk_diabetes"].endswith("no change")


def test_the_history_section_holds_both_kinds_of_file(tmp_path):
    ab = comparison(tmp_path / "ab.json", "c" * 40, "2026-12-02T10:00:00+00:00", 1.25)
    bench = write_run(tmp_path / "0001_run.json", "c" * 40, "2026-12-02T09:00:00+00:00",
                      {"fixed@sk_diabetes": 0.01})  # fmt: skip
    assert split_files([ab, bench]) == ([bench], [ab])
    section = benchmark_history_section([tmp_path])
    text = render_markdown("t", [section], tmp_path)
    assert "A/B timing comparisons" in text and "1.250 [1.250, 1.250] slower" in text
    assert "Median time drift per case" in text


def test_comparisons_alone_make_a_history(tmp_path):
    ab = comparison(tmp_path / "ab.json", "c" * 40, "2026-12-02T10:00:00+00:00", 1.0)
    section = benchmark_history_section([ab])
    assert section is not None and section.title == "Benchmark history"
    assert "no change" in render_markdown("t", [section], tmp_path)


def test_a_file_that_is_not_a_comparison_is_named(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text(json.dumps({"kind": "hgbench-ab", "schema": 99}))
    with pytest.raises(ValueError, match="x.json"):
        load_comparisons([bad])
