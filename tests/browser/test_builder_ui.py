"""The Builder tab in a real browser: combine two library prompts, reorder them, save the result."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def choose(page, elem_id: str, name: str) -> None:
    """Pick the option whose label contains `name` in the Gradio dropdown #elem_id."""
    box = page.locator(f"#{elem_id} input")
    box.click()
    box.fill(name)
    page.get_by_role("option", name=name).first.click()


def field(page, elem_id: str):
    return page.locator(f"#{elem_id}").get_by_role("textbox")


def add_part(page, name: str) -> None:
    field(page, "builder-search").fill(name)
    # The search refreshes the picker's choices from the server (full-text, first 50 matches).
    choose(page, "builder-picker", name)


def test_combine_two_prompts_and_save(open_app, app_services):
    page = open_app()
    page.get_by_role("tab", name="Builder").click()
    preview = page.locator("#builder-preview textarea")
    expect(page.locator("#builder-stats")).to_contain_text("Choose at least one prompt")

    add_part(page, "summarize-text")
    expect(page.locator("#builder-chosen")).to_contain_text("1. summarize-text")
    add_part(page, "rewrite-tone")
    expect(page.locator("#builder-chosen")).to_contain_text("2. rewrite-tone")
    page.locator("#builder-mode").get_by_label("Sections").check()

    summarize = app_services.services.library.get(app_services.ctx, "summarize-text")
    rewrite = app_services.services.library.get(app_services.ctx, "rewrite-tone")
    expect(preview).to_have_value(re.compile(r"^## Summarize a text\n"))
    expect(preview).to_have_value(re.compile(r"## Rewrite in a different tone"))
    stats = page.locator("#builder-stats")
    expect(stats).to_contain_text("Tokens:")
    for variable in ("text", "length", "audience", "tone"):
        expect(stats).to_contain_text(variable)
    text = preview.input_value()
    assert summarize.content in text and rewrite.content in text
    assert text.index(summarize.content) < text.index(rewrite.content)

    # Move the first prompt down: the preview follows the new order.
    page.locator("#builder-chosen").get_by_label("1. summarize-text").check()
    page.get_by_role("button", name="Move down").click()
    expect(page.locator("#builder-chosen")).to_contain_text("1. rewrite-tone")
    expect(preview).to_have_value(re.compile(r"^## Rewrite in a different tone\n"))
    combined = preview.input_value()
    assert combined.index(rewrite.content) < combined.index(summarize.content)

    field(page, "builder-name").fill("browser-combined")
    field(page, "builder-title").fill("Rewrite then summarize")
    field(page, "builder-category").fill("Writing")
    field(page, "builder-message").fill("combined in the builder")
    page.locator("#builder-save").click()
    expect(page.locator("#builder-saved")).to_contain_text("Saved as prompt 'browser-combined' (version 1)")

    saved = app_services.services.library.get(app_services.ctx, "browser-combined")
    assert saved.content == combined
    assert saved.title == "Rewrite then summarize" and saved.category == "writing"
    assert saved.version_message == "combined in the builder"
    assert saved.metadata["builder"] == {
        "sources": [{"name": "rewrite-tone", "version": rewrite.version},
                    {"name": "summarize-text", "version": summarize.version}],
        "template": "sections"}
    assert {"text", "tone", "length", "audience"} <= {v["name"] for v in saved.variables}

    # Saving again under the same name is refused with a readable message; the form keeps its input.
    page.locator("#builder-save").click()
    expect(page.get_by_text("Prompt 'browser-combined' already exists.")).to_be_visible()
    expect(field(page, "builder-name")).to_have_value("browser-combined")
    assert app_services.services.library.get(app_services.ctx, "browser-combined").latest_version == 1


def test_custom_template_errors_show_their_line_and_keep_the_preview(open_app):
    page = open_app()
    page.get_by_role("tab", name="Builder").click()
    add_part(page, "explain-code")
    preview = page.locator("#builder-preview textarea")
    expect(preview).not_to_have_value("")
    page.locator("#builder-mode").get_by_label("Custom template").check()
    editor = page.locator("#builder-custom .cm-content")
    expect(editor).to_be_visible()
    editor.click()
    page.keyboard.type("{% for p in parts %}<<{{ p.name }}>>{{ p.content }}{% endfor %}")
    expect(preview).to_have_value(re.compile(r"^<<explain-code>>"))
    page.keyboard.press("Enter")
    page.keyboard.type("{% if %}")
    expect(page.locator("#builder-stats")).to_contain_text("Template error on line 2")
    expect(preview).to_have_value(re.compile(r"^<<explain-code>>"))
