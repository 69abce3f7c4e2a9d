"""Build a report directory (``index.html``, ``report.md``, ``tables/``, ``figures/``) from results."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from hgbench.bench.schema import RECORD_COLUMNS
from hgbench.reports import figures as fig
from hgbench.reports.document import Figure, Section, render_html, render_markdown
from hgbench.reports.history import benchmark_history_section
from hgbench.reports.schedules import schedule_figure
from hgbench.reports.stats import (
    GROUP,
    classify_runs,
    final_metric_summary,
    require_columns,
    resource_summary,
)
from hgbench.reports.tables import (
    DERIVED,
    DERIVED_NOTE,
    fmt,
    plain_display,
    summary_display,
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

    Loads the runs, records and batches with :mod:`hgbench.bench.store` and calls
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
    out = out.merge(resource_summary(runs), on=GROUP, how="left")
    out = out.merge(time_ratios(runs), on=GROUP, how="left")
    out["memory_mib"] = out["peak_memory_bytes"].astype(float) / 2**20
    return out


def runs_table(runs: pd.DataFrame) -> pd.DataFrame:
    """The raw per-run table (initial hyperparameters unpacked from ``init_hyper``)."""
    hyper = pd.DataFrame([json.loads(h) if h else {} for h in runs["init_hyper"]], index=runs.index)
    counted = np.select([runs["failed"], runs["diverged"]], ["failed", "diverged"], "valid")
    time = [
        fmt(t) + (DERIVED if share and np.isfinite(t) else "")
        for t, share in runs[["method_time_s", "time_is_share"]].astype(float).values
    ]
    out = pd.DataFrame(
        {
            "task": runs["task_key"],
            "method": runs["label"],
            "seed": runs["seed"],
            "init": runs["init_index"],
            **{f"init {k}": hyper[k] for k in hyper.columns},
            "status": runs["status"],
            "counted as": counted,
            "steps": [f"{fmt(d)}/{fmt(b)}" for d, b in runs[["steps_done", "budget_steps"]].values],
            "final test metric": runs["final_test_metric"],
            "final val loss": runs["final_val_loss"],
            "method time (s)": time,
            "peak memory (MiB)": runs["peak_memory_bytes"].astype(float) / 2**20,
            "message": runs["message"].fillna("").astype(str).str.slice(0, 80),
        }
    )
    return out.sort_values(["task", "method", "seed", "init"], kind="stable").reset_index(drop=True)


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
    benchmark_json: Sequence[str | Path] = (),
    source: str = "",
) -> Path:
    """Write the report of ``runs`` and ``records`` (store schema) into ``out_dir``.

    ``targets`` maps task keys to a target metric for time to target; tasks not in it use the
    median final test metric of ``fixed``. Returns the path of ``index.html``.
    """
    require_columns(records, RECORD_COLUMNS, "records")
    if runs.empty:
        raise ValueError(f"no runs to report{' in ' + source if source else ''}")
    out = Path(out_dir)
    tables_dir, figures_dir = out / "tables", out / "figures"
    for d in (tables_dir, figures_dir):
        d.mkdir(parents=True, exist_ok=True)
    runs = classify_runs(runs)
    labels = sorted(runs["label"].unique())
    colours = fig.palette(labels)
    pct = f"{round(confidence * 100)}%"

    summary = summary_table(runs, n_boot=n_boot, confidence=confidence, seed=seed)
    summary.to_csv(tables_dir / "summary.csv", index=False)
    display, marks = summary_display(summary, confidence)
    (tables_dir / "summary.tex").write_text(
        to_latex(
            display,
            marks,
            caption="Final test metric, divergence, time, memory and cost per task and method",
            label="tab:summary",
            group="task",
        )
    )
    overview = Section("Summary per task and method")
    overview.text(
        f"Statistics of the final test metric over the valid runs (not diverged, not failed); "
        f"brackets are {pct} percentile bootstrap intervals ({n_boot} resamples of runs). Bold: "
        f"best in its column within a task; italics: tied with the best within error bars. "
        f"Diverged: status diverged, non-finite final metric or above the task's divergence "
        f"threshold. Time ratio: median over finished runs of method time / median method time "
        f"of fixed on the same task and budget. Cost counters are medians per init. "
        f"{DERIVED_NOTE}."
    )
    overview.table(display, marks, "Per task and method")

    targets_all = baseline_targets(runs).to_dict() | dict(targets or {})
    per_run = time_to_target(runs, records, targets_all, split=target_split)
    ttt = time_to_target_summary(per_run)
    ttt.to_csv(tables_dir / "time_to_target.csv", index=False)
    ttt_display, ttt_marks = time_to_target_display(ttt)
    (tables_dir / "time_to_target.tex").write_text(
        to_latex(
            ttt_display,
            ttt_marks,
            caption=f"Time to target ({target_split} metric)",
            label="tab:ttt",
            group="task",
        )
    )
    ratios = performance_ratios(ttt)
    speed = Section("Time to target and performance profiles")
    speed.text(
        f"Target: the given value, else the median final test metric of fixed on the task. "
        f"Time: cumulative method time at the first {target_split} evaluation reaching it; runs "
        f"that never reach it count as infinite (∞). Tasks without a target are left out."
    )
    speed.table(ttt_display, ttt_marks, "Time to target")
    if not ratios.empty:
        grid = performance_profile(ratios, PROFILE_TAUS)
        wide = grid.pivot(index="label", columns="tau", values="fraction")
        wide.columns = [f"τ={t:g}" for t in wide.columns]
        p_display, p_marks = plain_display(
            wide.reset_index().rename(columns={"label": "method"}), 3
        )
        (tables_dir / "performance_profile.tex").write_text(
            to_latex(
                p_display,
                p_marks,
                caption="Fraction of tasks within τ of the fastest time to target",
                label="tab:profile",
            )
        )
        speed.table(p_display, p_marks, "Performance profile (fraction of tasks within τ)")
        finite = ratios["ratio"][np.isfinite(ratios["ratio"])]
        top = max(10.0, float(finite.max()) * 1.5) if not finite.empty else 10.0
        taus = np.unique(np.concatenate([[1.0], np.geomspace(1.0, top, 200)]))
        profile = performance_profile(ratios, taus)
        speed.figure(
            _save(
                fig.profile_figure(profile, colours),
                figures_dir / "performance_profile",
                "Performance profile: time to target",
                labels,
                dpi,
            )
        )
    else:
        speed.text("No task has a target: no performance profile.")

    figure_sections = []
    for task_key, task_runs in runs.groupby("task_key", sort=True):
        section = Section(f"Figures: {task_key}")
        stem = slug(str(task_key))
        task_labels = sorted(task_runs["label"].unique())
        made = [
            ("cdf", fig.cdf_figure(task_runs, colours), "CDF of the final test metric"),
            (
                "front",
                fig.front_figure(summary[summary["task_key"] == task_key], colours),
                "metric × time × memory",
            ),
        ]
        task_records = records[records["run_id"].isin(task_runs["run_id"])]
        metric = task_runs["metric"].iloc[0]
        if ((task_records["split"] == target_split) & (task_records["metric"] == metric)).any():
            made.append(
                (
                    "curves",
                    fig.curves_figure(task_runs, task_records, colours, target_split),
                    "metric against step and time",
                )
            )
        hyper = fig.hyper_figure(task_runs, task_records, colours)
        if hyper is not None:
            made.append(("hyper", hyper, "hyperparameter trajectories"))
        schedules = schedule_figure(task_runs, task_records)
        if schedules is not None:
            made.append(("schedules", schedules, "learned per-layer schedules"))
        for kind, figure, caption in made:
            section.figure(
                _save(
                    figure,
                    figures_dir / f"{kind}_{stem}",
                    f"{task_key}: {caption}",
                    task_labels,
                    dpi,
                )
            )
        figure_sections.append(section)

    raw = runs_table(runs)
    raw.to_csv(tables_dir / "runs.csv", index=False)
    raw_display, raw_marks = plain_display(raw)
    (tables_dir / "runs.tex").write_text(
        to_latex(
            raw_display, raw_marks, caption="All runs", label="tab:runs", long=True, group="task"
        )
    )
    raw_section = Section("All runs")
    raw_section.table(raw_display, raw_marks, "Per-run results", collapsed=True)
    raw_section.link("runs.csv (all runs, machine-readable)", tables_dir / "runs.csv")

    sections = [_provenance(runs, source), overview, speed, *figure_sections, raw_section]
    history = benchmark_history_section(benchmark_json, out, dpi=dpi)
    if history is not None:
        sections.append(history)
    title = "hgbench report"
    (out / "report.md").write_text(render_markdown(title, sections, out))
    index = out / "index.html"
    index.write_text(render_html(title, sections, out))
    log.info("report written to %s", index)
    return index


def _save(figure: object, stem: Path, caption: str, labels: Iterable[str], dpi: int) -> Figure:
    png, pdf = fig.save_figure(figure, stem, title=caption, methods=list(labels), dpi=dpi)  # type: ignore[arg-type]
    return Figure(png=png, pdf=pdf, caption=caption)


def _provenance(runs: pd.DataFrame, source: str) -> Section:
    """Where the results came from: counts, versions, devices."""

    def values(col: str) -> str:
        return ", ".join(sorted({str(v) for v in runs[col].dropna().unique()})) or "—"

    section = Section("Results")
    facts = {
        "results": source or "(in memory)",
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "runs": f"{len(runs)} ({int(runs['valid'].sum())} valid, {int(runs['diverged'].sum())} diverged, {int(runs['failed'].sum())} failed)",
        "tasks": values("task_key"),
        "methods": values("label"),
        "suites": values("suite"),
        "devices": values("device"),
        "dtypes": values("dtype"),
        "hgbench versions": values("hgbench_version"),
        "git commits": values("git_commit"),
        "torch versions": values("torch_version"),
    }
    table = pd.DataFrame({"": list(facts), "value": list(facts.values())})
    section.table(table, pd.DataFrame("", index=table.index, columns=table.columns))
    return section
