"""The Library tab in a real browser, issue 7: search as you type (item 2), unsaved edits are not
thrown away without asking (item 4), what the variable list promises is what is saved and Remove
label waits for a name (item 10), exports leave no readable copy of the library behind (item 14)."""
from __future__ import annotations

import logging
import os
import stat
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from gradio.utils import get_upload_folder
from playwright.sync_api import expect

from promptmgr.schemas import PromptCreate, PromptQuery

pytestmark = pytest.mark.browser


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def textbox(page, elem_id: str):
    return page.locator(f"#{elem_id}").get_by_role("textbox")


def cell(page, name: str):
    return page.locator("#pm-table").get_by_role("gridcell", name=name, exact=True).first


def show(page, query: str) -> None:
    textbox(page, "pm-search").fill(query)
    textbox(page, "pm-search").press("Enter")


# --- item 2: search as you type -------------------------------------------------------------
def type_search(page, query: str, capfd, caplog) -> None:
    caplog.set_level(logging.ERROR)
    textbox(page, "pm-search").press_sequentially(query, delay=60)


def assert_no_server_errors(capfd, caplog) -> None:
    _out, err = capfd.readouterr()
    assert "Traceback" not in err and "does not match" not in err, err[-3000:]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def test_typing_a_word_char_by_char_finds_it_without_server_errors(open_app, app_services, capfd, caplog):
    expected = app_services.services.library.list(app_services.ctx, PromptQuery(q="summarize", limit=25))
    assert expected.total >= 1
    page = open_app()
    capfd.readouterr()
    type_search(page, "summarize", capfd, caplog)
    expect(page.locator("#pm-page-info")).to_contain_text(f"1–{expected.total} of {expected.total}")
    for prompt in expected.items:
        expect(cell(page, prompt.name)).to_be_visible()
    # The box holds every key typed (no keystroke was swallowed by an update of the field).
    expect(textbox(page, "pm-search")).to_have_value("summarize")
    assert_no_server_errors(capfd, caplog)


def test_typing_a_prefix_finds_the_summarize_prompts(open_app, app_services, capfd, caplog):
    # Prefix matching of the last word is helper "search"'s change to the repository; this
    # assertion holds once it is merged (it may already hold where the search stems words).
    page = open_app()
    capfd.readouterr()
    type_search(page, "summ", capfd, caplog)
    expect(cell(page, "summarize-text")).to_be_visible()
    expect(cell(page, "executive-summary")).to_be_visible()
    expect(textbox(page, "pm-search")).to_have_value("summ")
    assert_no_server_errors(capfd, caplog)


# --- item 4: unsaved edits -------------------------------------------------------------------
def test_unsaved_edits_are_kept_unless_the_user_discards_them(open_app, app_services):
    marker = f"draftcheck{uuid.uuid4().hex[:6]}"
    first, second = unique("ui-draft-a"), unique("ui-draft-b")
    library, ctx = app_services.services.library, app_services.ctx
    library.create(ctx, PromptCreate(name=first, content=f"first {marker}", title="Alpha title",
                                     tags=["b", "a"], description="one"))
    library.create(ctx, PromptCreate(name=second, content=f"second {marker}", title="Beta title"))
    page = open_app()
    show(page, marker)
    # Rows are clicked on their title: a selected cell can lie over the name of the row below it.
    cell(page, "Alpha title").click()
    expect(page.locator("#pm-editor-header")).to_contain_text(first)
    # Opening another prompt with nothing changed asks nothing.
    cell(page, "Beta title").click()
    expect(page.locator("#pm-editor-header")).to_contain_text(second)
    cell(page, "Alpha title").click()
    expect(page.locator("#pm-editor-header")).to_contain_text(first)

    textbox(page, "pm-content").fill("my unsaved draft")
    cell(page, "Beta title").click()
    question = page.locator("#pm-confirm-discard")
    expect(question).to_be_visible()
    expect(question).to_contain_text(first)
    page.locator("#pm-discard-no").click()
    expect(question).to_be_hidden()
    expect(page.locator("#pm-editor-header")).to_contain_text(first)
    expect(textbox(page, "pm-content")).to_have_value("my unsaved draft")
    expect(textbox(page, "pm-content")).to_be_editable()

    # "New prompt" asks too; discarding opens the empty form.
    page.locator("#pm-new").click()
    expect(question).to_be_visible()
    page.locator("#pm-discard-no").click()
    expect(textbox(page, "pm-content")).to_have_value("my unsaved draft")
    page.locator("#pm-new").click()
    page.locator("#pm-discard-yes").click()
    expect(question).to_be_hidden()
    expect(textbox(page, "pm-name")).to_be_editable()
    expect(textbox(page, "pm-content")).to_have_value("")

    # A new prompt with something typed is a draft too; discarding it opens the row clicked.
    textbox(page, "pm-title").fill("half-written")
    cell(page, "Beta title").click()
    expect(question).to_be_visible()
    page.locator("#pm-discard-yes").click()
    expect(page.locator("#pm-editor-header")).to_contain_text(second)
    expect(textbox(page, "pm-content")).to_have_value(f"second {marker}")
    assert library.get(ctx, first).content == f"first {marker}"


