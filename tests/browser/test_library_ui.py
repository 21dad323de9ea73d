"""The Library tab in a real browser: create, edit, history and diff, search and filters,
conflicts, delete, chat messages, import and export."""
from __future__ import annotations

import json
import re
import uuid

import pytest
from playwright.sync_api import expect

from promptmgr.schemas import PromptCreate, PromptQuery, PromptUpdate

pytestmark = pytest.mark.browser


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def textbox(page, elem_id: str):
    return page.locator(f"#{elem_id}").get_by_role("textbox")


def type_into(box, value: str) -> None:
    """Set a text field the way typing does: Gradio's live (.input) events fire on key presses,
    not on playwright's fill()."""
    box.fill(value[:-1])
    box.press_sequentially(value[-1])


def rows(grid):
    """The data rows of a Dataframe (its header row has no gridcells)."""
    return grid.get_by_role("row").filter(has=grid.page.get_by_role("gridcell"))


def create(app_services, name: str, content: str, **fields):
    return app_services.services.library.create(app_services.ctx, PromptCreate(name=name, content=content, **fields))


def search_and_open(page, name: str) -> None:
    textbox(page, "pm-search").fill(name)
    textbox(page, "pm-search").press("Enter")
    # Only the match: a click on the page before it lands on whatever row takes that place.
    expect(rows(page.locator("#pm-table"))).to_have_count(1)
    page.locator("#pm-table").get_by_role("gridcell", name=name, exact=True).first.click()
    expect(page.locator("#pm-editor-header")).to_contain_text(name)


def choose_import_file(page, path) -> None:
    """Pick a file with the import button, as a person does through the file dialog."""
    with page.expect_file_chooser() as chooser:
        page.locator("#pm-import-file").click()
    chooser.value.set_files(str(path))
    expect(page.locator("#pm-import-chosen")).to_contain_text(path.name)


def save(page) -> None:
    page.locator("#pm-save").click()


def test_create_prompt_in_ui_and_find_it_with_cli(open_app, app_services, external_requests):
    page = open_app()
    name = unique("ui-created")
    page.locator("#pm-new").click()
    textbox(page, "pm-name").fill(name)
    textbox(page, "pm-title").fill("Greeting from the browser")
    textbox(page, "pm-description").fill("Made in a playwright test")
    # A template error is reported live with its line, before anything is saved.
    type_into(textbox(page, "pm-content"), "Hello\n{{ person ")
    expect(page.locator("#pm-lint")).to_contain_text("Template error on line 2")
    content = "Hello {{ person }}, welcome to {{ place }}!"
    type_into(textbox(page, "pm-content"), content)
    expect(page.locator("#pm-lint")).to_contain_text("No template problems")
    # Variables are detected live, before saving.
    expect(page.locator("#pm-variables")).to_contain_text("person")
    expect(page.locator("#pm-variables")).to_contain_text("place")
    expect(page.locator("#pm-tokens")).to_contain_text("tokens")
    textbox(page, "pm-change-message").fill("first draft")
    save(page)
    expect(page.locator("#pm-editor-header")).to_contain_text("version 1 of 1")
    # The name is fixed once created.
    expect(textbox(page, "pm-name")).to_be_disabled()

    result = app_services.cli("prompts", "show", name, "--json")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["name"] == name
    assert shown["title"] == "Greeting from the browser"
    assert shown["content"] == content
    assert shown["version"] == 1
    assert external_requests == []


def test_edit_makes_a_second_version_with_a_readable_diff(open_app, app_services):
    name = unique("ui-edited")
    create(app_services, name, "Summarize the text.\nKeep it short.", title="Summarizer")
    page = open_app()
    search_and_open(page, name)
    type_into(textbox(page, "pm-content"), "Summarize the text in {{ language }}.\nKeep it short.")
    expect(page.locator("#pm-variables")).to_contain_text("language")
    textbox(page, "pm-change-message").fill("answer in a chosen language")
    save(page)
    expect(page.locator("#pm-editor-header")).to_contain_text("version 2 of 2")

    page.locator("#pm-editor-tabs").get_by_role("tab", name="History").click()
    history = page.locator("#pm-history")
    expect(history.get_by_role("gridcell", name="answer in a chosen language").first).to_be_visible()
    expect(rows(history)).to_have_count(2)
    diff = page.locator("#pm-diff")
    expect(diff.locator(".pm-diff-del")).to_contain_text("-Summarize the text.")
    expect(diff.locator(".pm-diff-add")).to_contain_text("+Summarize the text in {{ language }}.")

    versions = app_services.services.library.history(app_services.ctx, name)
    assert [v.number for v in versions] == [1, 2]
    assert versions[1].message == "answer in a chosen language"


