"""``hgbench show`` and ``hgbench compare`` text against hand-computed tables."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from hgbench.bench.store import ResultsStore
from hgbench.reports.cli import add_commands
from hgbench.reports.terminal import compare_text, resolve_label, show_text
from tests.reports.synthetic import make_runs

FIXED = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
HD = [0.5, 2.0, 3.5, np.nan, 4.0, 5.0]


def runs_table():
    rows = [
        {"method": "fixed", "init_index": i, "final_test_metric": v, "untrained_test_metric": 4.0}
        for i, v in enumerate(FIXED)
    ]
    rows += [
        {"method": "hd", "init_index": i, "final_test_metric": v, "untrained_test_metric": 4.0,
         **({"status": "diverged"} if np.isnan(v) else {})}
        for i, v in enumerate(HD)
    ]  # fmt: skip
    rows += [{"method": "implicit", "label": f"implicit[variant={v}]"} for v in ("a", "b")]
    return make_runs(rows)


def _row(text: str, method: str) -> list[str]:
    return next(line.split() for line in text.splitlines() if f" {method} " in f" {line} ")


def test_show_gives_spread_and_runs_no_better_than_untrained() -> None:
    text = show_text(runs_table(), "r.sqlite")
    assert text.splitlines()[0] == "r.sqlite: 14 runs, schema 2"
    fixed = _row(text, "fixed")
    # quartiles of 1..6: 2.25, 3.5, 4.75; final 4, 5, 6 are no better than the untrained 4
    assert fixed[fixed.index("3.5") :][:4] == ["3.5", "2.25", "–", "4.75"]
    assert "3/6" in fixed
    hd = _row(text, "hd")  # valid: 0.5, 2, 3.5, 4, 5; at or above 4: two
    assert "diverged 1, ok 5" in " ".join(hd) and "2/6" in hd


def test_compare_prints_the_paired_head_to_head() -> None:
    text = compare_text(runs_table(), "hd", "fixed", n_boot=200)
    assert text.splitlines()[0].startswith("hd against fixed")
    row = _row(text, "toy")
    # improvements 0.5, 0, -0.5, -inf, 1, 1: 3 wins, 1 tie, 2 losses, median +0.25
    assert row[3:7] == ["6", "3", "1", "2"] and row[7] == "+0.25"  # after "toy mse ↓"
    assert "loss for its method" in text


def test_method_names_resolve_to_labels_or_fail_clearly() -> None:
    runs = runs_table()
    assert resolve_label(runs, "hd") == "hd"
    with pytest.raises(ValueError, match=r"several variants.*implicit\[variant=a\]"):
        resolve_label(runs, "implicit")
    with pytest.raises(ValueError, match="no method 'tower'.*fixed, hd"):
        resolve_label(runs, "tower")
    with pytest.raises(ValueError, match="two different methods"):
        compare_text(runs, "fixed", "fixed")


def test_compare_command_reads_a_store(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with ResultsStore(tmp_path / "r.sqlite") as store:
        store.write(runs_table().to_dict("records"))
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers())
    args = parser.parse_args(["compare", str(tmp_path / "r.sqlite"), "hd", "fixed"])
    assert args.func(args) == 0
    assert "hd against fixed" in capsys.readouterr().out
    args = parser.parse_args(["compare", str(tmp_path / "none.sqlite"), "hd", "fixed"])
    with pytest.raises(FileNotFoundError, match="none.sqlite"):
        args.func(args)
