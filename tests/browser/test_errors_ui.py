"""A failed action never locks the form (issue 7, item 1): after each kind of error in the Library
and Settings tabs every field stays visible, editable, uncovered and keeps what was typed; the
message shows as a toast; a corrected retry succeeds. Web messages never send people to the CLI."""
from __future__ import annotations

import json
import re
import uuid

import pytest
from playwright.sync_api import expect

from promptmgr.schemas import PromptCreate, PromptUpdate

pytestmark = pytest.mark.browser


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def field(page, elem_id: str, role: str = "textbox"):
    return page.locator(f"#{elem_id}").get_by_role(role)


def toast(page, text):
    return page.locator(".toast-message-text").filter(has_text=text)


def assert_usable(page, elem_id: str, expected: str, role: str = "textbox") -> None:
    """What a person needs after an error: the field is visible, nothing lies over it (no Gradio
    "Error" status), it still holds what was typed, and typing into it works."""
    box = field(page, elem_id, role)
    expect(box).to_be_visible()
    expect(box).to_be_editable()
    expect(box).to_have_value(expected)
    expect(page.locator(f"#{elem_id}")).not_to_contain_text("Error")
    box.scroll_into_view_if_needed()
    on_top = box.evaluate("""el => {
        const r = el.getBoundingClientRect();
        const top = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
        return el === top || el.contains(top);
    }""")
    assert on_top, f"#{elem_id} is covered after the error"
    box.click()  # playwright refuses to click an element another one covers
    box.press("End")
    extra = "5" if role == "spinbutton" else "!"
    box.press_sequentially(extra)
    expect(box).to_have_value(expected + extra)
    box.press("Backspace")
    expect(box).to_have_value(expected)


def choose_import_file(page, path) -> None:
    with page.expect_file_chooser() as chooser:
        page.locator("#pm-import-file").click()
    chooser.value.set_files(str(path))
    expect(page.locator("#pm-import-chosen")).to_contain_text(path.name)


def new_prompt(page, name: str, title: str, content: str) -> None:
    page.locator("#pm-new").click()
    field(page, "pm-name").fill(name)
    field(page, "pm-title").fill(title)
    field(page, "pm-content").fill(content)


def search_and_open(page, name: str) -> None:
    field(page, "pm-search").fill(name)
    field(page, "pm-search").press("Enter")
    # Only the match: a click on the page before it lands on whatever row takes that place.
    expect(page.locator("#pm-table").get_by_role("row").filter(has=page.get_by_role("gridcell"))).to_have_count(1)
    page.locator("#pm-table").get_by_role("gridcell", name=name, exact=True).first.click()
    expect(page.locator("#pm-editor-header")).to_contain_text(name)


# --- Library ---------------------------------------------------------------------------------
def test_invalid_and_duplicate_names_keep_the_form_usable(open_app, app_services):
    taken = unique("ui-taken")
    app_services.services.library.create(app_services.ctx, PromptCreate(name=taken, content="x"))
    page = open_app()
    new_prompt(page, "not a valid name!", "My title", "Hello {{ who }}")
    page.locator("#pm-save").click()
    expect(toast(page, "names are 1-100 characters")).to_be_visible()
    for elem_id, value in (("pm-name", "not a valid name!"), ("pm-title", "My title"),
                           ("pm-content", "Hello {{ who }}")):
        assert_usable(page, elem_id, value)

    field(page, "pm-name").fill(taken)
    page.locator("#pm-save").click()
    expect(toast(page, taken)).to_be_visible()
    assert_usable(page, "pm-name", taken)
    assert_usable(page, "pm-content", "Hello {{ who }}")

    good = unique("ui-fixed")
    field(page, "pm-name").fill(good)
    page.locator("#pm-save").click()
    expect(page.locator("#pm-editor-header")).to_contain_text("version 1 of 1")
    assert app_services.services.library.get(app_services.ctx, good).title == "My title"


def test_template_syntax_error_on_save_keeps_the_text(open_app, app_services):
    page = open_app()
    name = unique("ui-syntax")
    new_prompt(page, name, "Broken", "Hello {{ person ")
    page.locator("#pm-save").click()
    expect(page.locator(".toast-message-text").first).to_be_visible()
    assert_usable(page, "pm-content", "Hello {{ person ")
    assert_usable(page, "pm-name", name)
    field(page, "pm-content").fill("Hello {{ person }}")
    page.locator("#pm-save").click()
    expect(page.locator("#pm-editor-header")).to_contain_text("version 1 of 1")
    assert app_services.services.library.get(app_services.ctx, name).content == "Hello {{ person }}"


def test_stale_edit_conflict_keeps_the_draft_usable(open_app, app_services):
    name = unique("ui-stale")
    app_services.services.library.create(app_services.ctx, PromptCreate(name=name, content="original"))
    page = open_app()
    search_and_open(page, name)
    app_services.services.library.update(app_services.ctx, name, PromptUpdate(content="theirs", base_version=1))
    field(page, "pm-content").fill("mine, typed carefully")
    field(page, "pm-title").fill("my title")
    page.locator("#pm-save").click()
    expect(toast(page, re.compile("was changed by someone else"))).to_be_visible()
    assert_usable(page, "pm-content", "mine, typed carefully")
    assert_usable(page, "pm-title", "my title")
    expect(page.locator("#pm-save")).to_be_enabled()


