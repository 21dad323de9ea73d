"""The Builder tab in a real browser: combine two library prompts, reorder them, save the result."""
from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from promptmgr.schemas import PromptCreate, parse
from tests.browser.usable import assert_no_error_status, assert_usable

# Every check waits on a server round trip; the machine running the tests may be busy.
WAIT = 30_000
pytestmark = pytest.mark.browser


def field(page, elem_id: str):
    return page.locator(f"#{elem_id}").get_by_role("textbox")


def add_part(page, name: str) -> None:
    """Search the library, then click the prompt's row in the matches."""
    field(page, "builder-search").fill(name)
    # Not exact: the cell under the previous click stays selected when new rows arrive, and Gradio
    # adds its "Select column"/"Select row" buttons to that cell's accessible name.
    page.locator("#builder-picker").get_by_role("gridcell", name=name).first.click(timeout=WAIT)


def create(app_services, name: str, title: str, content: str):
    return app_services.services.library.create(app_services.ctx, parse(PromptCreate, {
        "name": name, "title": title, "content": content}))


def test_combine_two_prompts_and_save(open_app, app_services):
    tag = uuid.uuid4().hex[:6]
    role = create(app_services, f"bld-role-{tag}", f"Role {tag}", "You are a careful {{ role }}.")
    task = create(app_services, f"bld-task-{tag}", f"Task {tag}", "Summarize {{ text }} for {{ audience }}.")
    page = open_app()
    page.get_by_role("tab", name="Builder").click()
    preview = page.locator("#builder-preview textarea")
    expect(page.locator("#builder-stats")).to_contain_text("Choose at least one prompt", timeout=WAIT)

    add_part(page, role.name)
    expect(page.locator("#builder-chosen")).to_contain_text(f"1. {role.name}", timeout=WAIT)
    add_part(page, task.name)
    expect(page.locator("#builder-chosen")).to_contain_text(f"2. {task.name}", timeout=WAIT)
    page.locator("#builder-mode").get_by_label("Sections").check()

    expect(preview).to_have_value(f"## Role {tag}\n\n{role.content}\n\n## Task {tag}\n\n{task.content}", timeout=WAIT)
    stats = page.locator("#builder-stats")
    expect(stats).to_contain_text("Tokens:", timeout=WAIT)
    expect(stats).to_contain_text("Variables: role, text, audience", timeout=WAIT)

    # Move the first prompt down: the preview follows the new order.
    page.locator("#builder-chosen").get_by_label(f"1. {role.name}").check()
    page.get_by_role("button", name="Move down").click()
    expect(page.locator("#builder-chosen")).to_contain_text(f"1. {task.name}", timeout=WAIT)
    expect(preview).to_have_value(f"## Task {tag}\n\n{task.content}\n\n## Role {tag}\n\n{role.content}", timeout=WAIT)
    expect(stats).to_contain_text("Variables: text, audience, role", timeout=WAIT)
    combined = preview.input_value()

    name = f"bld-combined-{tag}"
    field(page, "builder-name").fill(name)
    field(page, "builder-title").fill("Task then role")
    field(page, "builder-category").fill("Writing")
    field(page, "builder-message").fill("combined in the builder")
    page.locator("#builder-save").click()
    expect(page.locator("#builder-saved")).to_contain_text(f"Saved as prompt '{name}' (version 1)", timeout=WAIT)

    saved = app_services.services.library.get(app_services.ctx, name)
    assert saved.content == combined
    assert saved.title == "Task then role" and saved.category == "writing"
    assert saved.version_message == "combined in the builder"
    assert saved.metadata["builder"] == {
        "sources": [{"name": task.name, "version": 1}, {"name": role.name, "version": 1}], "template": "sections"}
    assert [v["name"] for v in saved.variables] == ["text", "audience", "role"]

    # Saving again under the same name is refused with a readable message; the form stays usable.
    page.locator("#builder-save").click()
    expect(page.locator("#builder-saved")).to_contain_text(f"Prompt '{name}' already exists.", timeout=WAIT)
    assert_no_error_status(page)
    for elem_id, typed in (("builder-name", name), ("builder-title", "Task then role"),
                           ("builder-message", "combined in the builder")):
        assert_usable(page, elem_id, typed)
    assert app_services.services.library.get(app_services.ctx, name).latest_version == 1
    # A bad name, then a good one: the next attempt works.
    field(page, "builder-name").fill("Bad Name!")
    page.locator("#builder-save").click()
    expect(page.locator("#builder-saved")).to_contain_text("names are 1-100 characters", timeout=WAIT)
    assert_usable(page, "builder-name", "Bad Name!")
    field(page, "builder-name").fill(name + "-2")
    page.locator("#builder-save").click()
    expect(page.locator("#builder-saved")).to_contain_text(f"Saved as prompt '{name}-2'", timeout=WAIT)


