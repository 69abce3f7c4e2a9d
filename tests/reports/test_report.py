"""End to end: a results store written through the store API renders into a complete report."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from hgbench.bench.store import ResultsStore
from hgbench.reports import build_report
from hgbench.reports.cli import add_commands
from hgbench.reports.tables import latex_escape
from tests.reports.synthetic import make_sweep


def write_store(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    runs, records = make_sweep()
    with ResultsStore(path) as store:
        store.write(runs.to_dict("records"), records.itertuples(index=False, name=None))
    return runs, records


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    root = tmp_path_factory.mktemp("report")
    runs, _ = write_store(root / "results.sqlite")
    index = build_report(root / "results.sqlite", root / "out", n_boot=20, dpi=30, pdf=True)
    return index, runs


@pytest.mark.slow
def test_every_file_exists_and_names_every_method(report: tuple[Path, pd.DataFrame]) -> None:
    index, runs = report
    out = index.parent
    labels = set(runs["label"])
    for name in ("index.html", "report.md", "tables/summary.tex", "tables/runs.tex",
                 "tables/summary.csv", "tables/runs.csv"):  # fmt: skip
        text = (out / name).read_text()
        escape = latex_escape if name.endswith(".tex") else str
        assert all(escape(label) in text for label in labels), name
    for name in ("tables/time_to_target.tex", "tables/performance_profile.tex"):
        assert (out / name).stat().st_size > 0
    # reg has lr and momentum for its 3 methods (shared), cls for its 2 (method-specific)
    expected = {f"{kind}_{task}" for kind in ("cdf", "curves", "front") for task in ("reg", "cls")}
    expected |= {"hyper_reg", "hyper_specific_cls", "performance_profile", "paired_outcomes"}
    assert {p.stem for p in (out / "figures").glob("*.png")} == expected
    assert {p.stem for p in (out / "figures").glob("*.pdf")} == expected
    for png in (out / "figures").glob("*.png"):
        task = png.stem.rsplit("_", 1)[-1]
        if task in ("profile", "outcomes"):
            methods = labels if task == "profile" else labels - {"fixed"}
        else:
            methods = set(runs.loc[runs["task"] == task, "label"])
        description = Image.open(png).text["Description"]
        assert all(m in description for m in methods), png.name
        pdf = png.with_suffix(".pdf").read_bytes()
        assert all(m.encode() in pdf for m in methods), png.name
        # every figure is linked from the page, which works without a server
        assert f'src="figures/{png.name}"' in index.read_text()


@pytest.mark.slow
def test_diverged_failed_and_missing_runs_are_counted(report: tuple[Path, pd.DataFrame]) -> None:
    index, _ = report
    summary = pd.read_csv(index.parent / "tables" / "summary.csv").set_index(["task_key", "label"])
    implicit = "implicit[variant=wd_lr]"
    assert summary.loc[("reg", "hd_sgd"), ["n_runs", "n_diverged"]].tolist() == [4, 1]
    assert summary.loc[("reg", implicit), "n_diverged"] == 1  # above the threshold
    assert summary.loc[("reg", "fixed"), "n_failed"] == 1  # oom
    assert summary.loc[("cls", "hd_sgd"), "n_failed"] == 1  # timeout
    assert summary.loc[("cls", implicit), ["n_runs", "n_missing"]].tolist() == [3, 1]
    # cls has no fixed: no ratio, but a median time
    assert pd.isna(summary.loc[("cls", "hd_sgd"), "time_ratio"])
    assert summary.loc[("cls", "hd_sgd"), "time_s"] > 0
    raw = pd.read_csv(index.parent / "tables" / "runs.csv")
    assert len(raw) == 19 and set(raw["counted as"]) == {"valid", "diverged", "failed"}


@pytest.mark.slow
def test_cli_writes_report(tmp_path: Path) -> None:
    write_store(tmp_path / "results.sqlite")
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers())
    args = parser.parse_args(
        ["report", str(tmp_path / "results.sqlite"), "--out", str(tmp_path / "r"),
         "--bootstrap", "10", "--dpi", "20", "--target", "cls=0.65"]
    )  # fmt: skip
    assert args.func(args) == 0
    ttt = pd.read_csv(tmp_path / "r" / "tables" / "time_to_target.csv")
    assert set(ttt.loc[ttt["task_key"] == "cls", "target"]) == {0.65}


def test_missing_results_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.sqlite"):
        build_report(tmp_path / "nope.sqlite", tmp_path / "out")


def test_bad_target_is_a_clear_error(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers())
    args = parser.parse_args(["report", str(tmp_path / "x"), "--target", "reg:1"])
    with pytest.raises(ValueError, match="TASK=VALUE"):
        args.func(args)


@pytest.mark.slow
def test_report_of_a_real_sweep(tmp_path: Path) -> None:
    from hgbench.bench.config import RunConfig
    from hgbench.bench.executors import LocalExecutor
    from hgbench.bench.sweep import run_sweep

    methods = ("fixed", "hd_sgd")
    runs = [RunConfig(task="sk_diabetes", method=m, budget_steps=10, eval_every=5) for m in methods]
    path = tmp_path / "results.sqlite"
    run_sweep(runs, path, LocalExecutor(workers=1), quiet=True)
    index = build_report(path, tmp_path / "out", n_boot=10, dpi=20)
    summary = pd.read_csv(index.parent / "tables" / "summary.csv")
    assert sorted(summary["label"]) == list(methods)
    assert (summary["n_runs"] == 1).all()
    html = index.read_text()
    assert all(m in html for m in methods)
    for kind in ("cdf", "curves", "hyper_specific", "front"):
        assert (index.parent / "figures" / f"{kind}_sk_diabetes.png").stat().st_size > 0
    assert not list((index.parent / "figures").glob("*.pdf"))  # PDFs only with pdf=True


@pytest.mark.slow
@pytest.mark.parametrize(
    "rows",
    [
        [{"method": "fixed", "init_index": i, "status": "error", "final_test_metric": float("nan")}
         for i in range(3)],  # nothing valid, nothing to compare
        [{"method": m, "init_index": i, "final_test_metric": 1.0 + i}
         for m in ("fixed", "hd") for i in range(2)],  # no records: no curves
    ],
    ids=["all-failed", "no-records"],
)  # fmt: skip
def test_degenerate_results_still_render(tmp_path: Path, rows: list[dict]) -> None:
    from hgbench.reports import render_report
    from tests.reports.synthetic import make_records, make_runs

    index = render_report(make_runs(rows), make_records([]), tmp_path, n_boot=10, dpi=30)
    html = index.read_text()
    assert 'id="paired"' in html and "fixed" in html
    assert {p.stem for p in (tmp_path / "figures").glob("*.png")} >= {"cdf_toy", "front_toy"}


def test_header_says_what_the_quick_suite_is(tmp_path: Path) -> None:
    from hgbench.reports.sections import about_section
    from hgbench.reports.stats import classify_runs
    from tests.reports.synthetic import make_runs

    def callouts(suite: str, inits: int) -> list[str]:
        rows = [{"suite": suite, "init_index": i, "budget_steps": 300} for i in range(inits)]
        section = about_section(classify_runs(make_runs(rows)), "r.sqlite")
        return [text for kind, text in section.blocks if kind == "callout"]

    (three,) = callouts("quick", 3)
    assert "plumbing check" in three and "3 paired init(s)" in three and "300 steps" in three
    assert "fewer than 5 no confidence interval" in three
    (six,) = callouts("quick", 6)
    assert "6 paired init(s)" in six and "confidence interval" not in six
    assert callouts("clarke_uci", 3) == []  # the note names the built-in quick suite only


@pytest.mark.slow
def test_forked_drawers_write_the_same_figures(
    report: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    """``jobs=2`` (figures drawn in forked processes) writes the very images of the default."""
    index, _ = report
    forked = build_report(index.parent.parent / "results.sqlite", tmp_path / "out", n_boot=20,
                          dpi=30, pdf=False, jobs=2)  # fmt: skip
    pngs = sorted((index.parent / "figures").glob("*.png"))
    assert pngs and [p.name for p in pngs] == sorted(
        p.name for p in (forked.parent / "figures").glob("*.png")
    )
    for png in pngs:
        a, b = Image.open(png), Image.open(forked.parent / "figures" / png.name)
        assert a.size == b.size and a.tobytes() == b.tobytes(), png.name
