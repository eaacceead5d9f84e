"""The three reports rendered by a real browser (Debian's chromium, headless, through its
chromedriver): each page loads from its file, every plot decodes, every table has rows,
the sort script runs and sorts, and the console shows no error. A page with broken images
(one that does not decode, one cut short) and a script error is caught by the same check,
so the check can fail."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

try:  # the project's `test` extra; a missing one is said by the browser fixture
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    SELENIUM_MISSING = ""
except ImportError as err:
    SELENIUM_MISSING = str(err)

from pnsuite.report.comparison_report import write_comparison_report
from pnsuite.report.history_report import write_history_report
from pnsuite.report.html import PNG_SIGNATURE, data_uri
from pnsuite.report.sweep_report import write_sweep_report
from tests.report.conftest import (
    analysed,
    build_comparison,
    make_sweep_document,
    write_history_runs,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL = "bash ci/install-browser.sh"
#: (plots, tables) each report must show
EXPECTED = {
    "sweep": (5, ("machine", "ranking", "confirmation", "points")),
    "comparison": (1, ("rows", "identity")),
    "history": (1, ("change-points",)),
}


def _no_browser(reason: str, fix: str = f"install Debian's chromium and chromium-driver: "
                                         f"{INSTALL}") -> None:
    """Skip the browser tests, or fail them on CI, where a skip would hide that the
    reports were never rendered."""
    message = f"{reason}; {fix}"
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    """One headless chromium for the module, quit whatever the tests do."""
    if SELENIUM_MISSING:
        _no_browser(f"selenium is not installed ({SELENIUM_MISSING})",
                    "install the project's test extra: pip install -e '.[test]' (./suite "
                    "does, unless SUITE_EXTRAS leaves it out)")
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        _no_browser(f"no browser for the report tests: {' and '.join(missing)} not installed")
    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,1600"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SE_OFFLINE", "true")  # Selenium Manager must never download a driver
        try:
            driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        except WebDriverException as err:
            pytest.fail(f"{CHROMIUM} is installed but did not start under {CHROMEDRIVER}: "
                        f"{err.msg}", pytrace=False)
        try:
            yield driver
        finally:
            driver.quit()


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, Path]:
    """Each report's page, written once for the module."""
    inputs = build_comparison(tmp_path_factory.mktemp("inputs"))
    storage = write_history_runs(tmp_path_factory.mktemp("history"))
    return {
        "sweep": write_sweep_report(make_sweep_document(), tmp_path_factory.mktemp("sweep")),
        "comparison": write_comparison_report(
            inputs.baseline, inputs.current, inputs.report, inputs.notes,
            tmp_path_factory.mktemp("comparison"), [inputs.golden_diff]),
        "history": write_history_report(analysed(storage), tmp_path_factory.mktemp("hist")),
    }


def page_problems(driver: webdriver.Chrome, page: Path, plots: int,
                  tables: Sequence[str]) -> list[str]:
    """Open `page` and say what is wrong with it: an image that did not decode, another
    number of images than `plots`, a table of `tables` missing or empty, sortable tables
    the sort script did not reach, an error in the browser's console."""
    driver.get_log("browser")  # what earlier pages logged is theirs
    driver.get(page.as_uri())
    WebDriverWait(driver, 10).until(
        lambda d: d.execute_script("return document.readyState") == "complete")
    problems = []
    # A truncated PNG still has a width, but the rows it lacks stay transparent; the
    # reports' plots are opaque throughout, so their last row must be.
    images = driver.execute_script(
        "return Array.from(document.images, i => {"
        " let whole = false;"
        " if (i.complete && i.naturalWidth > 0) {"
        "  const canvas = document.createElement('canvas');"
        "  canvas.width = i.naturalWidth; canvas.height = i.naturalHeight;"
        "  const g = canvas.getContext('2d'); g.drawImage(i, 0, 0);"
        "  const row = g.getImageData(0, i.naturalHeight - 1, i.naturalWidth, 1).data;"
        "  whole = row.every((v, k) => k % 4 !== 3 || v === 255); }"
        " return [i.id || i.src.slice(0, 40), i.complete, i.naturalWidth, whole]; });")
    problems += [f"image {name} did not render (complete {done}, naturalWidth {width})"
                 for name, done, width, _ in images if not (done and width > 0)]
    problems += [f"image {name} decoded only in part" for name, done, width, whole in images
                 if done and width > 0 and not whole]
    if len(images) != plots:
        problems.append(f"{len(images)} images, expected {plots}")
    rows = driver.execute_script(
        "return arguments[0].map(id => { const t = document.getElementById(id);"
        " return t && t.tBodies.length ? t.tBodies[0].rows.length : -1; });", list(tables))
    problems += [f"table {name} is missing" if n < 0 else f"table {name} has no rows"
                 for name, n in zip(tables, rows) if n <= 0]
    unsorted = driver.execute_script(
        "return Array.from(document.querySelectorAll('table.sortable'))"
        ".filter(t => t.dataset.sortable !== 'ready').map(t => t.id);")
    problems += [f"the sort script did not reach table {name}" for name in unsorted]
    problems += [f"console: {entry['message']}" for entry in driver.get_log("browser")
                 if entry["level"] == "SEVERE"]
    return problems


