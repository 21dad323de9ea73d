"""The Testing tab in a real browser, against the fake LLM server's provider "fake": run a prompt
and see its output, tokens, cost and history; compare two models; enhance and translate."""
from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from promptmgr.errors import ValidationError
from promptmgr.schemas import PromptCreate, parse
from promptmgr.ui.testing_view import collect_variables, format_cost, version_args
from tests.browser.usable import assert_no_error_status, assert_usable

# Every check waits on a server round trip; the machine running the tests may be busy.
WAIT = 30_000
MODEL = "fake/test-model"  # the default model the browser fixtures configure, with a price


def field(page, elem_id: str):
    return page.locator(f"#{elem_id}").get_by_role("textbox")


def pick_searched(page, elem_id: str, name: str) -> None:
    """Open the dropdown once the library search has replaced its choices with the single match.

    A list that is open while its choices change keeps showing stale entries (Gradio 6), so
    the list is closed and opened again until the refreshed choices show."""
    box, options = page.locator(f"#{elem_id} input"), page.get_by_role("option")
    for _ in range(WAIT // 250):
        box.click()
        if options.count() == 1 and name in options.first.inner_text():
            options.first.click()
            return
        page.keyboard.press("Escape")
        box.blur()
        page.wait_for_timeout(250)
    raise AssertionError(f"the search for {name!r} did not narrow #{elem_id} to it")


def choose(page, elem_id: str, name: str) -> None:
    box = page.locator(f"#{elem_id} input")
    box.click()
    box.fill(name)
    page.get_by_role("option", name=name).first.click()


def open_prompt(open_app, name: str):
    page = open_app()
    page.get_by_role("tab", name="Testing").click()
    expect(page.locator("#testing-models")).to_contain_text(MODEL, timeout=WAIT)  # the loader has run
    field(page, "testing-search").fill(name)
    pick_searched(page, "testing-prompt", name)
    expect(page.locator("#testing-info")).to_contain_text(name, timeout=WAIT)
    return page


def create(app_services, content: str, variables: list[dict] | None = None) -> str:
    name = f"browser-run-{uuid.uuid4().hex[:6]}"
    app_services.services.library.create(app_services.ctx, parse(PromptCreate, {
        "name": name, "content": content, "variables": variables}))
    return name


@pytest.mark.browser
def test_run_a_prompt_and_see_output_tokens_cost_and_history(open_app, app_services, fake_llm):
    name = create(app_services, "Summarize {{ text }} in {{ length }} sentences.", [
        {"name": "text", "type": "text", "description": "The text to summarize"},
        {"name": "length", "type": "integer", "default": 3}])
    page = open_prompt(open_app, name)
    expect(page.locator("#testing-notice")).to_contain_text(f"Default model: {MODEL}", timeout=WAIT)
    expect(page.locator("#testing-var-0")).to_contain_text("text *", timeout=WAIT)
    expect(page.locator("#testing-var-0")).to_contain_text("The text to summarize", timeout=WAIT)
    expect(page.locator("#testing-var-1")).to_contain_text("length", timeout=WAIT)
    expect(field(page, "testing-var-1")).to_have_attribute("placeholder", "default: 3", timeout=WAIT)

    # A required variable left empty: a readable error, no call, nothing typed is lost or covered.
    field(page, "testing-var-1").fill("2")
    page.locator("#testing-run").click()
    expect(page.locator("#testing-status")).to_contain_text(
        "Variable 'text' is required and has no value and no default.", timeout=WAIT)
    assert fake_llm.chat_requests == []
    assert_no_error_status(page)
    assert_usable(page, "testing-var-1", "2")
    assert_usable(page, "testing-var-0", "")
    expect(page.locator("#testing-run")).to_be_enabled(timeout=WAIT)

    field(page, "testing-var-0").fill("The quick brown fox jumps over the lazy dog.")
    page.locator("#testing-run").click()
    output = field(page, "testing-output-0")
    expect(output).to_have_value("echo: Summarize The quick brown fox jumps over the lazy dog. in 2 sentences.",
                                 timeout=WAIT)
    stats = page.locator("#testing-stats-0")
    expect(stats).to_contain_text("Latency:", timeout=WAIT)

    run = app_services.services.testing.list_runs(app_services.ctx, prompt_name=name, limit=1).items[0]
    assert run.model == MODEL and run.output == output.input_value() and run.cost and run.cost > 0
    expect(page.locator("#testing-model-0")).to_contain_text(MODEL, timeout=WAIT)
    expect(stats).to_contain_text(f"Tokens: {run.prompt_tokens} in · {run.completion_tokens} out", timeout=WAIT)
    expect(stats).to_contain_text(f"Cost: {format_cost('en', run.cost)}", timeout=WAIT)
    assert fake_llm.chat_requests[-1]["stream"] is True

    history = page.locator("#testing-history")
    tokens_cell = history.get_by_role("gridcell", name=f"{run.prompt_tokens} / {run.completion_tokens}").first
    expect(tokens_cell).to_be_visible(timeout=WAIT)
    expect(history.get_by_role("gridcell", name=MODEL).first).to_be_visible(timeout=WAIT)
    expect(history.get_by_role("gridcell", name=format_cost("en", run.cost)).first).to_be_visible(timeout=WAIT)


@pytest.mark.browser
def test_two_models_side_by_side_with_parameters(open_app, app_services, fake_llm):
    name = create(app_services, "Explain this {{ language }} code: {{ code }}")
    page = open_prompt(open_app, name)
    field(page, "testing-var-0").fill("Python")
    field(page, "testing-var-1").fill("print('side by side')")
    models = page.locator("#testing-models input")
    models.click()
    models.fill("fake/second-model")
    models.press("Enter")
    expect(page.locator("#testing-models")).to_contain_text("fake/second-model", timeout=WAIT)
    page.get_by_text("Parameters", exact=True).click()
    field(page, "testing-temperature").fill("0")
    field(page, "testing-system").fill("Answer in one line.")
    page.locator("#testing-run").click()

    for index, model in enumerate((MODEL, "fake/second-model")):
        expect(page.locator(f"#testing-model-{index}")).to_contain_text(model, timeout=WAIT)
        expect(field(page, f"testing-output-{index}")).to_have_value(re.compile(r"^echo: .*side by side", re.S),
                                                                    timeout=WAIT)
        expect(page.locator(f"#testing-stats-{index}")).to_contain_text("Tokens:", timeout=WAIT)
    expect(page.locator("#testing-stats-1")).to_contain_text("Cost: unknown", timeout=WAIT)  # no price for that model
    sent = {request["model"]: request for request in fake_llm.chat_requests}
    assert set(sent) == {"test-model", "second-model"}
    for request in sent.values():
        assert request["temperature"] == 0
        assert request["messages"][0] == {"role": "system", "content": "Answer in one line."}
    runs = app_services.services.testing.list_runs(app_services.ctx, prompt_name=name).items
    assert {run.model for run in runs[:2]} == {MODEL, "fake/second-model"}
    second_cell = page.locator("#testing-history").get_by_role("gridcell", name="fake/second-model").first
    expect(second_cell).to_be_visible(timeout=WAIT)


@pytest.mark.browser
def test_enhance_and_translate_then_accept(open_app, app_services, fake_llm):
    library, ctx = app_services.services.library, app_services.ctx
    name = f"browser-greeting-{uuid.uuid4().hex[:6]}"
    library.create(ctx, parse(PromptCreate, {"name": name, "title": "Greeting",
                                             "content": "Greet {{ name }} warmly in one sentence."}))
    page = open_prompt(open_app, name)
    page.get_by_text("Enhance or translate this prompt", exact=True).click()

    improved = "Greet {{ name }} warmly and by name, in exactly one friendly sentence."
    fake_llm.script([improved])
    choose(page, "testing-enhancer", "enhance-clarity")
    page.locator("#testing-enhance").click()
    expect(field(page, "testing-candidate")).to_have_value(improved, timeout=WAIT)
    expect(page.locator("#testing-diff")).to_contain_text("+" + improved, timeout=WAIT)
    expect(page.locator("#testing-diff")).to_contain_text("-Greet {{ name }} warmly in one sentence.", timeout=WAIT)
    assert library.get(ctx, name).latest_version == 1  # nothing saved before Accept
    page.locator("#testing-accept").click()
    expect(page.locator("#testing-accepted")).to_contain_text(f"Saved as version 2 of '{name}'.", timeout=WAIT)
    saved = library.get(ctx, name)
    assert saved.version == 2 and saved.content == improved
    assert saved.version_message == f"Enhanced with enhance-clarity ({MODEL})"
    expect(page.locator("#testing-version input")).to_have_value("Latest (v2)", timeout=WAIT)

    german = "Begrüße {{ name }} herzlich und mit Namen, in genau einem freundlichen Satz."
    fake_llm.script([german])
    choose(page, "testing-language", "Deutsch")
    page.locator("#testing-translate").click()
    expect(field(page, "testing-candidate")).to_have_value(german, timeout=WAIT)
    field(page, "testing-new-name").fill(f"{name}-de")
    page.locator("#testing-accept-new").click()
    expect(page.locator("#testing-accepted")).to_contain_text(f"Saved as the new prompt '{name}-de'", timeout=WAIT)
    translated = library.get(ctx, f"{name}-de")
    assert translated.content == german and translated.title == "Greeting"
    assert library.get(ctx, name).latest_version == 2


# --- without a browser: the parts of the tab that are plain functions --------------------------------
def test_without_any_model_the_tab_explains_how_to_add_one(services, ctx, monkeypatch):
    from promptmgr.llm import local as local_model
    from promptmgr.ui.common import UI
    from promptmgr.ui.testing_view import model_notice

    ui = UI(services, ctx)
    monkeypatch.setattr(local_model, "is_available", lambda: False)
    assert "Add a provider in the **Settings** tab" in model_notice(ui, ctx)
    monkeypatch.setattr(local_model, "is_available", lambda: True)
    assert "embedded offline model **local/smollm2**" in model_notice(ui, ctx)
    # Once a provider exists the note says to choose one of its models, not to add a provider.
    services.providers.add(ctx, "acme", "http://127.0.0.1:9/v1")
    notice = model_notice(ui, ctx)
    assert "You have 1 provider(s)" in notice and "acme/MODEL" in notice and "no provider" not in notice
    monkeypatch.setattr(local_model, "is_available", lambda: False)
    assert "No default model yet. You have 1 provider(s)" in model_notice(ui, ctx)
    services.providers.set_default_model(ctx, "fake/some-model")
    assert model_notice(ui, ctx) == "Default model: **fake/some-model**."


def test_form_values_and_version_choices():
    assert collect_variables(["a", "b", "c"], ["1", "", None], '{"b": [1, 2], "d": "x"}') == {
        "a": "1", "b": [1, 2], "d": "x"}
    with pytest.raises(ValidationError):
        collect_variables(["a"], ["1"], "{not json")
    with pytest.raises(ValidationError):
        collect_variables(["a"], ["1"], "[1, 2]")
    assert version_args("latest") == {} and version_args("v12") == {"version": 12}
    assert version_args("label:prod") == {"label": "prod"}
    assert format_cost("en", None).startswith("unknown")


def test_costs_read_as_money_not_as_rows_of_zeros():
    assert format_cost("en", 0.0) == "free" and format_cost("de", 0.0) == "kostenlos"
    assert format_cost("en", 0.00042) == "$0.00042"
    assert format_cost("en", 0.0000123456) == "$0.0000123"
    assert format_cost("en", 0.0123456) == "$0.01" and format_cost("en", 1234.5) == "$1,234.50"
    assert format_cost("en", 0.00999999) == "$0.01"
