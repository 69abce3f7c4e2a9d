"""Report tables: numeric summaries formatted as text, rendered to Markdown, HTML and LaTeX.

A *display table* is a DataFrame of strings plus a same-shaped frame of marks ("best", "tie",
"worse" or ""); each renderer escapes the cells for its format and marks the best entry of a
column in bold and entries tied with it within error bars in italics (underlined in LaTeX);
"worse" (significantly worse in a paired test) is shaded in HTML only.
"""

from __future__ import annotations

import html
import itertools
import math
import re

import numpy as np
import pandas as pd

from hgbench.reports.stats import STATISTICS, mark_best

DERIVED = "†"
DERIVED_NOTE = f"{DERIVED} derived: a share of the wall time of a batched computation"
APPROXIMATE = "≈"
APPROXIMATE_NOTE = f"{APPROXIMATE} approximate counts: the method's counters miss some of its work"
ESTIMATED = "‡"
ESTIMATED_NOTE = (
    f"{ESTIMATED} estimated: the run stored no steady per-step time, so method time / steps "
    f"(start-up included) stands in for it"
)
MISSING = "—"


def fmt(x: object, digits: int = 4) -> str:
    """A number with ``digits`` significant digits; NaN/None as a dash, inf as ∞."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return MISSING
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        if math.isinf(x):
            return "∞" if x > 0 else "-∞"
        return f"{float(x):.{digits}g}"
    return str(x)


def fmt_signed(x: float, digits: int = 4) -> str:
    """A number with an explicit sign (``+0.5``, ``-2``, ``+∞``); NaN as a dash."""
    text = fmt(x, digits)
    return "+" + text if isinstance(x, (float, np.floating)) and x > 0 else text


def fmt_interval(
    point: float, lo: float, hi: float, note: str = "", *, signed: bool = False
) -> str:
    """``point [lo, hi]``; ``point (note)`` when there is a note (why no interval is shown);
    just the point when the interval is unknown or zero-width. ``signed``: the point with
    its sign (``+0.5``)."""
    shown = fmt_signed(point) if signed else fmt(point)
    if note and not math.isnan(point):
        return f"{shown} ({note})"
    if math.isnan(point) or math.isnan(lo) or lo == hi:
        return shown
    return f"{shown} [{fmt(lo)}, {fmt(hi)}]"


def _assemble(columns: list[tuple[str, object, str | None]], marks: pd.DataFrame):
    """A display table and its marks from (display column, cells, source of marks)."""
    out = pd.DataFrame({name: list(cells) for name, cells, _ in columns})
    out_marks = pd.DataFrame("", index=out.index, columns=out.columns)
    for name, _, source in columns:
        if source is not None:
            out_marks[name] = marks[source].to_numpy()
    return out, out_marks


def metric_display(summary: pd.DataFrame, confidence: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per task x method final-metric table (strings) and its marks.

    ``summary`` has the columns of ``final_metric_summary`` (and ``untrained_summary``)
    joined on ``task_key, label``. Intervals from fewer than ``MIN_CI_RUNS`` valid runs are
    replaced by the reason (``n=3: too few for a CI``).
    """
    pct = f"{round(confidence * 100)}% CI"
    s = summary.reset_index(drop=True)
    marks = mark_best(
        s,
        [*STATISTICS, "diverged_share", "n_untrained"],
        direction={"diverged_share": "min", "n_untrained": "min"},
        intervals={c: (f"{c}_lo", f"{c}_hi") for c in STATISTICS},
    )
    arrow = np.where(s["lower_is_better"], "↓", "↑")
    notes = s["ci_note"].fillna("").astype(str) if "ci_note" in s else pd.Series("", index=s.index)

    def intervals(stat: str) -> list[str]:
        cols = s[[stat, f"{stat}_lo", f"{stat}_hi"]].to_numpy(float)
        return [fmt_interval(*r, note) for r, note in zip(cols, notes, strict=True)]

    untrained = s["n_untrained"] if "n_untrained" in s else pd.Series(np.nan, index=s.index)
    columns: list[tuple[str, object, str | None]] = [
        ("method", s["label"], None),
        ("task", s["task_key"], None),
        ("metric", s["metric"] + " " + arrow, None),
        ("runs", s["n_runs"].map(fmt), None),
        (f"median [{pct}]", intervals("median"), "median"),
        (f"mean [{pct}]", intervals("mean"), "mean"),
        ("best run", s["best"].map(fmt), "best"),
        (
            "diverged",
            [f"{int(n)} ({share:.0%})" for n, share in s[["n_diverged", "diverged_share"]].values],
            "diverged_share",
        ),
        ("failed", s["n_failed"].map(fmt), None),
        ("missing", s["n_missing"].map(fmt), None),
        ("no better than untrained", untrained.map(fmt), "n_untrained"),
    ]
    return _assemble(columns, marks)


