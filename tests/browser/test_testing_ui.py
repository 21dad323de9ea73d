"""The Testing tab in a real browser, against the fake LLM server's provider "fake": run a prompt
and see its output, tokens, cost and history; compare two models; enhance and translate."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from promptmgr.schemas import PromptCreate, parse
from promptmgr.ui.testing_tab import format_cost

pytestmark = pytest.mark.browser
MODEL = "fake/test-model"  # the default model the browser fixtures configure, with a price


def field(page, elem_id: str):
    return page.locator(f"#{elem_id}").get_by_role("textbox")


def choose(page, elem_id: str, name: str) -> None:
    box = page.locator(f"#{elem_id} input")
    box.click()
    box.fill(name)
    page.get_by_role("option", name=name).first.click()


def open_prompt(open_app, name: str):
    page = open_app()
    page.get_by_role("tab", name="Testing").click()
    expect(page.locator("#testing-models")).to_contain_text(MODEL)  # the loader has run
    field(page, "testing-search").fill(name)
    choose(page, "testing-prompt", name)
    expect(page.locator("#testing-info")).to_contain_text(name)
    return page


def test_run_a_prompt_and_see_output_tokens_cost_and_history(open_app, app_services, fake_llm):
    page = open_prompt(open_app, "summarize-text")
    expect(page.locator("#testing-notice")).to_contain_text(f"Default model: {MODEL}")
    expect(page.locator("#testing-var-0")).to_contain_text("text *")
    expect(page.locator("#testing-var-1")).to_contain_text("length")

    # A required variable left empty: a readable error, no call, nothing typed is lost.
    field(page, "testing-var-1").fill("2")
    page.locator("#testing-run").click()
    expect(page.get_by_text("Variable 'text' is required and has no value and no default.")).to_be_visible()
    assert fake_llm.chat_requests == []
    expect(field(page, "testing-var-1")).to_have_value("2")

    field(page, "testing-var-0").fill("The quick brown fox jumps over the lazy dog.")
    page.locator("#testing-run").click()
    output = field(page, "testing-output-0")
    expect(output).to_have_value(re.compile(r"^echo: .*in 2 sentences.*The quick brown fox", re.S))
    stats = page.locator("#testing-stats-0")
    expect(stats).to_contain_text("Latency:")

    run = app_services.services.testing.list_runs(app_services.ctx, prompt_name="summarize-text", limit=1).items[0]
    assert run.model == MODEL and run.output == output.input_value() and run.cost and run.cost > 0
    expect(page.locator("#testing-model-0")).to_contain_text(MODEL)
    expect(stats).to_contain_text(f"Tokens: {run.prompt_tokens} in · {run.completion_tokens} out")
    expect(stats).to_contain_text(f"Cost: {format_cost('en', run.cost)}")
    assert fake_llm.chat_requests[-1]["stream"] is True

    history = page.locator("#testing-history")
    expect(history.get_by_role("gridcell", name=f"{run.prompt_tokens} / {run.completion_tokens}").first).to_be_visible()
    expect(history.get_by_role("gridcell", name=MODEL).first).to_be_visible()
    expect(history.get_by_role("gridcell", name=format_cost("en", run.cost)).first).to_be_visible()


def test_two_models_side_by_side_with_parameters(open_app, app_services, fake_llm):
    page = open_prompt(open_app, "explain-code")
    field(page, "testing-var-0").fill("Python")
    field(page, "testing-var-1").fill("print('side by side')")
    models = page.locator("#testing-models input")
    models.click()
    models.fill("fake/second-model")
    models.press("Enter")
    expect(page.locator("#testing-models")).to_contain_text("fake/second-model")
    page.get_by_text("Parameters", exact=True).click()
    field(page, "testing-temperature").fill("0")
    field(page, "testing-system").fill("Answer in one line.")
    page.locator("#testing-run").click()

    for index, model in enumerate((MODEL, "fake/second-model")):
        expect(page.locator(f"#testing-model-{index}")).to_contain_text(model)
        expect(field(page, f"testing-output-{index}")).to_have_value(re.compile(r"^echo: .*side by side", re.S))
        expect(page.locator(f"#testing-stats-{index}")).to_contain_text("Tokens:")
    expect(page.locator("#testing-stats-1")).to_contain_text("Cost: unknown")  # no price for that model
    sent = {request["model"]: request for request in fake_llm.chat_requests}
    assert set(sent) == {"test-model", "second-model"}
    for request in sent.values():
        assert request["temperature"] == 0
        assert request["messages"][0] == {"role": "system", "content": "Answer in one line."}
    runs = app_services.services.testing.list_runs(app_services.ctx, prompt_name="explain-code").items
    assert {run.model for run in runs[:2]} == {MODEL, "fake/second-model"}
    expect(page.locator("#testing-history").get_by_role("gridcell", name="fake/second-model").first).to_be_visible()


def test_enhance_and_translate_then_accept(open_app, app_services, fake_llm):
    library, ctx = app_services.services.library, app_services.ctx
    library.create(ctx, parse(PromptCreate, {"name": "browser-greeting", "title": "Greeting",
                                             "content": "Greet {{ name }} warmly in one sentence."}))
    page = open_prompt(open_app, "browser-greeting")
    page.get_by_text("Enhance or translate this prompt", exact=True).click()

    improved = "Greet {{ name }} warmly and by name, in exactly one friendly sentence."
    fake_llm.script([improved])
    choose(page, "testing-enhancer", "enhance-clarity")
    page.locator("#testing-enhance").click()
    expect(field(page, "testing-candidate")).to_have_value(improved)
    expect(page.locator("#testing-diff")).to_contain_text("+" + improved)
    expect(page.locator("#testing-diff")).to_contain_text("-Greet {{ name }} warmly in one sentence.")
    assert library.get(ctx, "browser-greeting").latest_version == 1  # nothing saved before Accept
    page.locator("#testing-accept").click()
    expect(page.locator("#testing-accepted")).to_contain_text("Saved as version 2 of 'browser-greeting'.")
    saved = library.get(ctx, "browser-greeting")
    assert saved.version == 2 and saved.content == improved
    assert saved.version_message == f"Enhanced with enhance-clarity ({MODEL})"
    expect(page.locator("#testing-version input")).to_have_value("Latest (v2)")

    german = "Begrüße {{ name }} herzlich und mit Namen, in genau einem freundlichen Satz."
    fake_llm.script([german])
    choose(page, "testing-language", "Deutsch")
    page.locator("#testing-translate").click()
    expect(field(page, "testing-candidate")).to_have_value(german)
    field(page, "testing-new-name").fill("browser-greeting-de")
    page.locator("#testing-accept-new").click()
    expect(page.locator("#testing-accepted")).to_contain_text("Saved as the new prompt 'browser-greeting-de'")
    translated = library.get(ctx, "browser-greeting-de")
    assert translated.content == german and translated.title == "Greeting"
    assert library.get(ctx, "browser-greeting").latest_version == 2