def test_label_errors_keep_the_label_field_usable(open_app, app_services):
    name = unique("ui-label-err")
    app_services.services.library.create(app_services.ctx, PromptCreate(name=name, content="x"))
    page = open_app()
    search_and_open(page, name)
    page.locator("#pm-editor-tabs").get_by_role("tab", name="History").click()
    # Remove waits for a label name (an empty field cannot name one).
    expect(page.locator("#pm-remove-label")).to_be_disabled()
    field(page, "pm-label-name").press_sequentially("../ bad label !")
    expect(page.locator("#pm-remove-label")).to_be_enabled()
    page.locator("#pm-set-label").click()
    expect(page.locator(".toast-message-text").first).to_be_visible()
    assert_usable(page, "pm-label-name", "../ bad label !")
    page.locator("#pm-remove-label").click()  # a label that is not there
    expect(page.locator(".toast-message-text").nth(1)).to_be_visible()
    assert_usable(page, "pm-label-name", "../ bad label !")

    field(page, "pm-label-name").fill("staging")
    page.locator("#pm-set-label").click()
    expect(page.locator("#pm-labels")).to_contain_text("staging → v1")
    expect(page.locator("#pm-remove-label")).to_be_disabled()  # the field was emptied


def test_import_error_then_a_good_import(open_app, app_services, tmp_path):
    page = open_app()
    page.locator("#pm-transfer-open").click()
    broken = tmp_path / "broken.json"
    broken.write_text("{ this is not json", encoding="utf-8")
    choose_import_file(page, broken)
    page.locator("#pm-import").click()
    expect(toast(page, "not a readable promptmgr library file")).to_be_visible()
    expect(page.locator("#pm-import-policy").get_by_label("Import under a new name")).to_be_enabled()
    page.locator("#pm-import-policy").get_by_label("Import under a new name").check()

    name = unique("ui-import-retry")
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"format": "promptmgr-library", "format_version": 1, "prompts": [
        {"name": name, "versions": [{"number": 1, "content": "ok"}]}]}), encoding="utf-8")
    choose_import_file(page, good)
    page.locator("#pm-import").click()
    expect(page.locator("#pm-import-report")).to_contain_text("1 new")
    assert app_services.services.library.get(app_services.ctx, name).content == "ok"


# --- Settings --------------------------------------------------------------------------------
def open_settings(open_app):
    page = open_app()
    page.locator("#pm-tabs").get_by_role("tab", name="Settings").click()
    page.locator("#pm-providers").get_by_role("gridcell", name="fake", exact=True).first.wait_for()
    return page


def test_bad_provider_url_then_a_corrected_add(open_app, app_services, fake_llm):
    page = open_settings(open_app)
    name = f"prov-{uuid.uuid4().hex[:6]}"
    field(page, "pm-provider-name").fill(name)
    field(page, "pm-provider-url").fill("not a url")
    page.locator("#pm-provider-add").click()
    expect(toast(page, "is not a valid base URL")).to_be_visible()
    assert_usable(page, "pm-provider-name", name)
    assert_usable(page, "pm-provider-url", "not a url")
    field(page, "pm-provider-url").fill(fake_llm.base_url)
    page.locator("#pm-provider-add").click()
    expect(page.locator("#pm-providers").get_by_role("gridcell", name=name, exact=True).first).to_be_visible()
    app_services.services.providers.remove(app_services.ctx, name)


def test_duplicate_provider_message_speaks_of_the_ui_not_the_cli(open_app, fake_llm):
    page = open_settings(open_app)
    field(page, "pm-provider-name").fill("fake")
    field(page, "pm-provider-url").fill(fake_llm.base_url)
    page.locator("#pm-provider-add").click()
    message = toast(page, "already exists")
    expect(message).to_be_visible()
    expect(message).not_to_contain_text("promptmgr ")
    assert_usable(page, "pm-provider-name", "fake")


def test_bad_price_then_a_corrected_price(open_app, app_services):
    page = open_settings(open_app)
    model = f"fake/price-err-{uuid.uuid4().hex[:6]}"
    field(page, "pm-price-model").fill(model)
    field(page, "pm-price-input", "spinbutton").fill("-1")
    page.locator("#pm-price-set").click()
    expect(page.locator(".toast-message-text").first).to_be_visible()
    assert_usable(page, "pm-price-model", model)
    assert_usable(page, "pm-price-input", "-1", role="spinbutton")
    field(page, "pm-price-input", "spinbutton").fill("0.5")
    page.locator("#pm-price-set").click()
    expect(page.locator("#pm-prices").get_by_role("gridcell", name=model, exact=True).first).to_be_visible()
    app_services.services.providers.remove_price(app_services.ctx, model)