def test_restore_and_labels_from_the_history(open_app, app_services):
    name = unique("ui-restored")
    create(app_services, name, "first text")
    app_services.services.library.update(app_services.ctx, name, PromptUpdate(content="second text", base_version=1))
    page = open_app()
    search_and_open(page, name)
    page.locator("#pm-editor-tabs").get_by_role("tab", name="History").click()
    textbox(page, "pm-label-name").fill("production")
    page.locator("#pm-label-version").get_by_role("combobox").click()
    page.get_by_role("option", name="v1", exact=True).click()
    page.locator("#pm-set-label").click()
    expect(page.locator("#pm-labels")).to_contain_text("production → v1")
    assert app_services.services.library.get(app_services.ctx, name, label="production").version == 1

    page.locator("#pm-restore").click()  # the restore choice defaults to the version before the newest
    expect(page.locator("#pm-editor-header")).to_contain_text("version 3 of 3")
    restored = app_services.services.library.get(app_services.ctx, name)
    assert restored.content == "first text" and restored.version == 3


def test_search_and_filters_narrow_the_table(open_app, app_services):
    marker = f"zebracorn{uuid.uuid4().hex[:6]}"
    names = [unique("ui-search") for _ in range(2)]
    create(app_services, names[0], f"Describe a {marker} in detail.", category="ui-tests-a")
    create(app_services, names[1], f"Draw a {marker} for children.", category="ui-tests-b")
    page = open_app()
    textbox(page, "pm-search").press_sequentially(marker)  # typing alone searches, after a short pause
    expect(page.locator("#pm-page-info")).to_contain_text("1–2 of 2")
    table = page.locator("#pm-table")
    for name in names:
        expect(table.get_by_role("gridcell", name=name, exact=True).first).to_be_visible()

    page.reload()
    page.locator("#pm-table").get_by_role("gridcell").first.wait_for()
    # The category filter lists the new categories with counts; combined with the search it narrows to one.
    page.locator("#pm-filter-category").get_by_role("combobox").click()
    page.get_by_role("option", name="ui-tests-b (1)").click()
    expect(page.locator("#pm-page-info")).to_contain_text("1–1 of 1")
    textbox(page, "pm-search").fill(marker)
    textbox(page, "pm-search").press("Enter")
    expect(page.locator("#pm-page-info")).to_contain_text("1–1 of 1")
    expect(table.get_by_role("gridcell", name=names[1], exact=True).first).to_be_visible()
    expect(table.get_by_role("gridcell", name=names[0], exact=True)).to_have_count(0)


def test_pager_walks_through_the_whole_library(open_app, app_services):
    total = app_services.services.library.list(app_services.ctx, PromptQuery(limit=1)).total
    page = open_app()
    info = page.locator("#pm-page-info")
    expect(info).to_contain_text(f"1–25 of {total}")
    expect(rows(page.locator("#pm-table"))).to_have_count(25)
    page.locator("#pm-next").click()
    expect(info).to_contain_text(f"26–{min(50, total)} of {total}")
    page.locator("#pm-prev").click()
    expect(info).to_contain_text(f"1–25 of {total}")
    expect(page.locator("#pm-prev")).to_be_disabled()


def test_stale_save_shows_the_conflict_and_keeps_the_typed_text(open_app, app_services):
    name = unique("ui-conflict")
    create(app_services, name, "original")
    page = open_app()
    search_and_open(page, name)
    # Someone else saves a version meanwhile.
    app_services.services.library.update(app_services.ctx, name, PromptUpdate(content="theirs", base_version=1))
    textbox(page, "pm-content").fill("mine, typed carefully")
    save(page)
    expect(page.get_by_text(re.compile("was changed by someone else"))).to_be_visible()
    expect(textbox(page, "pm-content")).to_have_value("mine, typed carefully")
    assert app_services.services.library.get(app_services.ctx, name).content == "theirs"


