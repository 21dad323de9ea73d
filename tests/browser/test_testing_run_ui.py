"""The Testing tab's run controls in a real browser: errors leave the form usable, Stop keeps the
partial output and closes the model call, Preview renders without a call, history rows open a run,
the prompt picker searches beyond its first 50 choices, models needing a key come last."""
from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from promptmgr.schemas import PromptCreate, parse
from tests.browser.test_testing_ui import MODEL, WAIT, create, field, open_prompt
from tests.browser.usable import assert_no_error_status, assert_retypes, assert_usable

pytestmark = pytest.mark.browser


def status(page):
    return page.locator("#testing-status")


def test_errors_keep_the_bench_usable_and_the_next_run_works(open_app, app_services, fake_llm):
    name = create(app_services, "Say {{ word }}.")
    page = open_prompt(open_app, name)
    field(page, "testing-var-0").fill("hello")
    page.get_by_text("Parameters", exact=True).click()
    field(page, "testing-temperature").fill("hot")
    field(page, "testing-system").fill("Be brief.")
    page.locator("#testing-run").click()
    expect(status(page)).to_contain_text("temperature", timeout=WAIT)
    assert_no_error_status(page)
    for elem_id, typed in (("testing-var-0", "hello"), ("testing-temperature", "hot"), ("testing-system", "Be brief.")):
        assert_usable(page, elem_id, typed)
    expect(page.locator("#testing-run")).to_be_enabled(timeout=WAIT)
    assert fake_llm.chat_requests == []

    # Corrected, the same form runs.
    assert_retypes(page, "testing-temperature", "0")
    page.locator("#testing-run").click()
    expect(field(page, "testing-output-0")).to_have_value("echo: Say hello.", timeout=WAIT)
    expect(status(page)).to_have_text("", timeout=WAIT)

    # An unknown model: a status line, the form stays as typed.
    models = page.locator("#testing-models input")
    models.click()
    models.fill("no such model!")
    models.press("Enter")
    page.locator("#testing-run").click()
    expect(status(page)).to_contain_text("no such model!", timeout=WAIT)
    assert_no_error_status(page)
    assert_usable(page, "testing-var-0", "hello")
    assert_usable(page, "testing-temperature", "0")
    expect(page.locator("#testing-run")).to_be_enabled(timeout=WAIT)


def test_stop_keeps_the_partial_output_and_closes_the_model_call(open_app, app_services, fake_llm):
    name = create(app_services, "Count for me.")
    page = open_prompt(open_app, name)
    words = [f"w{i}" for i in range(80)]
    fake_llm.script([" ".join(words)])
    fake_llm.chunk_delay = 0.5  # few page updates: the test machines are often loaded
    run, stop = page.locator("#testing-run"), page.locator("#testing-stop")
    expect(stop).to_be_disabled(timeout=WAIT)
    run.click()
    expect(run).to_be_disabled(timeout=WAIT)
    expect(stop).to_be_enabled(timeout=WAIT)
    output = field(page, "testing-output-0")
    expect(output).to_have_value(lambda_re(r"^w0 w1 w2 w3"), timeout=WAIT)
    expect(stop).to_be_visible(timeout=WAIT)
    expect(stop).to_be_enabled(timeout=WAIT)
    # A dispatched click: while the output streams, playwright's pointer click waits on a page
    # that keeps re-rendering (seen on a loaded machine); what a person sees is checked above.
    stop.dispatch_event("click")
    expect(page.locator("#testing-stats-0")).to_contain_text("Stopped", timeout=WAIT)
    expect(status(page)).to_contain_text("Stopped", timeout=WAIT)
    expect(page.locator("#testing-stats-0")).not_to_contain_text("Running", timeout=WAIT)
    expect(run).to_be_enabled(timeout=WAIT)
    expect(stop).to_be_disabled(timeout=WAIT)
    partial = output.input_value()
    assert partial.startswith("w0 w1 w2 w3") and partial != " ".join(words)
    assert_usable(page, "testing-extra")
    for _ in range(100):  # the server notices the closed connection at its next write
        if fake_llm.stream_aborted.is_set():
            break
        page.wait_for_timeout(100)
    assert fake_llm.stream_aborted.is_set() and fake_llm.stream_chunks_sent[-1] < len(words)
    stored = app_services.services.testing.list_runs(app_services.ctx, prompt_name=name, limit=1).items[0]
    assert stored.error_code == "cancelled" and stored.output.startswith("w0 w1 w2 w3")

    # Run works again afterwards.
    fake_llm.chunk_delay = 0.0
    run.click()
    expect(output).to_have_value("echo: Count for me.", timeout=WAIT)
    expect(page.locator("#testing-stats-0")).to_contain_text("Tokens:", timeout=WAIT)


