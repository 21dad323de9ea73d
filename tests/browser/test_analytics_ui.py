"""The Analytics tab in a real browser: after runs through the fake server, opening the tab shows
each plot with its numbers beside it; nothing is read before the tab is opened; a bad period is a
status line that leaves the form usable; Arabic reads right to left with its own numbers and words.
Also the README's screenshot docs/screenshots/analytics.png."""
from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from promptmgr.schemas import PromptCreate, parse
from tests.browser.conftest import FAKE_MODEL
from tests.browser.test_screenshots import OUT, png_size, settle
from tests.browser.usable import assert_no_error_status, assert_usable

pytestmark = pytest.mark.browser
WAIT = 30_000
PLOTS = ("timeline", "models", "latency", "prompts")


@pytest.fixture
def ran(app_services, fake_llm):
    """A prompt of its own run three times on the fake model (uncached: three real calls)."""
    services, ctx = app_services.services, app_services.ctx
    name = f"stats-{uuid.uuid4().hex[:6]}"
    services.library.create(ctx, parse(PromptCreate, {"name": name, "content": "Describe {{ thing }}."}))
    for thing in ("a cat", "a dog", "a cloud"):
        run = services.testing.run(ctx, name, model=FAKE_MODEL, variables={"thing": thing}, use_cache=False)
        assert run.error_code is None
    return name


@pytest.fixture
def dashboard_calls(app_services, monkeypatch):
    """How many times the app asked for the dashboard."""
    analytics = app_services.services.analytics
    calls, original = [], analytics.dashboard

    def counted(ctx, *args, **kwargs):
        calls.append(ctx.locale)
        return original(ctx, *args, **kwargs)

    monkeypatch.setattr(analytics, "dashboard", counted)
    return calls


def open_tab(page, name: str = "Analytics"):
    page.locator("#pm-tabs").get_by_role("tab", name=name).click()
    expect(page.locator("#analytics-totals")).not_to_be_empty(timeout=WAIT)
    return page


def test_after_runs_the_tab_shows_every_plot_with_its_numbers(open_app, ran, dashboard_calls):
    page = open_app()
    page.wait_for_timeout(500)
    assert dashboard_calls == []  # the page load does not pay for analytics
    open_tab(page)
    # The tab is built when first opened and its data loads right after it appears.
    expect(page.locator("#analytics-totals")).to_contain_text("calls", timeout=WAIT)
    assert len(dashboard_calls) == 1
    for plot in PLOTS:
        drawn = page.locator(f"#analytics-{plot}-plot").locator("canvas, svg").first
        expect(drawn).to_be_visible(timeout=WAIT)
        assert drawn.bounding_box()["height"] > 50, plot
        expect(page.locator(f"#analytics-{plot}-table")).to_be_visible()
    prompts = page.locator("#analytics-prompts-table")
    row = prompts.get_by_role("row").filter(has=page.get_by_role("gridcell", name=ran, exact=True)).first
    expect(row).to_be_visible(timeout=WAIT)
    expect(row.get_by_role("gridcell", name="3", exact=True).first).to_be_visible()  # its three calls
    expect(page.locator("#analytics-models-table").get_by_role("gridcell", name=FAKE_MODEL).first).to_be_visible()
    expect(page.locator("#analytics-latency-table").get_by_role("gridcell", name=FAKE_MODEL).first).to_be_visible()

    # By week, measured in cost: the same numbers, another view.
    page.locator("#analytics-bucket").get_by_text("Week", exact=True).click()
    page.locator("#analytics-metric").get_by_text("Cost (USD)", exact=True).click()
    expect(page.locator("#analytics-timeline-table")).to_contain_text("Week of", timeout=WAIT)
    expect(page.locator("#analytics-timeline-table")).to_contain_text("$")
    assert_no_error_status(page)


def test_a_bad_period_is_a_status_line_and_the_form_stays_usable(open_app, ran):
    page = open_tab(open_app())
    since = page.locator("#analytics-since").locator("input, textarea").first
    since.fill("last tuesday")
    since.press("Enter")
    expect(page.locator("#analytics-status")).to_contain_text("last tuesday", timeout=WAIT)
    expect(page.locator("#analytics-status")).to_contain_text("Since expects")  # the field, not a CLI option
    assert_no_error_status(page)
    assert_usable(page, "analytics-since", "last tuesday")
    assert_usable(page, "analytics-until")
    since.fill("2w")
    page.locator("#analytics-refresh").click()
    expect(page.locator("#analytics-status")).to_have_text("", timeout=WAIT)
    expect(page.locator("#analytics-prompts-table").get_by_role("gridcell", name=ran).first).to_be_visible()


def test_arabic_reads_right_to_left_with_translated_numbers(open_app, ran):
    page = open_app("?lang=ar")
    expect(page.locator("html")).to_have_attribute("dir", "rtl", timeout=WAIT)
    open_tab(page, "التحليلات")
    expect(page.locator("#analytics-totals")).to_contain_text("استدعاء")
    expect(page.locator("#analytics-prompts-table")).to_contain_text("التكلفة")
    expect(page.locator("#analytics-prompts-table")).to_contain_text("US$")  # money as Arabic writes it
    expect(page.locator("#analytics-prompts-table").get_by_role("gridcell", name=ran).first).to_be_visible()


def test_screenshot_of_the_analytics_tab(open_app, ran, external_requests):
    page = open_tab(open_app())
    expect(page.locator("#analytics-timeline-plot").locator("canvas, svg").first).to_be_visible(timeout=WAIT)
    settle(page)
    page.evaluate("window.scrollTo(0, 0)")
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "analytics.png"
    page.screenshot(path=str(path))
    assert png_size(path) == (1280, 800)
    assert path.stat().st_size > 20_000
    assert external_requests == []
