"""Languages in a real browser: ?lang=, right-to-left Arabic, switching in Settings without a
restart (saved as a preference), and translated messages from handlers."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from promptmgr.i18n import t

pytestmark = pytest.mark.browser


def tab_names(page) -> list[str]:
    return [name.strip() for name in page.locator("#pm-tabs").get_by_role("tab").all_inner_texts()]


@pytest.fixture
def reset_preferences(app_services):
    """Language and theme are saved per user: put them back for the other tests."""
    yield
    app_services.services.admin.save_preferences(app_services.ctx, locale=None, theme="system")


def test_lang_de_shows_german_labels(open_app):
    page = open_app("?lang=de")
    expect(page.locator("#pm-tabs").get_by_role("tab", name="Bibliothek")).to_be_visible()
    # The Admin tab (the local user is the owner) comes last, translated like the others.
    assert tab_names(page)[0] == "Bibliothek" and tab_names(page)[-2:] == ["Einstellungen", "Verwaltung"]
    expect(page.locator("#pm-new")).to_have_text("Neuer Prompt")
    expect(page.locator("#pm-search").get_by_role("textbox")).to_have_attribute(
        "placeholder", "Prompts durchsuchen…")
    expect(page.locator("#pm-table").get_by_role("columnheader", name="Kategorie")).to_be_visible()
    expect(page.locator("#pm-page-info")).to_contain_text(" von ")
    assert page.evaluate("document.documentElement.lang") == "de"
    assert page.evaluate("document.documentElement.dir") == "ltr"


def test_lang_ar_is_right_to_left(open_app):
    page = open_app("?lang=ar")
    expect(page.locator("#pm-tabs").get_by_role("tab", name="المكتبة")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    assert page.evaluate("document.documentElement.lang") == "ar"
    expect(page.locator("#pm-new")).to_have_text("موجّه جديد")
    # Laid out right to left: the search box starts at the right edge, the button sits to its left.
    search = page.locator("#pm-search").bounding_box()
    button = page.locator("#pm-new").bounding_box()
    assert button["x"] < search["x"]


def test_handler_messages_are_translated(open_app):
    page = open_app("?lang=de")
    expect(page.locator("#pm-transfer-open")).to_have_text("Import und Export")
    page.locator("#pm-transfer-open").click()
    page.locator("#pm-import").click()
    german = t("ui.library.transfer.no_file", "de")
    assert german != t("ui.library.transfer.no_file", "en")
    expect(page.get_by_text(german)).to_be_visible()


def test_switching_language_in_settings_needs_no_restart(open_app, app_services, reset_preferences):
    page = open_app()
    assert tab_names(page)[0] == "Library"
    page.locator("#pm-tabs").get_by_role("tab", name="Settings").click()
    page.locator("#pm-language").get_by_role("combobox").click()
    page.get_by_role("option", name="Deutsch").click()
    # Same page, no reload: every tab is relabelled and the choice is saved.
    expect(page.locator("#pm-tabs").get_by_role("tab", name="Bibliothek")).to_be_visible()
    expect(page.get_by_text("Sprache auf Deutsch umgestellt.")).to_be_visible()
    assert app_services.services.admin.preferences(app_services.ctx)["locale"] == "de"
    page.locator("#pm-tabs").get_by_role("tab", name="Bibliothek").click()
    expect(page.locator("#pm-page-info")).to_contain_text(" von ")

    # The saved preference is used on the next visit (no ?lang=).
    page.reload()
    expect(page.locator("#pm-tabs").get_by_role("tab", name="Bibliothek")).to_be_visible()

    # Switching to Arabic turns the page right to left, still without a reload.
    page.locator("#pm-tabs").get_by_role("tab", name="Einstellungen").click()
    page.locator("#pm-language").get_by_role("combobox").click()
    page.get_by_role("option", name="العربية").click()
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator("#pm-tabs").get_by_role("tab", name="الإعدادات")).to_be_visible()


def test_url_language_wins_over_the_saved_preference(open_app, app_services, reset_preferences):
    app_services.services.admin.save_preferences(app_services.ctx, locale="de")
    page = open_app("?lang=ar")
    expect(page.locator("#pm-tabs").get_by_role("tab", name="المكتبة")).to_be_visible()
    page = open_app()
    expect(page.locator("#pm-tabs").get_by_role("tab", name="Bibliothek")).to_be_visible()


# --- issue 7, item 5: what handlers and loaders write is translated on load too -----------------
def test_lang_de_on_load_translates_the_pager_and_the_run_history(open_app):
    page = open_app("?lang=de")
    # The pager buttons get their text and their enabled state from two places on load; neither
    # may drop the other.
    expect(page.locator("#pm-prev")).to_have_text(t("ui.library.pager.prev", "de"))
    expect(page.locator("#pm-next")).to_have_text(t("ui.library.pager.next", "de"))
    expect(page.locator("#pm-next")).to_be_enabled()
    expect(page.locator("#pm-prev")).to_be_disabled()
    # The import file is chosen with a button in the page's language (Gradio's own drop zone would
    # speak the browser's, English here).
    page.locator("#pm-transfer-open").click()
    expect(page.locator("#pm-import-file")).to_have_text(t("ui.library.transfer.file", "de"))
    expect(page.locator("#pm-transfer")).not_to_contain_text("Drop File Here")
    page.locator("#pm-tabs").get_by_role("tab", name=t("ui.tabs.testing", "de")).click()
    history = page.locator("#testing-history")
    expect(history.get_by_role("columnheader", name=t("ui_testing.history_time", "de"))).to_be_visible()
    expect(history.get_by_role("columnheader", name=t("ui_testing.history_model", "de"))).to_be_visible()
    # The version picker's "Latest" is handler-made text: it is rebuilt in the page's language.
    expect(page.locator("#testing-version input")).to_have_value(t("ui_testing.latest_plain", "de"))


def test_lang_ar_markdown_reads_right_to_left(open_app):
    page = open_app("?lang=ar")
    expect(page.locator("#pm-prev")).to_have_text(t("ui.library.pager.prev", "ar"))
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    for selector in ("#pm-header .prose", "#pm-page-info .prose"):
        prose = page.locator(selector).first
        expect(prose).to_have_css("direction", "rtl")
    # Code stays left to right inside a right-to-left page (the version diff says so itself).
    assert page.evaluate("getComputedStyle(document.querySelector('#pm-header')).direction") == "rtl"