def lambda_re(pattern: str):
    import re

    return re.compile(pattern, re.S)


def test_preview_renders_and_history_rows_open_the_run(open_app, app_services, fake_llm):
    name = create(app_services, "Hello {{ who }}, welcome.")
    page = open_prompt(open_app, name)
    page.locator("#testing-preview").click()
    expect(status(page)).to_contain_text("Variable 'who' is required", timeout=WAIT)
    assert_no_error_status(page)
    assert_usable(page, "testing-var-0", "")
    field(page, "testing-var-0").fill("World")
    page.locator("#testing-preview").click()
    rendered = field(page, "testing-rendered")
    expect(rendered).to_have_value("── user ──\nHello World, welcome.", timeout=WAIT)
    expect(status(page)).to_have_text("", timeout=WAIT)
    assert fake_llm.chat_requests == []

    page.locator("#testing-run").click()
    expect(field(page, "testing-output-0")).to_have_value("echo: Hello World, welcome.", timeout=WAIT)
    fake_llm.fail_next(400)
    page.locator("#testing-run").click()
    expect(page.locator("#testing-stats-0")).to_contain_text("⚠", timeout=WAIT)
    runs = app_services.services.testing.list_runs(app_services.ctx, prompt_name=name).items
    failed, good = runs[0], runs[1]
    assert failed.error and good.output == "echo: Hello World, welcome."

    history = page.locator("#testing-history")
    # Click once the table shows the failed run too: a click racing the refresh lands on whatever
    # row is under the pointer when the new rows arrive (the failed run, inserted on top).
    expect(history.get_by_role("gridcell", name="⚠ " + failed.error).first).to_be_visible(timeout=WAIT)
    history.get_by_role("gridcell", name=good.output).first.click()
    details = page.locator("#testing-run-details")
    expect(details).to_be_visible(timeout=WAIT)
    expect(page.locator("#testing-run-summary")).to_contain_text(f"Run {good.id}", timeout=WAIT)
    expect(page.locator("#testing-run-summary")).to_contain_text('"who": "World"', timeout=WAIT)
    expect(field(page, "testing-run-input")).to_have_value("── user ──\nHello World, welcome.", timeout=WAIT)
    expect(field(page, "testing-run-output")).to_have_value(good.output, timeout=WAIT)

    history.get_by_role("gridcell", name="⚠ " + failed.error).first.click()
    expect(page.locator("#testing-run-summary")).to_contain_text(f"Run {failed.id}", timeout=WAIT)
    expect(page.locator("#testing-run-summary")).to_contain_text("Error: " + failed.error, timeout=WAIT)


def test_the_prompt_picker_searches_past_its_first_50_choices(open_app, app_services):
    tag = uuid.uuid4().hex[:6]
    library, ctx = app_services.services.library, app_services.ctx
    for i in range(60):
        library.create(ctx, parse(PromptCreate, {"name": f"many-{tag}-{i:03d}", "content": f"Item {i}."}))
    total = library.list(ctx).total
    target = f"many-{tag}-057"
    page = open_app()
    page.get_by_role("tab", name="Testing").click()
    expect(page.locator("#testing-matches")).to_contain_text(f"Showing 50 of {total} prompts", timeout=WAIT)
    # Typed into the picker itself (not the search box): the library is searched.
    box = page.locator("#testing-prompt input")
    box.click()
    box.press_sequentially(target, delay=20)
    # The open list follows the search as it answers (reopening it with Escape and a click showed
    # Gradio's stale filter, not what a person typing sees).
    option = page.get_by_role("option", name=target)
    expect(option.first).to_be_visible(timeout=WAIT)
    option.first.click()
    expect(page.locator("#testing-info")).to_contain_text(target, timeout=WAIT)


def test_models_with_a_key_come_first_and_a_missing_key_is_named(open_app, app_services, fake_llm, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    name = create(app_services, "Hi.")
    page = open_prompt(open_app, name)
    models = page.locator("#testing-models input")
    models.click()
    options = page.get_by_role("option")
    expect(options.first).to_contain_text(MODEL, timeout=WAIT)
    labels = [label.replace("✓", "").strip() for label in options.all_inner_texts()]
    keyed = [i for i, label in enumerate(labels) if "needs an API key" in label]
    assert keyed and all(i > labels.index(MODEL) for i in keyed)
    assert "gpt-4o-mini (needs an API key)" in labels
    page.keyboard.press("Escape")
