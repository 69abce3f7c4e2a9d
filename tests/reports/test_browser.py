"""The report as a reader sees it: rendered by headless Chromium at 1280 px.

A copy of ``index.html`` with a small probe script appended is loaded with ``--dump-dom``;
after the page's load event (every image fetched) the script writes what it measured into the
DOM as JSON: images that did not load, elements outside a scroll box wider than the viewport,
the sections in order. A screenshot of the real page is kept under the test's tmp dir.
Skipped where no Chromium is installed (CI installs Debian's ``chromium``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from hgbench.bench.store import ResultsStore
from hgbench.reports import build_report
from tests.reports.synthetic import make_sweep

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "/usr/bin/chromium")
WIDTH = 1280

PROBE = """
<script>
window.addEventListener("load", () => {
  const inScroll = (el) => el.closest(".scroll") !== null && !el.classList.contains("scroll");
  const wide = [...document.body.querySelectorAll("*")]
    .filter((el) => !inScroll(el))
    .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 0.5)
    .map((el) => el.tagName + "." + el.className);
  const images = [...document.images];
  const probe = document.createElement("pre");
  probe.id = "probe";
  probe.textContent = JSON.stringify({
    viewport: window.innerWidth,
    pageWidth: document.documentElement.scrollWidth,
    images: images.length,
    broken: images.filter((i) => !i.complete || i.naturalWidth === 0).map((i) => i.src),
    wide: wide,
    sections: [...document.querySelectorAll("section")].map((s) => s.id),
    pairedTables: document.querySelectorAll("#paired table").length,
  });
  document.body.appendChild(probe);
});
</script>
"""


def chromium() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no Chromium found (apt-get install chromium): the browser test needs one")


def headless(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--hide-scrollbars", f"--user-data-dir={profile}",
    ]  # fmt: skip
    return subprocess.run(
        [browser, *flags, *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.slow
def test_report_renders_in_chromium_at_1280_px(tmp_path: Path) -> None:
    browser = chromium()
    runs, records = make_sweep(n_inits=6)
    with ResultsStore(tmp_path / "results.sqlite") as store:
        store.write(runs.to_dict("records"), records.itertuples(index=False, name=None))
    index = build_report(tmp_path / "results.sqlite", tmp_path / "report", n_boot=50, dpi=80)
    probe = index.with_name("probe.html")
    probe.write_text(index.read_text().replace("</body>", PROBE + "</body>"))

    done = headless(
        browser, tmp_path / "profile", "--dump-dom", "--virtual-time-budget=20000",
        f"--window-size={WIDTH},2000", probe.as_uri(),
    )  # fmt: skip
    found = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, re.S)
    assert found, f"the probe did not run: {done.stderr[-2000:]}"
    facts = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert facts["viewport"] == WIDTH
    assert facts["images"] >= 5 and facts["broken"] == []
    assert facts["wide"] == [], "elements wider than the viewport outside a scroll box"
    assert facts["pageWidth"] <= WIDTH
    # the paired head-to-head right after the header, with a table per task
    assert facts["sections"][:2] == ["about", "paired"]
    assert facts["pairedTables"] == 2

    shot = tmp_path / "report_1280.png"
    done = headless(
        browser, tmp_path / "profile", f"--screenshot={shot}", f"--window-size={WIDTH},3000",
        index.as_uri(),
    )  # fmt: skip
    assert shot.is_file() and shot.stat().st_size > 10_000, done.stderr[-2000:]
    print(f"screenshot of the report at {WIDTH} px: {shot}")
