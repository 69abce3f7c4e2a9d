"""The report document: sections of tables and figures written as ``index.html`` and ``report.md``.

The HTML page is one offline file (inline CSS, no scripts, no external assets; figures are
relative links into ``figures/``). Every table sits in its own scroll box with a sticky header
row and a sticky first column, so a wide table scrolls inside its box instead of widening the
page; tables with a ``split_by`` column are rendered as one table per value (per task).
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from hgbench.reports.tables import to_html, to_markdown

CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1240px;
       padding: 0 1em; color: #222; line-height: 1.4; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.6em; }
nav ul { columns: 3; font-size: 0.9em; }
.scroll { overflow: auto; width: fit-content; max-width: 100%; max-height: 75vh;
          margin: 0.3em 0 1.2em; border: 1px solid #ddd; }
table.report { border-collapse: separate; border-spacing: 0; font-size: 0.85em; }
table.report th, table.report td { border-right: 1px solid #e3e3e3;
       border-bottom: 1px solid #e3e3e3; padding: 0.25em 0.5em; text-align: left;
       white-space: nowrap; background: #fff; }
table.report thead { position: sticky; top: 0; z-index: 2; }
table.report thead th { background: #f0f0f0; }
table.report th.group { text-align: center; border-bottom: 1px solid #bbb; }
table.report td:first-child, table.report th:first-child { position: sticky; left: 0;
       z-index: 1; box-shadow: 1px 0 0 #ccc; }
table.report thead th:first-child { z-index: 3; }
table.report td.best { background: #dff2df; } table.report td.tie { background: #f1f8f1; }
table.report td.worse { background: #f8e0dd; }
.tcap { font-weight: bold; margin: 0.8em 0 0.2em; }
figure { margin: 1em 0 1.6em; }
ul.note { padding-left: 1.4em; } ul.note li { margin: 0.15em 0; }
figure img { width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; max-width: 100%; }
.note { color: #444; font-size: 0.92em; max-width: 60em; }
.callout { background: #fff6d6; border-left: 4px solid #e0b400; padding: 0.5em 0.8em;
           max-width: 60em; }
"""


@dataclass
class Figure:
    """A saved figure: its PNG and PDF paths, a caption and what to look at in it."""

    png: Path
    pdf: Path | None
    caption: str
    look: str = ""
    width_px: int = 0  # CSS width at which the PNG is meant to be shown (0: the column)


@dataclass
class Section:
    """A titled part of the report: paragraphs, tables (display + marks) and figures, in order."""

    title: str
    blocks: list[tuple[str, object]] = field(default_factory=list)
    anchor: str = ""

    def text(self, paragraph: str) -> Section:
        self.blocks.append(("text", paragraph))
        return self

    def bullets(self, items: list[str]) -> Section:
        """A short list (how to read a table)."""
        self.blocks.append(("bullets", list(items)))
        return self

    def callout(self, paragraph: str) -> Section:
        """A highlighted paragraph: what the reader must know before reading on."""
        self.blocks.append(("callout", paragraph))
        return self

    def table(
        self,
        table: pd.DataFrame,
        marks: pd.DataFrame,
        caption: str = "",
        *,
        collapsed: bool = False,
        split_by: str | None = None,
        hoist: tuple[str, ...] = (),
    ) -> Section:
        """A table; with ``split_by``, one table per value of that column (the column dropped;
        the value in the caption). Columns in ``hoist`` that hold one value within a table
        move into its caption too (a column of "mse ↓" in every row says nothing)."""
        if split_by is None or split_by not in table.columns:
            self.blocks.append(("table", (table, marks, caption, collapsed)))
            return self
        for value in pd.unique(table[split_by]):
            rows = (table[split_by] == value).to_numpy()
            sub = table[rows].drop(columns=split_by).reset_index(drop=True)
            sub_marks = marks[rows].drop(columns=split_by, errors="ignore").reset_index(drop=True)
            same = [c for c in hoist if c in sub.columns and sub[c].nunique() == 1]
            details = ", ".join(f"{c}: {sub[c].iloc[0]}" for c in same)
            sub, sub_marks = sub.drop(columns=same), sub_marks.drop(columns=same, errors="ignore")
            cap = f"{caption}: {value}" if caption else str(value)
            cap += f" ({details})" if details else ""
            self.blocks.append(("table", (sub, sub_marks, cap, collapsed)))
        return self

    def figure(self, figure: Figure) -> Section:
        self.blocks.append(("figure", figure))
        return self

    def link(self, text: str, target: Path) -> Section:
        self.blocks.append(("link", (text, target)))
        return self


