"""Build a report directory (``index.html``, ``report.md``, ``tables/``, ``figures/``) from results.

Order of the page: what the results are (with a warning for plumbing-check suites), the paired
head-to-head, the per-method summaries (final metric; time, memory and cost), time to target
and performance profiles, figures per task, all runs, provenance.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from hgbench.bench.schema import RECORD_COLUMNS
from hgbench.reports import figures as fig
from hgbench.reports.document import Section, render_html, render_markdown
from hgbench.reports.history import benchmark_history_section
from hgbench.reports.hyper import hyper_figure
from hgbench.reports.paired_report import paired_section
from hgbench.reports.render import FigureQueue
from hgbench.reports.schedules import SCHEDULE_METRIC, schedule_figure
from hgbench.reports.sections import about_section, provenance_section, runs_table
from hgbench.reports.stats import (
    GROUP,
    MIN_CI_RUNS,
    classify_runs,
    final_metric_summary,
    require_columns,
    resource_summary,
    untrained_summary,
)
from hgbench.reports.style import MAX_BANDS, palette
from hgbench.reports.tables import (
    APPROXIMATE_NOTE,
    DERIVED_NOTE,
    ESTIMATED_NOTE,
    cost_display,
    metric_display,
    plain_display,
    time_to_target_display,
    to_latex,
)
from hgbench.reports.timing import (
    baseline_targets,
    performance_profile,
    performance_ratios,
    time_ratios,
    time_to_target,
    time_to_target_summary,
)

log = logging.getLogger(__name__)

#: the tau values of the performance-profile table
PROFILE_TAUS = (1.0, 1.25, 1.5, 2.0, 4.0, 10.0)


def build_report(results_path: str | Path, out_dir: str | Path, **options: object) -> Path:
    """Write the report of the results store ``results_path`` into ``out_dir``.

    Loads the runs and records with :mod:`hgbench.bench.store` and calls
    :func:`render_report` (whose keyword ``options`` it forwards). Returns ``index.html``'s path.
    """
    from hgbench.bench import store

    path = Path(results_path)
    if not path.is_file():
        raise FileNotFoundError(f"results file {str(path)!r} does not exist")
    runs, records = store.load_runs(path), store.load_records(path)
    return render_report(runs, records, out_dir, source=str(path), **options)  # type: ignore[arg-type]


def slug(text: str) -> str:
    """``text`` made safe as a file name."""
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", text).strip("_") or "task"


def summary_table(runs: pd.DataFrame, *, n_boot: int, confidence: float, seed: int) -> pd.DataFrame:
    """The numeric per task x method summary: final metric statistics, resources and time."""
    out = final_metric_summary(runs, n_boot=n_boot, confidence=confidence, seed=seed)
    out = out.merge(untrained_summary(runs), on=GROUP, how="left")
    out = out.merge(resource_summary(runs), on=GROUP, how="left")
    out = out.merge(time_ratios(runs), on=GROUP, how="left")
    out["memory_mib"] = out["peak_memory_bytes"].astype(float) / 2**20
    out["step_time_ms"] = out["step_time_s"].astype(float) * 1e3
    return out


def render_report(
    runs: pd.DataFrame,
    records: pd.DataFrame,
    out_dir: str | Path,
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    targets: Mapping[str, float] | None = None,
    target_split: str = "test",
    dpi: int = 150,
    pdf: bool = False,
    jobs: int | None = None,
    benchmark_json: Sequence[str | Path] = (),
    source: str = "",
) -> Path:
    """Write the report of ``runs`` and ``records`` (store schema) into ``out_dir``.

    ``targets`` maps task keys to a target metric for time to target; tasks not in it use the
    median final test metric of ``fixed``. ``pdf`` adds a vector PDF of every figure (for
    papers; it about doubles the time figures take). ``jobs``: processes drawing the figures
    (default 1, in this process; see :mod:`hgbench.reports.render`). Returns the path of
    ``index.html``.
    """
    require_columns(records, RECORD_COLUMNS, "records")
    if runs.empty:
        raise ValueError(f"no runs to report{' in ' + source if source else ''}")
    out = Path(out_dir)
    tables_dir, figures_dir = out / "tables", out / "figures"
    for d in (tables_dir, figures_dir):
        d.mkdir(parents=True, exist_ok=True)
    runs = classify_runs(runs)
    styles = palette(runs["label"])
    save = FigureQueue(figures_dir, dpi, pdf)

    summary = summary_table(runs, n_boot=n_boot, confidence=confidence, seed=seed)
    summary.to_csv(tables_dir / "summary.csv", index=False)
    sections = [
        about_section(runs, source),
        paired_section(runs, tables_dir, save, n_boot=n_boot, confidence=confidence, seed=seed),
        _summary_section(summary, tables_dir, n_boot, confidence),
        _speed_section(runs, records, targets, target_split, tables_dir, styles, save),
        *(
            _task_figures(str(task_key), task_runs, records, summary, styles, target_split, save)
            for task_key, task_runs in runs.groupby("task_key", sort=True)
        ),
        _runs_section(runs, tables_dir),
        provenance_section(runs),
    ]
    save.write(jobs)
    history = benchmark_history_section(benchmark_json, out, dpi=dpi)
    if history is not None:
        sections.append(history)
    title = "hgbench report"
    (out / "report.md").write_text(render_markdown(title, sections, out))
    index = out / "index.html"
    index.write_text(render_html(title, sections, out))
    log.info("report written to %s", index)
    return index


def _summary_section(
    summary: pd.DataFrame, tables_dir: Path, n_boot: int, confidence: float
) -> Section:
    pct = f"{round(confidence * 100)}%"
    section = Section("Summary per task and method", anchor="summary")
    metric, metric_marks = metric_display(summary, confidence)
    cost, cost_marks = cost_display(summary)
    for stem, table, marks, caption in (
        ("summary", metric, metric_marks, "Final test metric and divergence per task and method"),
        ("cost", cost, cost_marks, "Time, memory and counted cost per task and method"),
    ):
        (tables_dir / f"{stem}.tex").write_text(
            to_latex(table, marks, caption=caption, label=f"tab:{stem}", group="task")
        )
    section.text(
        f"Final test metric over the valid runs (not diverged, not failed). Brackets: {pct} "
        f"percentile bootstrap intervals ({n_boot} resamples of runs, drawn at once as one "
        f"index matrix per cell), shown only from {MIN_CI_RUNS} valid runs on. Bold: best in "
        f"its column within a task; italics: tied with the best within its interval. "
        f"Diverged: status diverged, non-finite final metric or above the task's divergence "
        f"threshold. No better than untrained: valid runs whose final test metric is no better "
        f"than the initial weights' (training did not help)."
    )
    section.table(metric, metric_marks, "Final test metric", split_by="task", hoist=("metric",))
    section.text(
        f"Time ratio vs fixed: median over finished runs of the steady per-step time (after "
        f"start-up) / the median of fixed's on the same task and budget. Start-up: method "
        f"init plus what the first step of each phase took beyond the steady per-step time "
        f"(tracing, warm-up), median over runs. Method time: start-up + "
        f"steady. Peak memory: the run's own (above the worker's baseline; see the kind). Cost "
        f"counters are medians per init. {DERIVED_NOTE}. {ESTIMATED_NOTE}. {APPROXIMATE_NOTE}."
    )
    section.table(cost, cost_marks, "Time, memory and cost", split_by="task",
                  hoist=("memory kind",))  # fmt: skip
    return section


def _speed_section(runs, records, targets, target_split, tables_dir, styles, save) -> Section:
    targets_all = baseline_targets(runs).to_dict() | dict(targets or {})
    per_run = time_to_target(runs, records, targets_all, split=target_split)
    ttt = time_to_target_summary(per_run)
    ttt.to_csv(tables_dir / "time_to_target.csv", index=False)
    display, marks = time_to_target_display(ttt)
    caption = f"Time to target ({target_split} metric)"
    (tables_dir / "time_to_target.tex").write_text(
        to_latex(display, marks, caption=caption, label="tab:ttt", group="task")
    )
    section = Section("Time to target and performance profiles", anchor="speed")
    section.text(
        f"Target: the given value, else the median final test metric of fixed on the task. "
        f"Time to target: cumulative method time, start-up included, at the first "
        f"{target_split} evaluation reaching it (what a user waits). Steady time to target: "
        f"the step reached × the run's steady per-step time (start-up left out); the "
        f"performance profile ranks methods by its median. Runs that never reach the target "
        f"count as infinite (∞). Tasks without a target are left out."
    )
    section.table(display, marks, caption, split_by="task", hoist=("target",))
    ratios = performance_ratios(ttt, "median_steady_time_to_target")
    if ratios.empty:
        section.text("No task has a target: no performance profile.")
        return section
    grid = performance_profile(ratios, PROFILE_TAUS)
    wide = grid.pivot(index="label", columns="tau", values="fraction")
    wide.columns = [f"τ={t:g}" for t in wide.columns]
    p_display, p_marks = plain_display(wide.reset_index().rename(columns={"label": "method"}), 3)
    (tables_dir / "performance_profile.tex").write_text(
        to_latex(p_display, p_marks, caption="Fraction of tasks within τ of the fastest steady "
                 "time to target", label="tab:profile")
    )  # fmt: skip
    section.table(p_display, p_marks, "Performance profile (fraction of tasks within τ)")
    finite = ratios["ratio"][np.isfinite(ratios["ratio"])]
    top = max(10.0, float(finite.max()) * 1.5) if not finite.empty else 10.0
    taus = np.unique(np.concatenate([[1.0], np.geomspace(1.0, top, 200)]))
    measure = "median steady time to target"
    section.figure(
        save(
            fig.profile_figure(performance_profile(ratios, taus), styles, measure),
            "performance_profile", "Performance profile: steady time to target",
            "Higher and further left is better: the share of tasks on which a method is within "
            "τ times the fastest; a line that never reaches 1 missed the target somewhere.",
            sorted(runs["label"].unique()),
        )
    )  # fmt: skip
    return section


def _task_figures(task_key, task_runs, records, summary, styles, split, save) -> Section:
    section = Section(f"Figures: {task_key}", anchor=f"figures-{slug(task_key)}")
    stem = slug(task_key)
    labels = sorted(task_runs["label"].unique())
    lower = bool(task_runs["lower_is_better"].iloc[0])
    better = "left" if lower else "right"
    task_records = records[records["run_id"].isin(task_runs["run_id"])]
    metric = task_runs["metric"].iloc[0]
    made = [
        ("cdf", fig.cdf_figure(task_runs, styles), "CDF of the final test metric over inits",
         f"Curves further {better} are better; a curve that stops below 1 has diverged or "
         f"failed runs."),
    ]  # fmt: skip
    if ((task_records["split"] == split) & (task_records["metric"] == metric)).any():
        made.append(
            ("curves", fig.curves_figure(task_runs, task_records, styles, split),
             f"{split} {metric} against step and against time",
             f"Median over inits (bands: interquartile range, drawn with at most {MAX_BANDS} "
             f"methods). Lines that get {'lower' if lower else 'higher'} sooner are better; the "
             f"time panel includes start-up, so a line that starts late paid for it up front.")
        )  # fmt: skip
        if len(labels) > MAX_BANDS:
            family = fig.family_curves_figure(task_runs, task_records, styles, split)
            if family is not None:
                made.append(
                    ("families", family, f"{split} {metric} by method family",
                     "Median and interquartile band over inits, a panel per family: compare "
                     "each family's methods with fixed (black dashed) and their spread.")
                )  # fmt: skip
    made.append(
        ("front", fig.front_figure(summary[summary["task_key"] == task_key], styles),
         f"median {metric} against steady step time and memory",
         "Points toward the better metric at less time or memory dominate; the dashed line "
         "joins the methods no other beats on both axes.")
    )  # fmt: skip
    schedules = schedule_figure(task_runs, task_records)
    shown = set()
    if schedules is not None:
        hyper_names = task_records.loc[task_records["split"] == "hyper", "metric"].astype(str)
        shown = {m for m in hyper_names.unique() if SCHEDULE_METRIC.match(m)}
    for shared, kind, what in ((True, "hyper", "shared"), (False, "hyper_specific",
                                                             "method-specific")):  # fmt: skip
        hyper = hyper_figure(task_runs, task_records, styles, exclude=shown, shared=shared)
        if hyper is not None:
            made.append(
                (kind, hyper, f"{what} hyperparameter trajectories (median over inits)",
                 "Each panel shows only the methods that have that hyperparameter, with their "
                 "legend below it; flat lines did not adapt it.")
            )  # fmt: skip
    if schedules is not None:
        made.append(
            ("schedules", schedules, "learned per-layer schedules",
             "Dashed: the schedule before meta-training; solid: the learned one.")
        )  # fmt: skip
    for kind, figure, caption, look in made:
        section.figure(save(figure, f"{kind}_{stem}", f"{task_key}: {caption}", look, labels))
    return section


def _runs_section(runs: pd.DataFrame, tables_dir: Path) -> Section:
    raw = runs_table(runs)
    raw.to_csv(tables_dir / "runs.csv", index=False)
    display, marks = plain_display(raw)
    (tables_dir / "runs.tex").write_text(
        to_latex(display, marks, caption="All runs", label="tab:runs", long=True, group="task")
    )
    section = Section("All runs", anchor="runs")
    section.table(display, marks, "Per-run results", collapsed=True)
    section.link("runs.csv (all runs, machine-readable)", tables_dir / "runs.csv")
    return section
