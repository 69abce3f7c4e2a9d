"""pytest-benchmark JSON runs as a history: median time and deterministic figures across commits.

The CI regression suite (``tests/benchmarks``) writes one pytest-benchmark JSON file per run
(``pytest --benchmark-autosave`` under ``.benchmarks/<machine>/NNNN_<commit>_<date>.json``, or
the file named by ``--benchmark-json``). Given a series of them, :func:`load_history` orders the
runs by commit time (``commit_info.time``, else the run's ``datetime``, else the order given)
and returns a tidy table with one row per run × case × quantity, where the quantities are the
case's median time and every numeric ``extra_info`` figure (cost counters, losses, peak bytes).
:func:`benchmark_history_section` turns that into a report section: a drift summary (first
versus last run per case), the full history table and a seaborn figure with one panel per
quantity, so a slow drift over many commits is visible, not only a step. JSON files of
``hgbench bench compare`` among the inputs add the paired ratios of each compared commit
(:mod:`hgbench.reports.ab_history`).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hgbench.reports.document import Figure, Section, render_html, render_markdown
from hgbench.reports.tables import fmt, plain_display

if TYPE_CHECKING:
    from matplotlib.figure import Figure as MplFigure

log = logging.getLogger(__name__)

#: ``extra_info`` keys that describe the run's setting rather than a figure to track.
CONTEXT_KEYS = frozenset({"threads", "device", "machine"})
#: the quantity name of the median time (in milliseconds) in the tidy history
TIME = "median time (ms)"
#: the figure's panel of each case's median time divided by its first run's
RELATIVE = "median time / first run"
#: full history tables longer than this are rendered collapsed in HTML
COLLAPSE_ROWS = 40


def benchmark_json_files(paths: Sequence[str | Path]) -> list[Path]:
    """The JSON files named by ``paths``: files as given, directories searched recursively.

    A directory such as ``.benchmarks/`` contributes its ``*.json`` files sorted by path,
    which is pytest-benchmark's ``NNNN_`` run order within one machine folder.
    """
    files: list[Path] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            found = sorted(path.rglob("*.json"))
            if not found:
                raise ValueError(f"no pytest-benchmark JSON files (*.json) under {str(path)!r}")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"pytest-benchmark JSON file {str(path)!r} does not exist")
    return files


def split_files(files: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """The pytest-benchmark files and the ``hgbench bench compare`` files among ``files``
    (told apart by content; a file that is not JSON counts as pytest-benchmark's, whose
    reader reports it)."""
    from hgbench.bench.ab.report import is_ab

    bench, ab = [], []
    for path in files:
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, ValueError):
            data = None
        (ab if is_ab(data) else bench).append(path)
    return bench, ab


def _utc(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (
        when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)
    )


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _machine(info: dict[str, Any]) -> str:
    """The CPU model and core count (hosted CI runners change host names every job), or the
    host name when pytest-benchmark recorded no CPU."""
    cpu = info.get("cpu") or {}
    if cpu.get("brand_raw"):
        return f"{cpu['brand_raw']} x{cpu.get('count', '?')}"
    return str(info.get("node") or "unknown")


def load_benchmark_json(path: str | Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """One pytest-benchmark JSON file: its run facts and a tidy (case, quantity, value) table."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        empty = path.is_file() and path.stat().st_size == 0
        hint = " (empty: no benchmark ran when it was written)" if empty else ""
        raise ValueError(f"{str(path)!r} is not a pytest-benchmark JSON file{hint}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise ValueError(
            f"{str(path)!r} is not a pytest-benchmark JSON file: no 'benchmarks' list at the top"
        )
    commit = data.get("commit_info") or {}
    machine = data.get("machine_info") or {}
    facts: dict[str, Any] = {
        "file": str(path),
        "commit": str(commit.get("id") or "unversioned"),
        "dirty": bool(commit.get("dirty", False)),
        "branch": commit.get("branch"),
        "commit_time": _utc(commit.get("time")),
        "datetime": _utc(data.get("datetime")),
        "machine": _machine(machine),
    }
    rows = []
    for i, bench in enumerate(data["benchmarks"]):
        name = bench.get("name") if isinstance(bench, dict) else None
        median = (bench.get("stats") or {}).get("median") if isinstance(bench, dict) else None
        if not isinstance(name, str) or not _is_number(median):
            raise ValueError(
                f"{str(path)!r}: benchmark #{i} ({name or 'unnamed'}) lacks a name or "
                "a numeric stats.median"
            )
        extra = bench.get("extra_info") or {}
        context = {k: extra.get(k) for k in sorted(CONTEXT_KEYS)}
        values = {TIME: 1e3 * float(median)}
        values |= {k: float(v) for k, v in extra.items() if k not in CONTEXT_KEYS and _is_number(v)}
        rows += [
            {"case": name, "param": bench.get("param"), **context, "quantity": q, "value": v}
            for q, v in values.items()
        ]
    return facts, pd.DataFrame(
        rows, columns=["case", "param", *sorted(CONTEXT_KEYS), "quantity", "value"]
    )


