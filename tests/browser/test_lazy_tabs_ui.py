"""Tabs built when first opened (promptmgr/ui/lazy.py): the page arrives with the Library only;
Builder, Testing and Settings appear, usable and in the page's language, the first time they are
opened, and keep what was typed when the user comes back to them."""
from __future__ import annotations

import json
import urllib.request

import pytest
from playwright.sync_api import expect

from promptmgr.i18n import t
from tests.browser.usable import assert_no_error_status, assert_usable

pytestmark = pytest.mark.browser

WAIT = 30_000
# (tab id, a text field the tab's first render must show usable, a label key shown on that field)
LAZY_TABS = [
    ("builder", "builder-search", "ui_builder.search"),
    ("testing", "testing-search", "ui_testing.search"),
    ("settings", "pm-provider-name", "ui.settings.providers.name"),
]


def open_tab(page, tab_id: str, locale: str = "en"):
    page.locator("#pm-tabs").get_by_role("tab", name=t(f"ui.tabs.{tab_id}", locale)).click()


@pytest.fixture
def reset_preferences(app_services):
    yield
    app_services.services.admin.save_preferences(app_services.ctx, locale=None, theme="system")


def test_the_page_config_carries_the_library_only(app_url):
    with urllib.request.urlopen(app_url + "config", timeout=60) as response:
        config = json.load(response)
    elem_ids = {c.get("props", {}).get("elem_id") for c in config["components"]}
    assert "pm-table" in elem_ids and "pm-search" in elem_ids
    for _tab, field, _key in LAZY_TABS:
        assert field not in elem_ids, f"#{field} is in the page's config: its tab was built with the page"
    assert "pm-language" not in elem_ids


@pytest.mark.parametrize(("tab_id", "field", "key"), LAZY_TABS, ids=[tab for tab, _f, _k in LAZY_TABS])
def test_a_lazy_tab_opened_for_the_first_time_is_usable(open_app, tab_id, field, key):
    page = open_app()
    expect(page.locator(f"#{field}")).to_have_count(0)
    open_tab(page, tab_id)
    assert_usable(page, field)
    expect(page.locator(f"#{field}")).to_contain_text(t(key, "en"), timeout=WAIT)
    # What was typed survives a visit to another tab: the tab is built once per page, not per visit.
    typed = f"kept-{tab_id}"
    page.locator(f"#{field}").get_by_role("textbox").fill(typed)
    open_tab(page, "library")
    open_tab(page, tab_id)
    assert_usable(page, field, typed)
    assert_no_error_status(page)


def test_lazy_tabs_events_work_and_their_choices_are_enabled(open_app, app_services):
    page = open_app()
    open_tab(page, "builder")
    # A radio read by the tab's own events is enabled (Gradio settles "interactive" from the page's
    # events; the tab's events come with its render).
    sections = page.locator("#builder-mode").get_by_label("Sections")
    expect(sections).to_be_enabled(timeout=WAIT)
    # Its loaders ran when it appeared: the picker lists library prompts, and a search narrows it.
    picker = page.locator("#builder-picker")
    expect(picker.get_by_role("gridcell").first).to_be_visible(timeout=WAIT)
    name = app_services.services.library.list(app_services.ctx, _query(limit=1)).items[0].name
    page.locator("#builder-search").get_by_role("textbox").fill(name)
    expect(picker.get_by_role("gridcell", name=name).first).to_be_visible(timeout=WAIT)

    open_tab(page, "settings")
    expect(page.locator("#pm-theme").get_by_label("Dark")).to_be_enabled(timeout=WAIT)
    expect(page.locator("#pm-providers").get_by_role("gridcell", name="fake", exact=True).first).to_be_visible(
        timeout=WAIT)
    assert_usable(page, "pm-price-model")


def test_switching_language_before_opening_a_tab_builds_it_in_that_language(open_app, reset_preferences):
    page = open_app()
    open_tab(page, "settings")
    page.locator("#pm-language").get_by_role("combobox").click()
    page.get_by_role("option", name="Deutsch").click()
    expect(page.locator("#pm-tabs").get_by_role("tab", name=t("ui.tabs.library", "de"))).to_be_visible(
        timeout=WAIT)
    # Settings, opened before the switch, follows it.
    expect(page.locator("#pm-language")).to_contain_text(t("ui.settings.language", "de"), timeout=WAIT)
    expect(page.locator("#pm-provider-add")).to_have_text(t("ui.settings.providers.add", "de"), timeout=WAIT)
    # Builder and Testing, opened after it, are built in German.
    for tab_id, field, key in LAZY_TABS[:2]:
        assert t(key, "de") != t(key, "en")
        open_tab(page, tab_id, "de")
        assert_usable(page, field)
        expect(page.locator(f"#{field}")).to_contain_text(t(key, "de"), timeout=WAIT)
    expect(page.locator("#testing-history").get_by_role(
        "columnheader", name=t("ui_testing.history_time", "de"))).to_be_visible(timeout=WAIT)
    assert_no_error_status(page)


def test_a_page_in_another_language_builds_its_lazy_tabs_in_it(open_app):
    page = open_app("?lang=fr")
    for tab_id, field, key in LAZY_TABS:
        open_tab(page, tab_id, "fr")
        assert_usable(page, field)
        expect(page.locator(f"#{field}")).to_contain_text(t(key, "fr"), timeout=WAIT)
    # Handler-made text (the builder's modes come from a loader) is in French too.
    open_tab(page, "builder", "fr")
    expect(page.locator("#builder-mode")).to_contain_text(t("ui_builder.templates.layered.title", "fr"), timeout=WAIT)


def _query(**kw):
    from promptmgr.schemas import PromptQuery

    return PromptQuery(**kw)