def test_buttons_follow_the_selection_and_a_row_is_added_once(open_app, app_services):
    tag = uuid.uuid4().hex[:6]
    part = create(app_services, f"bld-once-{tag}", f"Once {tag}", "Say {{ thing }}.")
    page = open_app()
    page.get_by_role("tab", name="Builder").click()
    for label in ("Move up", "Move down", "Remove", "Clear"):
        expect(page.get_by_role("button", name=label)).to_be_disabled(timeout=WAIT)
    add_part(page, part.name)
    expect(page.locator("#builder-chosen")).to_contain_text(f"1. {part.name}", timeout=WAIT)
    # Another cell of the same row: still one entry.
    page.locator("#builder-picker").get_by_role("gridcell", name=f"Once {tag}").first.click()
    page.locator("#builder-picker").get_by_role("gridcell", name=part.name, exact=True).first.click()
    expect(page.locator("#builder-remove")).to_be_enabled(timeout=WAIT)
    expect(page.locator("#builder-chosen")).not_to_contain_text("2.", timeout=WAIT)
    expect(page.locator("#builder-clear")).to_be_enabled(timeout=WAIT)
    page.locator("#builder-remove").click()
    expect(page.locator("#builder-chosen")).not_to_contain_text(part.name, timeout=WAIT)
    for label in ("Move up", "Move down", "Remove", "Clear"):
        expect(page.get_by_role("button", name=label)).to_be_disabled(timeout=WAIT)


def test_the_picker_reaches_prompts_past_the_first_50(open_app, app_services):
    tag = uuid.uuid4().hex[:6]
    for i in range(60):
        create(app_services, f"bulk-{tag}-{i:03d}", f"Bulk {i}", f"Item {i}.")
    total = app_services.services.library.list(app_services.ctx).total
    page = open_app()
    page.get_by_role("tab", name="Builder").click()
    expect(page.locator("#builder-matches")).to_contain_text(f"Showing 50 of {total} prompts", timeout=WAIT)
    add_part(page, f"bulk-{tag}-057")
    expect(page.locator("#builder-chosen")).to_contain_text(f"1. bulk-{tag}-057", timeout=WAIT)
    expect(page.locator("#builder-stats")).to_contain_text("Input cost: $", timeout=WAIT)


def test_custom_template_errors_show_their_line_and_keep_the_preview(open_app, app_services):
    part = create(app_services, f"bld-custom-{uuid.uuid4().hex[:6]}", "Part", "Explain {{ code }}.")
    page = open_app()
    page.get_by_role("tab", name="Builder").click()
    add_part(page, part.name)
    preview = page.locator("#builder-preview textarea")
    expect(preview).not_to_have_value("", timeout=WAIT)
    page.locator("#builder-mode").get_by_label("Custom template").check()
    editor = page.locator("#builder-custom .cm-content")
    expect(editor).to_be_visible(timeout=WAIT)
    editor.click()
    page.keyboard.type("{% for p in parts %}<<{{ p.name }}>>{{ p.content }}{% endfor %}")
    expect(preview).to_have_value(f"<<{part.name}>>Explain {{{{ code }}}}.", timeout=WAIT)
    page.keyboard.press("Enter")
    page.keyboard.type("{% if %}")
    expect(page.locator("#builder-stats")).to_contain_text("Template error on line 2", timeout=WAIT)
    expect(preview).to_have_value(f"<<{part.name}>>Explain {{{{ code }}}}.", timeout=WAIT)