def load_history(paths: Sequence[str | Path]) -> pd.DataFrame:
    """Tidy history of pytest-benchmark runs: one row per run × case × quantity, in run order.

    Runs are ordered by commit time when every file records one, else by run ``datetime``
    when every file records one, else in the order given. Columns: ``run`` (0-based order),
    ``run_label`` (``N:commit``, ``+`` when the tree was dirty), the file's facts
    (``file``, ``commit``, ``dirty``, ``branch``, ``commit_time``, ``datetime``, ``machine``),
    ``case``, ``param``, the context keys, ``quantity`` and ``value``.
    """
    loaded = [load_benchmark_json(p) for p in benchmark_json_files(paths)]
    if not loaded:
        raise ValueError("no pytest-benchmark JSON files given")
    order = list(range(len(loaded)))
    for key in ("commit_time", "datetime"):
        if all(facts[key] is not None for facts, _ in loaded):
            order.sort(
                key=lambda i, k=key: (loaded[i][0][k], loaded[i][0]["datetime"] or loaded[i][0][k])
            )
            break
    frames = []
    for run, i in enumerate(order):
        facts, table = loaded[i]
        short = (
            facts["commit"][:7] if facts["commit"] != "unversioned" else Path(facts["file"]).stem
        )
        label = f"{run + 1}:{short}{'+' if facts['dirty'] else ''}"
        frames.append(table.assign(run=run, run_label=label, **facts))
    return pd.concat(frames, ignore_index=True)


def quantities(history: pd.DataFrame) -> list[str]:
    """The history's quantities: the median time first, then the figures by name."""
    names = set(history["quantity"])
    return [TIME] * (TIME in names) + sorted(names - {TIME})


def case_labels(history: pd.DataFrame) -> dict[str, str]:
    """Short legend labels: the parameter id when it alone tells the cases apart."""
    cases = history.drop_duplicates("case").set_index("case")["param"]
    if cases.notna().all() and cases.is_unique:
        return {c: str(p) for c, p in cases.items()}
    return {c: c for c in cases.index}


def history_table(history: pd.DataFrame) -> pd.DataFrame:
    """Wide history: one row per case × run, a column per quantity."""
    wide = history.pivot_table(
        index=["case", "run", "run_label", "machine"], columns="quantity", values="value",
        aggfunc="first",
    ).reset_index()  # fmt: skip
    wide = wide.sort_values(["case", "run"]).drop(columns="run")
    wide = wide.rename(columns={"run_label": "run"}).rename_axis(columns=None)
    return wide[["case", "run", "machine", *quantities(history)]].reset_index(drop=True)


def drift_table(history: pd.DataFrame) -> pd.DataFrame:
    """Per case: median time at its first and last run, change, range, and figures that moved."""
    rows = []
    for case, group in history.groupby("case", sort=True):
        times = group[group["quantity"] == TIME].sort_values("run")["value"].to_numpy()
        moved = [
            q
            for q, g in group[group["quantity"] != TIME].groupby("quantity", sort=True)
            if g["value"].nunique(dropna=False) > 1
        ]
        first, last = (times[0], times[-1]) if times.size else (math.nan, math.nan)
        rows.append(
            {
                "case": case,
                "runs": int(group["run"].nunique()),
                "first (ms)": first,
                "last (ms)": last,
                "change (%)": 100.0 * (last / first - 1.0) if first > 0 else math.nan,
                "min (ms)": times.min() if times.size else math.nan,
                "max (ms)": times.max() if times.size else math.nan,
                "figures that moved": ", ".join(moved) or "none",
            }
        )
    return pd.DataFrame(rows)


def history_figure(history: pd.DataFrame, ncols: int = 3) -> MplFigure:
    """One panel per quantity against the run, a line per case.

    The panels are the median time, the median time relative to each case's first run (where
    a slow drift shows), then every deterministic figure.
    """
    import seaborn as sns
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigureCls

    from hgbench.reports.figures import palette

    names = quantities(history)
    labels = case_labels(history)
    data = history.assign(label=history["case"].map(labels))
    if TIME in names:
        times = data[data["quantity"] == TIME].sort_values("run")
        first = times.groupby("case")["value"].transform("first")
        relative = times.assign(quantity=RELATIVE, value=times["value"] / first)
        data = pd.concat([data, relative], ignore_index=True)
        names.insert(1, RELATIVE)
    colours = palette(list(labels.values()))
    runs = data.drop_duplicates("run").sort_values("run")
    ncols = max(1, min(ncols, len(names)))
    nrows = math.ceil(len(names) / ncols)
    with sns.axes_style("whitegrid"):
        figure = MplFigureCls(figsize=(5.0 * ncols, 3.4 * nrows + 1.0), layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, name in zip(axes, names, strict=False):
        panel = data[data["quantity"] == name]
        sns.lineplot(
            panel, x="run", y="value", hue="label", palette=colours, marker="o",
            estimator=None, ax=ax, legend=False,
        )  # fmt: skip
        values = panel["value"].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        if values.size and values.min() > 0 and values.max() / values.min() > 100:
            ax.set_yscale("log")
        if name == RELATIVE:
            ax.axhline(1.0, color="0.3", linewidth=0.8, linestyle="--")
        ax.set_title(name + (" (lower is better)" if name == TIME else ""), fontsize="medium")
        ax.set_xlabel("run (ordered by commit time)")
        ax.set_ylabel(name)
        ax.set_xticks(runs["run"].tolist(), runs["run_label"].tolist(), rotation=45, ha="right")
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=colours[lab], marker="o", label=lab) for lab in colours]
    figure.legend(handles=handles, loc="outside lower center", ncols=min(6, len(handles)),
                  fontsize="small", title="case")  # fmt: skip
    figure.suptitle("pytest-benchmark history: median time and deterministic figures per case")
    return figure


