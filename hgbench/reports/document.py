"""The report document: sections of tables and figures written as ``index.html`` and ``report.md``."""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from hgbench.reports.tables import to_html, to_markdown

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1400px; padding: 0 1em;
       color: #222; }
table.report { border-collapse: collapse; margin: 1em 0; font-size: 0.85em; }
table.report th, table.report td { border: 1px solid #ccc; padding: 0.25em 0.5em;
       text-align: left; white-space: nowrap; }
table.report th { background: #f0f0f0; position: sticky; top: 0; }
table.report caption { caption-side: top; text-align: left; font-weight: bold; }
td.best { background: #e3f4e3; } td.tie { background: #f3f9f3; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.8em; }
.note { color: #555; font-size: 0.9em; }
"""


@dataclass
class Figure:
    """A saved figure: its PNG and PDF paths and a caption."""

    png: Path
    pdf: Path
    caption: str


@dataclass
class Section:
    """A titled part of the report: paragraphs, tables (display + marks) and figures, in order."""

    title: str
    blocks: list[tuple[str, object]] = field(default_factory=list)

    def text(self, paragraph: str) -> Section:
        self.blocks.append(("text", paragraph))
        return self

    def table(
        self,
        table: pd.DataFrame,
        marks: pd.DataFrame,
        caption: str = "",
        *,
        collapsed: bool = False,
    ) -> Section:
        self.blocks.append(("table", (table, marks, caption, collapsed)))
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
            elif kind == "table":
                table, marks, caption, _ = block
                if caption:
                    lines += [f"**{caption}**", ""]
                lines += [to_markdown(table, marks)]
            elif kind == "figure":
                png, pdf = _rel(block.png, root), _rel(block.pdf, root)
                lines += [f"![{block.caption}]({png})", "", f"*{block.caption}* ([PDF]({pdf}))", ""]
            elif kind == "link":
                text, target = block
                lines += [f"[{text}]({_rel(target, root)})", ""]
    return "\n".join(lines)


def render_html(title: str, sections: list[Section], root: Path) -> str:
    """The report as one HTML page (inline CSS; images referenced by relative path)."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<nav><ul>",
        *(f'<li><a href="#s{i}">{html.escape(s.title)}</a></li>' for i, s in enumerate(sections)),
        "</ul></nav>",
    ]
    for i, section in enumerate(sections):
        parts.append(f'<section id="s{i}"><h2>{html.escape(section.title)}</h2>')
        for kind, block in section.blocks:
            if kind == "text":
                parts.append(f'<p class="note">{html.escape(str(block))}</p>')
            elif kind == "table":
                table, marks, caption, collapsed = block
                rendered = to_html(table, marks, caption)
                if collapsed:
                    rendered = (
                        f"<details><summary>{html.escape(caption or 'table')} "
                        f"({len(table)} rows)</summary>{rendered}</details>"
                    )
                parts.append(rendered)
            elif kind == "figure":
                png, pdf = html.escape(_rel(block.png, root)), html.escape(_rel(block.pdf, root))
                cap = html.escape(block.caption)
                parts.append(
                    f'<figure><a href="{pdf}"><img src="{png}" alt="{cap}"></a>'
                    f'<figcaption>{cap} (<a href="{pdf}">PDF</a>)</figcaption></figure>'
                )
            elif kind == "link":
                text, target = block
                parts.append(
                    f'<p><a href="{html.escape(_rel(target, root))}">{html.escape(text)}</a></p>'
                )
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