def cost_display(summary: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per task x method time, memory and cost table (strings) and its marks.

    ``summary`` has the columns of ``resource_summary`` and ``time_ratios``.
    """
    s = summary.reset_index(drop=True)
    s = s.assign(
        memory_mib=s["peak_memory_bytes"].astype(float) / 2**20,
        step_time_ms=s["step_time_s"].astype(float) * 1e3,
    )
    lower_better = ["time_ratio", "step_time_ms", "startup_s", "memory_mib"]
    lower_better += ["cost_forward", "cost_gradient", "cost_hvp"]
    marks = mark_best(s, lower_better, direction={c: "min" for c in lower_better})

    def timed(col: str, digits: int = 3) -> list[str]:
        return [
            fmt(v, digits) + (DERIVED if d and not math.isnan(v) else "")
            + (ESTIMATED if e and not math.isnan(v) and col != "startup_s" else "")
            for v, d, e in s[[col, "time_derived", "time_estimated"]].values
        ]  # fmt: skip

    exact = s["counts_exact"] if "counts_exact" in s else pd.Series(True, index=s.index)

    def counted(col: str) -> list[str]:
        return [fmt(v) + ("" if ok or math.isnan(v) else APPROXIMATE)
                for v, ok in zip(s[col].astype(float), exact.fillna(True), strict=True)]  # fmt: skip

    columns: list[tuple[str, object, str | None]] = [
        ("method", s["label"], None),
        ("task", s["task_key"], None),
        ("time ratio vs fixed", timed("time_ratio"), "time_ratio"),
        ("steady step (ms)", timed("step_time_ms"), "step_time_ms"),
        ("start-up (s)", timed("startup_s"), "startup_s"),
        ("method time (s)", timed("time_s"), None),
        ("peak memory (MiB)", s["memory_mib"].map(lambda m: fmt(m, 4)), "memory_mib"),
        ("memory kind", s["memory_kind"].fillna("").astype(str).replace("", MISSING), None),
        ("forward / init", counted("cost_forward"), "cost_forward"),
        ("gradient / init", counted("cost_gradient"), "cost_gradient"),
        ("hvp / init", counted("cost_hvp"), "cost_hvp"),
    ]
    return _assemble(columns, marks)


def time_to_target_display(ttt: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The time-to-target table (strings) with the fastest median times per task marked."""
    timed = ["median_time_to_target", "median_steady_time_to_target"]
    marks = mark_best(
        ttt.assign(lower_is_better=True),
        [*timed, "reached_share"],
        direction={**{c: "min" for c in timed}, "reached_share": "max"},
    )
    columns: list[tuple[str, object, str | None]] = [
        ("method", ttt["label"], None),
        ("task", ttt["task_key"], None),
        ("target", ttt["target"].map(fmt), None),
        ("runs", ttt["n_runs"].map(fmt), None),
        (
            "reached",
            [f"{int(n)} ({s:.0%})" for n, s in ttt[["n_reached", "reached_share"]].values],
            "reached_share",
        ),
        ("median time to target (s)", ttt["median_time_to_target"].map(fmt),
         "median_time_to_target"),
        ("median steady time to target (s)", ttt["median_steady_time_to_target"].map(fmt),
         "median_steady_time_to_target"),
        ("median step to target", ttt["median_step_to_target"].map(fmt), None),
    ]  # fmt: skip
    out, out_marks = _assemble(columns, marks)
    no_target = ttt["target"].isna().to_numpy()
    out.loc[no_target, [c for c, _, _ in columns[4:]]] = MISSING
    out_marks.loc[no_target] = ""
    return out, out_marks


def plain_display(df: pd.DataFrame, digits: int = 4) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Any table as strings with no marks."""
    out = df.apply(lambda col: col.map(lambda x: fmt(x, digits)))
    return out, pd.DataFrame("", index=out.index, columns=out.columns)


def to_markdown(table: pd.DataFrame, marks: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table; best in **bold**, ties in *italics*."""
    table, marks = flat_columns(table), flat_columns(marks)

    def cell(text: str, mark: str) -> str:
        text = text.replace("|", "\\|").replace("\n", " ")
        if not text or text == MISSING:
            return text
        return {"best": f"**{text}**", "tie": f"*{text}*"}.get(mark, text)

    header = "| " + " | ".join(c.replace("|", "\\|") for c in table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    body = [
        "| " + " | ".join(cell(t, m) for t, m in zip(trow, mrow, strict=True)) + " |"
        for trow, mrow in zip(table.values, marks.values, strict=True)
    ]
    return "\n".join([header, rule, *body]) + "\n"


def to_html(table: pd.DataFrame, marks: pd.DataFrame, caption: str = "") -> str:
    """An HTML table; best in ``<strong>``, ties in ``<em>`` (class names say which); cells
    marked "worse" get the class ``worse``."""

    def cell(text: str, mark: str) -> str:
        text = html.escape(text)
        if mark == "best":
            return f'<td class="best"><strong>{text}</strong></td>'
        if mark == "tie":
            return f'<td class="tie"><em>{text}</em></td>'
        if mark == "worse":
            return f'<td class="worse">{text}</td>'
        return f"<td>{text}</td>"

    head = _html_head(table.columns)
    rows = [
        "<tr>" + "".join(cell(t, m) for t, m in zip(trow, mrow, strict=True)) + "</tr>"
        for trow, mrow in zip(table.values, marks.values, strict=True)
    ]
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return (
        f'<table class="report">{cap}<thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>\n'
    )


def _html_head(columns: pd.Index) -> str:
    """Header rows: one, or for two-level columns a group row (``colspan``) above the names;
    columns whose group is "" span both rows."""
    if not isinstance(columns, pd.MultiIndex):
        return "<tr>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in columns) + "</tr>"
    top, bottom = [], []
    for group, items in itertools.groupby(columns, key=lambda c: c[0]):
        items = list(items)
        if not group:
            top += [f'<th rowspan="2">{html.escape(str(c[1]))}</th>' for c in items]
            continue
        top.append(f'<th colspan="{len(items)}" class="group">{html.escape(str(group))}</th>')
        bottom += [f"<th>{html.escape(str(c[1]))}</th>" for c in items]
    return f"<tr>{''.join(top)}</tr><tr>{''.join(bottom)}</tr>"


def flat_columns(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with two-level column names joined as "group: name" (Markdown, LaTeX)."""
    if not isinstance(table.columns, pd.MultiIndex):
        return table
    names = [f"{a}: {b}" if a else str(b) for a, b in table.columns]
    return table.set_axis(names, axis=1)


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "∞": r"$\infty$",
    "—": "--",
    "↓": r"$\downarrow$",
    "↑": r"$\uparrow$",
    "±": r"$\pm$",
    "×": r"$\times$",
    DERIVED: r"\textsuperscript{\dag}",
    ESTIMATED: r"\textsuperscript{\ddag}",
}
_LATEX_RE = re.compile("|".join(re.escape(k) for k in _LATEX_SPECIAL))


def latex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters and the report's symbols escaped."""
    return _LATEX_RE.sub(lambda m: _LATEX_SPECIAL[m.group(0)], text)


def to_latex(
    table: pd.DataFrame,
    marks: pd.DataFrame,
    *,
    caption: str = "",
    label: str = "",
    group: str | None = None,
    long: bool = False,
) -> str:
    """A booktabs ``table`` (or, with ``long``, a ``longtable``) environment; best in bold, ties
    underlined; a rule between groups of rows with the same ``group`` value.

    Needs ``\\usepackage{booktabs}`` (and ``longtable``) in the including document.
    """
    table, marks = flat_columns(table), flat_columns(marks)

    def cell(text: str, mark: str) -> str:
        text = latex_escape(text)
        return {"best": rf"\textbf{{{text}}}", "tie": rf"\underline{{{text}}}"}.get(mark, text)

    spec = "l" * len(table.columns)
    header = " & ".join(latex_escape(c) for c in table.columns) + r" \\"
    cap = r"\caption{" + latex_escape(caption) + "}" if caption else ""
    lab = r"\label{" + label + "}" if label else ""
    if long:
        lines = [r"\begin{small}", r"\begin{longtable}{" + spec + "}"]
        if cap or lab:
            lines.append(cap + lab + r" \\")
        lines += [r"\toprule", header, r"\midrule", r"\endhead"]
    else:
        lines = [r"\begin{table}[ht]", r"\centering", r"\small"]
        lines += [r"\begin{tabular}{" + spec + "}", r"\toprule", header, r"\midrule"]
    previous = None
    for i, (trow, mrow) in enumerate(zip(table.values, marks.values, strict=True)):
        if group is not None:
            current = table[group].iloc[i]
            if previous is not None and current != previous:
                lines.append(r"\midrule")
            previous = current
        lines.append(" & ".join(cell(t, m) for t, m in zip(trow, mrow, strict=True)) + r" \\")
    if long:
        lines += [r"\bottomrule", r"\end{longtable}", r"\end{small}"]
    else:
        lines += [r"\bottomrule", r"\end{tabular}"]
        lines += [x for x in (cap, lab) if x]
        lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"