def test_delete_asks_for_confirmation(open_app, app_services):
    name = unique("ui-deleted")
    create(app_services, name, "to be removed")
    page = open_app()
    search_and_open(page, name)
    page.locator("#pm-delete").click()
    expect(page.locator("#pm-confirm-delete")).to_contain_text(name)
    page.locator("#pm-delete-no").click()
    expect(page.locator("#pm-confirm-delete")).to_be_hidden()
    assert app_services.services.library.get(app_services.ctx, name).name == name

    page.locator("#pm-delete").click()
    page.locator("#pm-delete-yes").click()
    expect(page.locator("#pm-page-info")).to_contain_text("No prompts match")
    assert app_services.services.library.list(app_services.ctx, PromptQuery(q=name)).total == 0


def test_chat_prompt_with_messages_and_an_image(open_app, app_services, tmp_path):
    name = unique("ui-chat")
    page = open_app()
    page.locator("#pm-new").click()
    textbox(page, "pm-name").fill(name)
    page.locator("#pm-kind").get_by_label("Chat").check()
    chat_text = textbox(page, "pm-chat-text")
    type_into(chat_text, "You are a {{ tone }} assistant.")
    page.locator("#pm-chat-role").get_by_role("combobox").click()
    page.get_by_role("option", name="System", exact=True).click()
    page.get_by_role("button", name="+ Add").click()
    expect(rows(page.locator("#pm-chat-list"))).to_have_count(2)
    type_into(chat_text, "Describe this picture for {{ audience }}.")
    image = tmp_path / "dot.png"
    image.write_bytes(bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"))
    with page.expect_file_chooser() as chooser:
        page.locator("#pm-chat-upload").click()
    chooser.value.set_files(str(image))
    expect(textbox(page, "pm-chat-images")).to_have_value(re.compile(r"^file:[0-9a-f]+\.png$"))
    expect(page.locator("#pm-variables")).to_contain_text("audience")
    # Move the user message above the system message and back: order is kept in the saved prompt.
    page.get_by_role("button", name="↑ Up").click()
    expect(rows(page.locator("#pm-chat-list")).first).to_contain_text("User")
    page.get_by_role("button", name="↓ Down").click()
    expect(rows(page.locator("#pm-chat-list")).first).to_contain_text("System")
    save(page)
    expect(page.locator("#pm-editor-header")).to_contain_text("version 1 of 1")

    saved = app_services.services.library.get(app_services.ctx, name)
    assert saved.kind == "chat"
    assert [m["role"] for m in saved.messages] == ["system", "user"]
    assert saved.messages[0]["content"][0]["text"] == "You are a {{ tone }} assistant."
    parts = saved.messages[1]["content"]
    assert parts[0] == {"type": "text", "text": "Describe this picture for {{ audience }}."}
    assert parts[1]["type"] == "image" and parts[1]["url"].startswith("file:")
    stored = app_services.home / "files" / str(app_services.ctx.tenant_id) / parts[1]["url"].removeprefix("file:")
    assert stored.read_bytes() == image.read_bytes()
    assert set(saved.used_variables) == {"tone", "audience"}


def test_import_and_export(open_app, app_services, tmp_path):
    name = unique("ui-imported")
    document = {"format": "promptmgr-library", "format_version": 1, "prompts": [{
        "name": name, "title": "Imported in the browser", "category": "ui-import",
        "versions": [{"number": 1, "content": "Imported {{ thing }}"}]}]}
    path = tmp_path / "library.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    page = open_app()
    page.locator("#pm-transfer-open").click()
    choose_import_file(page, path)
    page.locator("#pm-import").click()
    expect(page.locator("#pm-import-report")).to_contain_text("1 new")
    assert app_services.services.library.get(app_services.ctx, name).title == "Imported in the browser"

    page.locator("#pm-export-format").get_by_label("YAML").check()
    page.locator("#pm-export").click()
    link = page.locator("#pm-export-file").get_by_role("link").first
    expect(link).to_have_attribute("download", re.compile(r"^promptmgr-library-.*\.yaml$"))
    with page.expect_download() as download:
        link.click()
    exported = download.value.path().read_text(encoding="utf-8")
    assert f"name: {name}" in exported