def _column(driver: webdriver.Chrome, table: str, index: int) -> list[str]:
    """Each row's sort value (data-sort, else the text) in column `index`, in page order."""
    return driver.execute_script(
        "const rows = document.getElementById(arguments[0]).tBodies[0].rows;"
        "return Array.from(rows, r => { const c = r.cells[arguments[1]];"
        " return c.hasAttribute('data-sort') ? c.getAttribute('data-sort')"
        " : c.textContent.trim(); });", table, index)


def _click_header(driver: webdriver.Chrome, table: str, title: str) -> int:
    headers = driver.find_elements(By.CSS_SELECTOR, f"#{table} thead th")
    [header] = [h for h in headers if h.text.strip().rstrip("\u25b2\u25bc ") == title]
    header.click()
    return headers.index(header)


def _numbers_then_empty(values: list[str], reverse: bool) -> list[str]:
    numbers = sorted((v for v in values if v), key=float, reverse=reverse)
    return numbers + [v for v in values if not v]


@pytest.mark.parametrize("name", list(EXPECTED))
def test_the_report_renders_completely_without_errors(name, browser, reports, tmp_path):
    plots, tables = EXPECTED[name]
    assert page_problems(browser, reports[name], plots, tables) == []
    shot = tmp_path / f"{name}.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes().startswith(PNG_SIGNATURE) and shot.stat().st_size > 20_000


def test_clicking_a_header_sorts_the_points_by_it(browser, reports):
    assert page_problems(browser, reports["sweep"], *EXPECTED["sweep"]) == []
    before = _column(browser, "points", 0)
    index = _click_header(browser, "points", "throughput (inf/s)")
    ascending = _column(browser, "points", index)
    assert ascending == _numbers_then_empty(ascending, reverse=False)
    assert ascending[-1] == "", "the failed point has no throughput: last"
    _click_header(browser, "points", "throughput (inf/s)")
    descending = _column(browser, "points", index)
    assert descending == _numbers_then_empty(descending, reverse=True)
    assert descending != ascending and _column(browser, "points", 0) != before
    fastest = max(make_sweep_document().points, key=lambda p: p.throughput if p.ok else 0)
    assert _column(browser, "points", 0)[0].startswith(fastest.key.label)


def test_clicking_a_header_sorts_the_comparison_by_change(browser, reports):
    assert page_problems(browser, reports["comparison"], *EXPECTED["comparison"]) == []
    index = _click_header(browser, "rows", "change")
    changes = _column(browser, "rows", index)
    assert changes == _numbers_then_empty(changes, reverse=False)
    assert len(set(changes)) > 1


def test_the_check_catches_broken_images_and_a_script_error(browser, reports, tmp_path):
    plot = reports["sweep"].with_name("throughput.png").read_bytes()
    truncated = plot[:len(plot) // 3]
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>broken</title></head><body>"
        "<table id='t' class='sortable'><thead><tr><th>a</th></tr></thead>"
        "<tbody><tr><td>1</td></tr></tbody></table>"
        "<img id='img-broken' src='data:image/png;base64,iVBORw0KGgoAAAA='>"
        f"<img id='img-truncated' src='{data_uri(truncated)}'>"
        "<script>undefinedReportFunction();</script></body></html>")
    problems = page_problems(browser, page, 3, ("t", "absent"))
    assert any(p.startswith("image img-broken did not render") for p in problems), problems
    assert "image img-truncated decoded only in part" in problems
    assert "2 images, expected 3" in problems
    assert "table absent is missing" in problems
    assert "the sort script did not reach table t" in problems
    assert any(p.startswith("console: ") and "undefinedReportFunction" in p
               for p in problems), problems
