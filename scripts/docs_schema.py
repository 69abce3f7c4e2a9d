"""The results-schema tables of ``docs/users.md``, generated from ``hgbench.bench.schema``.

``docs/users.md`` holds one table per schema part between marker comments
(``<!-- BEGIN schema:runs -->`` ... ``<!-- END schema:runs -->``, likewise ``runs_extra``,
``records`` and ``batches``); ``tests/test_docs.py`` fails when a table differs from the schema.
After changing ``hgbench/bench/schema.py``, rewrite them::

    python scripts/docs_schema.py --write      # rewrite the tables in docs/users.md
    python scripts/docs_schema.py              # print them
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the checkout's hgbench, not an installed copy

from hgbench.bench import schema  # noqa: E402

DOCS_PAGE = ROOT / "docs" / "users.md"
PARTS = {
    "runs": schema.RUNS,
    "runs_extra": schema.RUNS_EXTRA,
    "records": schema.RECORDS,
    "batches": schema.BATCHES,
}


def table(columns: tuple[schema.Column, ...]) -> str:
    """A Markdown table of ``columns``: name, SQL type and meaning."""
    rows = ["| column | type | meaning |", "|---|---|---|"]
    for c in columns:
        doc = c.doc.replace("``", "`").replace("|", "\\|")
        rows.append(f"| `{c.name}` | {c.sql} | {doc} |")
    return "\n".join(rows)


def blocks() -> dict[str, str]:
    """``part -> table`` for every schema part."""
    return {name: table(cols) for name, cols in PARTS.items()}


def marked(text: str, part: str) -> re.Match[str] | None:
    """The marked block of ``part`` in ``text`` (group 1: its content, newline-terminated)."""
    return re.search(
        rf"<!-- BEGIN schema:{part} -->\n(.*?)<!-- END schema:{part} -->", text, re.DOTALL
    )


def rewrite(text: str) -> str:
    """``text`` with every marked block replaced by the generated table."""
    for part, body in blocks().items():
        match = marked(text, part)
        if match is None:
            raise ValueError(f"{DOCS_PAGE}: no marked block for schema:{part}")
        text = text[: match.start(1)] + body + "\n" + text[match.end(1) :]
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"rewrite the tables in {DOCS_PAGE}")
    args = parser.parse_args()
    if args.write:
        DOCS_PAGE.write_text(rewrite(DOCS_PAGE.read_text()))
        print(f"rewrote the schema tables in {DOCS_PAGE}")
        return
    for part, body in blocks().items():
        print(f"<!-- BEGIN schema:{part} -->\n{body}\n<!-- END schema:{part} -->\n")


if __name__ == "__main__":
    main()