def _rel(path: Path, root: Path) -> str:
    return Path(os.path.relpath(path, root)).as_posix()


def render_markdown(title: str, sections: list[Section], root: Path) -> str:
    """The report as Markdown with images and links relative to ``root``."""
    lines = [f"# {title}", ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        for kind, block in section.blocks:
            if kind == "text":
                lines += [str(block), ""]
            elif kind == "callout":
                lines += [f"> **Note.** {block}", ""]
            elif kind == "bullets":
                lines += [*(f"- {item}" for item in block), ""]
            elif kind == "table":
                table, marks, caption, _ = block
                if caption:
                    lines += [f"**{caption}**", ""]
                lines += [to_markdown(table, marks)]
            elif kind == "figure":
                png = _rel(block.png, root)
                look = f" {block.look}" if block.look else ""
                pdf = f" ([PDF]({_rel(block.pdf, root)}))" if block.pdf else ""
                lines += [f"![{block.caption}]({png})", "", f"*{block.caption}.*{look}{pdf}", ""]
            elif kind == "link":
                text, target = block
                lines += [f"[{text}]({_rel(target, root)})", ""]
    return "\n".join(lines)


def _figure_html(block: Figure, root: Path) -> str:
    png = html.escape(_rel(block.png, root))
    pdf = html.escape(_rel(block.pdf, root)) if block.pdf else ""
    cap, look = html.escape(block.caption), html.escape(block.look)
    width = f' style="max-width:{block.width_px}px"' if block.width_px else ""
    pdf_link = f' (<a href="{pdf}">PDF</a>)' if pdf else ""
    return (
        f'<figure><a href="{pdf or png}"><img src="{png}" alt="{cap}"{width}></a>'
        f"<figcaption><strong>{cap}.</strong> {look}{pdf_link}</figcaption></figure>"
    )


def render_html(title: str, sections: list[Section], root: Path) -> str:
    """The report as one HTML page (inline CSS; images referenced by relative path)."""
    anchors = [s.anchor or f"s{i}" for i, s in enumerate(sections)]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<nav><ul>",
        *(
            f'<li><a href="#{a}">{html.escape(s.title)}</a></li>'
            for a, s in zip(anchors, sections, strict=True)
        ),
        "</ul></nav>",
    ]
    for anchor, section in zip(anchors, sections, strict=True):
        parts.append(f'<section id="{anchor}"><h2>{html.escape(section.title)}</h2>')
        for kind, block in section.blocks:
            if kind == "text":
                parts.append(f'<p class="note">{html.escape(str(block))}</p>')
            elif kind == "callout":
                parts.append(f'<p class="callout">{html.escape(str(block))}</p>')
            elif kind == "bullets":
                items = "".join(f"<li>{html.escape(item)}</li>" for item in block)
                parts.append(f'<ul class="note">{items}</ul>')
            elif kind == "table":
                table, marks, caption, collapsed = block
                rendered = f'<div class="scroll">{to_html(table, marks)}</div>'
                if collapsed:
                    rendered = (
                        f"<details><summary>{html.escape(caption or 'table')} "
                        f"({len(table)} rows)</summary>{rendered}</details>"
                    )
                elif caption:
                    rendered = f'<p class="tcap">{html.escape(caption)}</p>{rendered}'
                parts.append(rendered)
            elif kind == "figure":
                parts.append(_figure_html(block, root))
            elif kind == "link":
                text, target = block
                parts.append(
                    f'<p><a href="{html.escape(_rel(target, root))}">{html.escape(text)}</a></p>'
                )
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