def benchmark_history_section(
    json_paths: Sequence[str | Path], out_dir: str | Path | None = None, *, dpi: int = 150
) -> Section | None:
    """A report section of the pytest-benchmark runs in ``json_paths`` (None when empty),
    followed by the paired ratios of the ``hgbench bench compare`` JSON files among them.

    ``json_paths`` are JSON files or directories searched for them (e.g. ``.benchmarks``).
    With ``out_dir`` (the report directory) it also writes ``figures/benchmark_history.png``
    and ``.pdf`` and ``tables/benchmark_history.csv`` (the tidy history).
    """
    if not json_paths:
        return None
    from hgbench.reports.ab_history import ab_history_section

    bench_files, ab_files = split_files(benchmark_json_files(json_paths))
    ab = ab_history_section(ab_files)
    if not bench_files:
        if ab is None:
            raise ValueError("no pytest-benchmark or comparison JSON files given")
        ab.title = "Benchmark history"
        return ab
    section = _pytest_benchmark_section(bench_files, out_dir, dpi=dpi)
    if ab is not None:
        section.text("**A/B timing comparisons.**")
        section.blocks += ab.blocks
    return section


def _pytest_benchmark_section(
    json_paths: Sequence[Path], out_dir: str | Path | None, *, dpi: int
) -> Section:
    history = load_history(json_paths)
    section = Section("Benchmark history")
    machines = sorted(set(history["machine"]))
    runs = history.drop_duplicates("run")
    section.text(
        f"{len(runs)} pytest-benchmark runs, {history['case'].nunique()} cases, commits "
        f"{runs['run_label'].iloc[0]} … {runs['run_label'].iloc[-1]}; machines: "
        + "; ".join(machines)
        + ". Times are medians over rounds of one run; '+' marks a dirty working tree."
    )
    if len(machines) > 1:
        section.text("Runs come from more than one machine: compare their times with care.")
    drift, marks = plain_display(drift_table(history))
    section.table(drift, marks, "Median time drift per case: first run against last run")
    full = history_table(history)
    display = full.apply(lambda col: col.map(lambda x: fmt(x, 6)))
    section.table(
        display,
        pd.DataFrame("", index=display.index, columns=display.columns),
        "Median time and deterministic figures per case and run",
        collapsed=len(display) > COLLAPSE_ROWS,
    )
    if out_dir is not None:
        from hgbench.reports.figures import save_figure

        out = Path(out_dir)
        (out / "tables").mkdir(parents=True, exist_ok=True)
        csv = out / "tables" / "benchmark_history.csv"
        history.to_csv(csv, index=False)
        caption = "median time and deterministic figures per case across runs"
        png, pdf = save_figure(
            history_figure(history),
            out / "figures" / "benchmark_history",
            title=f"pytest-benchmark history: {caption}",
            methods=sorted(case_labels(history).values()),
            dpi=dpi,
        )
        section.figure(Figure(png=png, pdf=pdf, caption=caption))
        section.link("benchmark_history.csv (tidy history, machine-readable)", csv)
    log.info("benchmark history: %d runs, %d cases", len(runs), history["case"].nunique())
    return section


def build_history_report(
    json_paths: Sequence[str | Path], out_dir: str | Path, *, dpi: int = 150
) -> Path:
    """Write ``index.html`` and ``report.md`` holding only the benchmark history and the A/B
    comparisons (no results store needed: ``hgbench report --benchmark-json .benchmarks``). Returns the index path."""
    out = Path(out_dir)
    section = benchmark_history_section(json_paths, out, dpi=dpi)
    if section is None:
        raise ValueError("a benchmark history report needs pytest-benchmark JSON files")
    title = "hgbench benchmark history"
    (out / "report.md").write_text(render_markdown(title, [section], out))
    index = out / "index.html"
    index.write_text(render_html(title, [section], out))
    log.info("benchmark history report written to %s", index)
    return index
