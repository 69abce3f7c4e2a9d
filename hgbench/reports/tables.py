"""Report tables: numeric summaries formatted as text, rendered to Markdown, HTML and LaTeX.

A *display table* is a DataFrame of strings plus a same-shaped frame of marks ("best", "tie"
or ""); each renderer escapes the cells for its format and marks the best entry of a column
in bold and entries tied with it within error bars in italics (underlined in LaTeX).
"""

from __future__ import annotations

import html
import math
import re

import numpy as np
import pandas as pd

from hgbench.reports.stats import STATISTICS, mark_best

DERIVED = "†"
DERIVED_NOTE = f"{DERIVED} derived: a share of the wall time of a batched computation"
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


def fmt_interval(point: float, lo: float, hi: float) -> str:
    """``point [lo, hi]``, or just the point when the interval is unknown or zero-width."""
    if math.isnan(point) or math.isnan(lo) or lo == hi:
        return fmt(point)
    return f"{fmt(point)} [{fmt(lo)}, {fmt(hi)}]"


def summary_display(summary: pd.DataFrame, confidence: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per task x method table (strings) and its marks from the merged numeric summary.

    ``summary`` has the columns of ``final_metric_summary``, ``resource_summary`` and
    ``time_ratios`` joined on ``task_key, label``.
    """
    pct = f"{round(confidence * 100)}% CI"
    s = summary.reset_index(drop=True)
    memory_mib = s["peak_memory_bytes"].astype(float) / 2**20
    s = s.assign(memory_mib=memory_mib)
    lower_better = ["diverged_share", "time_ratio", "memory_mib"]
    lower_better += ["cost_forward", "cost_gradient", "cost_hvp"]
    marks = mark_best(
        s,
        [*STATISTICS, *lower_better],
        direction={c: "min" for c in lower_better},
        intervals={c: (f"{c}_lo", f"{c}_hi") for c in STATISTICS},
    )
    arrow = np.where(s["lower_is_better"], "↓", "↑")

    def intervals(stat: str) -> list[str]:
        return [fmt_interval(*r) for r in s[[stat, f"{stat}_lo", f"{stat}_hi"]].values]

    # (display column, cells, numeric column whose marks it carries)
    columns: list[tuple[str, object, str | None]] = [
        ("task", s["task_key"], None),
        ("method", s["label"], None),
        ("metric", s["metric"] + " " + arrow, None),
        ("runs", s["n_runs"].map(fmt), None),
        (f"mean [{pct}]", intervals("mean"), "mean"),
        (f"median [{pct}]", intervals("median"), "median"),
        (f"best [{pct}]", intervals("best"), "best"),
        (
            "diverged",
            [f"{int(n)} ({share:.0%})" for n, share in s[["n_diverged", "diverged_share"]].values],
            "diverged_share",
        ),
        ("failed", s["n_failed"].map(fmt), None),
        ("missing", s["n_missing"].map(fmt), None),
        (
            "time ratio vs fixed",
            [
                fmt(r, 3) + (DERIVED if d and not math.isnan(r) else "")
                for r, d in s[["time_ratio", "time_derived"]].values
            ],
            "time_ratio",
        ),
        ("method time (s)", s["time_s"].map(lambda x: fmt(x, 3)), None),
        (
            "peak memory (MiB)",
            [
                f"{fmt(m, 4)} ({k})" if isinstance(k, str) and k else fmt(m, 4)
                for m, k in s[["memory_mib", "memory_kind"]].values
            ],
            "memory_mib",
        ),
        ("forward / init", s["cost_forward"].map(fmt), "cost_forward"),
        ("gradient / init", s["cost_gradient"].map(fmt), "cost_gradient"),
        ("hvp / init", s["cost_hvp"].map(fmt), "cost_hvp"),
    ]
    out = pd.DataFrame({name: list(cells) for name, cells, _ in columns})
    out_marks = pd.DataFrame("", index=out.index, columns=out.columns)
    for name, _, source in columns:
        if source is not None:
            out_marks[name] = marks[source].to_numpy()
    return out, out_marks


def time_to_target_display(ttt: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The time-to-target table (strings) with the fastest median time per task marked."""
    marks = mark_best(
        ttt.assign(lower_is_better=True),
        ["median_time_to_target", "reached_share"],
        direction={"median_time_to_target": "min", "reached_share": "max"},
    )
    out = pd.DataFrame(
        {
            "task": ttt["task_key"],
            "method": ttt["label"],
            "target": ttt["target"].map(fmt),
            "runs": ttt["n_runs"].map(fmt),
            "reached": [
                f"{int(n)} ({s:.0%})" for n, s in ttt[["n_reached", "reached_share"]].values
            ],
            "median time to target (s)": ttt["median_time_to_target"].map(fmt),
            "median step to target": ttt["median_step_to_target"].map(fmt),
        }
    )
    no_target = ttt["target"].isna().to_numpy()
    out.loc[no_target, ["reached", "median time to target (s)", "median step to target"]] = MISSING
    out_marks = pd.DataFrame("", index=out.index, columns=out.columns)
    out_marks["median time to target (s)"] = marks["median_time_to_target"].to_numpy()
    out_marks["reached"] = marks["reached_share"].to_numpy()
    out_marks.loc[no_target] = ""
    return out, out_marks


def plain_display(df: pd.DataFrame, digits: int = 4) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Any table as strings with no marks."""
    out = df.apply(lambda col: col.map(lambda x: fmt(x, digits)))
    return out, pd.DataFrame("", index=out.index, columns=out.columns)


def to_markdown(table: pd.DataFrame, marks: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table; best in **bold**, ties in *italics*."""

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
    """An HTML table; best in ``<strong>``, ties in ``<em>`` (class names say which)."""

    def cell(text: str, mark: str) -> str:
        text = html.escape(text)
        if mark == "best":
            return f'<td class="best"><strong>{text}</strong></td>'
        if mark == "tie":
            return f'<td class="tie"><em>{text}</em></td>'
        return f"<td>{text}</td>"

    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    rows = [
        "<tr>" + "".join(cell(t, m) for t, m in zip(trow, mrow, strict=True)) + "</tr>"
        for trow, mrow in zip(table.values, marks.values, strict=True)
    ]
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return (
        f'<table class="report">{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>\n"
    )


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
    DERIVED: r"\textsuperscript{\dag}",
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