# --- item 10 ---------------------------------------------------------------------------------
def test_the_variable_list_announces_the_type_that_is_saved(open_app, app_services):
    page = open_app()
    name = unique("ui-vartype")
    page.locator("#pm-new").click()
    textbox(page, "pm-name").fill(name)
    textbox(page, "pm-content").fill("Hello ")
    textbox(page, "pm-content").press_sequentially("{{ visitor }}")
    expect(page.locator("#pm-variables")).to_contain_text("visitor")
    announced = page.locator("#pm-variables").inner_text()
    page.locator("#pm-save").click()
    expect(page.locator("#pm-editor-header")).to_contain_text("version 1 of 1")
    saved = {v["name"]: v for v in app_services.services.library.get(app_services.ctx, name).variables}
    assert f"saved as {saved['visitor']['type']}" in announced
    assert ("required: yes" in announced) == saved["visitor"]["required"]
    # Once saved, the list shows the stored declaration with the same type.
    expect(page.locator("#pm-variables")).to_contain_text(f"{saved['visitor']['type']}, required: yes")


# --- item 14: exports ------------------------------------------------------------------------
def readable_copies(marker: str, since: float) -> list[str]:
    """Files under the temp folders, written since `since`, that others may read and that hold `marker`."""
    found = []
    # Not the app's: the browser's own download of the export and the tests' database folders.
    theirs = ("playwright-artifacts-", "pytest-of-")
    roots = {Path(get_upload_folder())} | {entry for entry in Path(tempfile.gettempdir()).iterdir()
                                           if not entry.name.startswith(theirs)}
    for root in roots:
        for path in ([root] if root.is_file() else root.rglob("*")):
            try:
                info = path.stat()
                if not path.is_file() or info.st_mtime < since - 1 or info.st_size > 50_000_000:
                    continue
                if info.st_mode & (stat.S_IROTH | stat.S_IRGRP) and marker in path.read_text(errors="ignore"):
                    found.append(str(path))
            except OSError:
                continue
    return found


def test_export_leaves_no_readable_copy_and_is_removed_later(open_app, app_services, monkeypatch):
    from promptmgr.ui import library_transfer

    monkeypatch.setattr(library_transfer, "EXPORT_TTL_SECONDS", 15.0)
    marker = unique("ui-export-secret")
    app_services.services.library.create(app_services.ctx, PromptCreate(name=marker, content="confidential"))
    since = time.time()
    page = open_app()
    page.locator("#pm-transfer-open").click()
    page.locator("#pm-export").click()
    link = page.locator("#pm-export-file").get_by_role("link").first
    expect(link).to_be_visible()
    with page.expect_download() as download:
        link.click()
    assert marker in download.value.path().read_text(encoding="utf-8")

    served = [p for p in Path(get_upload_folder()).glob("promptmgr-export-*/promptmgr-library-*")
              if p.stat().st_mtime >= since - 1]
    assert served, "the export is served from a private folder in Gradio's upload folder"
    for path in served:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert readable_copies(marker, since) == []

    deadline = time.monotonic() + 30
    while any(p.exists() for p in served) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(p.exists() for p in served), "the export was not removed after it was served"
    assert not any(os.path.exists(p.parent) for p in served)


def test_table_columns_stay_readable_with_the_editor_open(open_app):
    """Issue 7, item 10: next to the open editor, names and dates are shown whole (wrapped), not cut."""
    page = open_app()
    page.locator("#pm-table").get_by_role("gridcell").nth(1).click()
    expect(page.locator("#pm-editor")).to_be_visible()
    expect(page.locator("#pm-editor-header")).to_contain_text("version")
    cut = page.locator("#pm-table [role=gridcell] .text").evaluate_all(
        "spans => spans.filter(s => s.offsetParent && s.scrollWidth > s.clientWidth + 1).map(s => s.textContent)")
    assert cut == [], f"cut cells: {cut[:10]}"
