"""A screenshot of every tab for the README: docs/screenshots/{library,builder,testing,settings}.png,
taken in a 1280x800 viewport once the tab has loaded. They are written there only with
PROMPTMGR_UPDATE_SCREENSHOTS=1 (a plain test run writes them to a temporary folder and leaves the
checkout as it was: the suite's other prompts would otherwise show in the README)."""
from __future__ import annotations

import os
import re
import struct
import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

OUT = (Path(__file__).resolve().parents[2] / "docs" / "screenshots" if os.environ.get("PROMPTMGR_UPDATE_SCREENSHOTS")
       else Path(tempfile.gettempdir()) / "promptmgr-screenshots")
TABS = {"library": "Library", "builder": "Builder", "testing": "Testing", "settings": "Settings"}
SHOWCASE_PROMPT = "code-review"  # from the starter library


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


def settle(page) -> None:
    """Wait until no Gradio event is pending (no progress indicators left)."""
    page.wait_for_function("() => !document.querySelector('.wrap.pending, .eta-bar')", timeout=30_000)
    page.wait_for_timeout(600)  # let transitions finish before the picture


@pytest.mark.parametrize("tab", list(TABS))
def test_screenshot_of_every_tab(open_app, tab, external_requests):
    page = open_app()
    if tab == "library":
        # The starter library's coding prompts (other tests' prompts have other categories),
        # with one opened in the editor.
        page.locator("#pm-filter-category").get_by_role("combobox").click()
        option = page.get_by_role("option", name=re.compile(r"^coding \(\d+\)$"))
        count = re.search(r"\((\d+)\)", option.inner_text()).group(1)
        option.click()
        # The filtered page must be the one clicked: a click on the page before it lands on
        # whatever row takes that place when the filtered rows arrive.
        expect(page.locator("#pm-page-info")).to_contain_text(f"of {count}")
        cell = page.locator("#pm-table").get_by_role("gridcell", name=SHOWCASE_PROMPT, exact=True).first
        cell.click()
        page.locator("#pm-editor-header").get_by_text(SHOWCASE_PROMPT).wait_for()
    else:
        page.locator("#pm-tabs").get_by_role("tab", name=TABS[tab]).click()
        # The tab is built when first opened: wait for its controls before waiting for its loaders.
        page.locator(f"#pm-tab-{tab}").locator("input, textarea, button").first.wait_for()
    settle(page)
    page.evaluate("window.scrollTo(0, 0)")
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{tab}.png"
    page.screenshot(path=str(path))
    assert png_size(path) == (1280, 800)
    assert path.stat().st_size > 20_000  # a rendered page, not a blank one
    assert external_requests == []  # nothing outside loopback: no fonts, no analytics
