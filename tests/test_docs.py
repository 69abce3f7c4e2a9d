"""The documentation stays true to the code: the schema tables of ``docs/users.md`` are those
of ``hgbench/bench/schema.py``, every page is in the MkDocs nav, the README's links resolve.

(``mkdocs build --strict`` in ``.ci/run`` checks the links between the docs pages.)
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from hgbench.bench import schema

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _docs_schema():
    spec = importlib.util.spec_from_file_location(
        "docs_schema", ROOT / "scripts" / "docs_schema.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("part", ["runs", "runs_extra", "records", "batches"])
def test_schema_tables_in_the_docs_are_the_schema(part):
    docs_schema = _docs_schema()
    text = (DOCS / "users.md").read_text()
    block = docs_schema.marked(text, part)
    assert block is not None, f"docs/users.md has no marked block schema:{part}"
    expected = docs_schema.blocks()[part]
    assert block.group(1).strip() == expected, (
        f"docs/users.md's schema:{part} table differs from hgbench/bench/schema.py; "
        "run `python scripts/docs_schema.py --write`"
    )


def test_every_run_column_is_documented_with_its_meaning():
    text = (DOCS / "users.md").read_text()
    for column in schema.RUNS + schema.RUNS_EXTRA + schema.RECORDS + schema.BATCHES:
        assert f"| `{column.name}` | {column.sql} |" in text, column.name


def _nav_pages() -> list[str]:
    text = (ROOT / "mkdocs.yml").read_text()
    nav = text[text.index("\nnav:") :]
    return re.findall(r":\s*([\w./-]+\.md)\s*$", nav, re.MULTILINE)


def test_every_docs_page_is_in_the_nav_and_exists():
    pages = _nav_pages()
    assert "index.md" in pages
    on_disk = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
    assert sorted(pages) == on_disk


def test_readme_is_short_and_its_links_resolve():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    assert links, "the README links to the docs"
    for link in links:
        if "://" in link:
            continue
        assert (ROOT / link).exists(), f"README links to {link}, which does not exist"


def test_docs_pages_link_nothing_outside_docs():
    """MkDocs cannot resolve relative links outside docs/ (strict mode fails on them): the pages
    name repository files as code instead."""
    for page in DOCS.rglob("*.md"):
        for link in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if "://" in link or link.startswith("#"):
                continue
            target = (page.parent / link.split("#")[0]).resolve()
            assert DOCS.resolve() in target.parents, f"{page.name} links outside docs/: {link}"
            assert target.exists(), f"{page.name} links to {link}, which does not exist"
