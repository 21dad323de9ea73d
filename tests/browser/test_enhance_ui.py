"""Enhance and Translate on the Testing tab, as a person sees them: the panel sits in view under
the prompt picker, a long diff scrolls inside a bounded box, accepting a candidate that lost
placeholders asks first and names them, and a failed model call leaves the form usable."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_testing_ui import WAIT, choose, create, field, open_prompt
from tests.browser.usable import assert_no_error_status, assert_usable

pytestmark = pytest.mark.browser

PANEL = "Enhance or translate this prompt"
VIEWPORT_HEIGHT = 800  # the `page` fixture's viewport
DIFF_MAX_HEIGHT = 600


def open_panel(page):
    page.get_by_text(PANEL, exact=True).click()
    expect(page.locator("#testing-enhance")).to_be_visible(timeout=WAIT)


def enhance(page, fake_llm, answer: str) -> None:
    fake_llm.script([answer])
    choose(page, "testing-enhancer", "enhance-clarity")
    page.locator("#testing-enhance").click()
    expect(field(page, "testing-candidate")).to_have_value(answer, timeout=WAIT)


def confirm_box(page):
    # Gradio 6 gives a Group's elem_id to both its outer and inner div: take the outer one.
    return page.locator("#testing-confirm").first


def latest_version(app_services, name: str) -> int:
    return app_services.services.library.get(app_services.ctx, name).version


def test_the_panel_is_in_view_under_the_prompt_picker(open_app, app_services):
    name = create(app_services, "Describe {{ thing }} briefly.")
    page = open_prompt(open_app, name)
    page.evaluate("window.scrollTo(0, 0)")
    label = page.get_by_text(PANEL, exact=True)
    expect(label).to_be_visible(timeout=WAIT)
    box = label.bounding_box()
    # In the first screen, with no scrolling, and right after the picker rather than below the bench.
    assert box is not None and 0 <= box["y"] and box["y"] + box["height"] <= VIEWPORT_HEIGHT, box
    picker = page.locator("#testing-prompt").bounding_box()
    run = page.locator("#testing-run").bounding_box()
    assert picker["y"] < box["y"] < run["y"]
    open_panel(page)
    for elem_id in ("testing-enhance", "testing-translate"):
        expect(page.locator(f"#{elem_id}")).to_be_visible(timeout=WAIT)
    expect(page.locator("#testing-enhancer")).to_contain_text("Enhancement prompt", timeout=WAIT)


def test_a_long_diff_scrolls_inside_a_bounded_box(open_app, app_services, fake_llm):
    name = create(app_services, "Write a poem about {{ topic }}.")
    page = open_prompt(open_app, name)
    open_panel(page)
    long_answer = "\n".join(f"Line {i}: write about {{{{ topic }}}} with care." for i in range(400))
    enhance(page, fake_llm, long_answer)
    diff = page.locator("#testing-diff")
    expect(diff).to_contain_text("Line 399", timeout=WAIT)
    box = diff.bounding_box()
    assert box is not None and 0 < box["height"] <= DIFF_MAX_HEIGHT, box
    # The diff scrolls inside itself: some element in the box holds more than it shows.
    scrolls = diff.evaluate("""el => [el, ...el.querySelectorAll('*')].some(
        e => e.scrollHeight > e.clientHeight + 20 && ['auto', 'scroll'].includes(getComputedStyle(e).overflowY))""")
    assert scrolls, "the long diff does not scroll inside its box"
    page_height = page.evaluate("document.documentElement.scrollHeight")
    assert page_height < 4000, f"the page is {page_height} px high with a 400-line diff"
    assert_no_error_status(page)


def test_accepting_a_candidate_that_lost_a_placeholder_asks_and_names_it(open_app, app_services, fake_llm):
    name = create(app_services, "Summarize {{ text }} for {{ audience }}")
    page = open_prompt(open_app, name)
    open_panel(page)
    lost = "Summarize {{ text }} clearly, in plain words."
    enhance(page, fake_llm, lost)
    expect(page.locator("#testing-candidate-info")).to_contain_text("audience", timeout=WAIT)

    confirm = confirm_box(page)
    expect(confirm).to_be_hidden(timeout=WAIT)
    page.locator("#testing-accept").click()
    expect(confirm).to_be_visible(timeout=WAIT)
    expect(page.locator("#testing-confirm-text")).to_contain_text("audience", timeout=WAIT)
    expect(page.locator("#testing-confirm-text")).not_to_contain_text("text }}", timeout=WAIT)
    expect(page.locator("#testing-confirm-yes")).to_have_text("Save anyway", timeout=WAIT)
    expect(page.locator("#testing-confirm-no")).to_have_text("Keep editing", timeout=WAIT)
    assert latest_version(app_services, name) == 1  # asking saved nothing

    # Keep editing: nothing saved, the candidate is still there to edit.
    page.locator("#testing-confirm-no").click()
    expect(confirm).to_be_hidden(timeout=WAIT)
    assert latest_version(app_services, name) == 1
    assert_usable(page, "testing-candidate", lost)
    expect(page.locator("#testing-accept")).to_be_enabled(timeout=WAIT)
    expect(page.locator("#testing-accepted")).to_have_text("", timeout=WAIT)

    # Accept again, then Save anyway: version 2 holds the candidate as it is.
    page.locator("#testing-accept").click()
    expect(confirm).to_be_visible(timeout=WAIT)
    page.locator("#testing-confirm-yes").click()
    expect(page.locator("#testing-accepted")).to_contain_text(f"Saved as version 2 of '{name}'.", timeout=WAIT)
    expect(confirm).to_be_hidden(timeout=WAIT)
    saved = app_services.services.library.get(app_services.ctx, name)
    assert saved.version == 2 and saved.content == lost


def test_editing_the_placeholder_back_in_saves_without_asking(open_app, app_services, fake_llm):
    name = create(app_services, "Summarize {{ text }} for {{ audience }}")
    page = open_prompt(open_app, name)
    open_panel(page)
    enhance(page, fake_llm, "Summarize {{ text }} clearly.")
    fixed = "Summarize {{ text }} clearly for {{ audience }}."
    field(page, "testing-candidate").fill(fixed)
    page.locator("#testing-accept").click()
    expect(page.locator("#testing-accepted")).to_contain_text(f"Saved as version 2 of '{name}'.", timeout=WAIT)
    expect(confirm_box(page)).to_be_hidden(timeout=WAIT)
    assert app_services.services.library.get(app_services.ctx, name).content == fixed


def test_a_translation_keeping_the_placeholders_is_accepted_without_asking(open_app, app_services, fake_llm):
    name = create(app_services, "Summarize {{ text }} for {{ audience }}")
    page = open_prompt(open_app, name)
    open_panel(page)
    german = "Fassen Sie {{ text }} für {{ audience }} zusammen."
    fake_llm.script([german])
    choose(page, "testing-language", "Deutsch")
    page.locator("#testing-translate").click()
    expect(field(page, "testing-candidate")).to_have_value(german, timeout=WAIT)
    page.locator("#testing-accept").click()
    expect(page.locator("#testing-accepted")).to_contain_text(f"Saved as version 2 of '{name}'.", timeout=WAIT)
    expect(confirm_box(page)).to_be_hidden()
    saved = app_services.services.library.get(app_services.ctx, name)
    assert saved.version == 2 and saved.content == german


def test_a_failed_enhance_reports_and_the_form_stays_usable(open_app, app_services, fake_llm):
    name = create(app_services, "Tell a story about {{ hero }}.")
    page = open_prompt(open_app, name)
    open_panel(page)
    fake_llm.fail_next(400, count=5, message="The enhancer model is unavailable.")
    choose(page, "testing-enhancer", "enhance-clarity")
    page.locator("#testing-enhance").click()
    status = page.locator("#testing-action-status")
    expect(status).to_contain_text("⚠", timeout=WAIT)
    expect(page.locator(".toast-body").first).to_be_visible(timeout=WAIT)
    assert_no_error_status(page)
    assert_usable(page, "testing-change-message")
    assert_usable(page, "testing-new-name")
    expect(page.locator("#testing-enhance")).to_be_enabled(timeout=WAIT)
    expect(page.locator("#testing-accept")).to_be_disabled(timeout=WAIT)  # nothing to accept
    assert latest_version(app_services, name) == 1

    # The next attempt works and clears the status line.
    fake_llm.reset()
    better = "Tell a short, vivid story about {{ hero }}."
    fake_llm.script([better])
    page.locator("#testing-enhance").click()
    expect(field(page, "testing-candidate")).to_have_value(better, timeout=WAIT)
    expect(status).to_have_text("", timeout=WAIT)
    page.locator("#testing-accept").click()
    expect(page.locator("#testing-accepted")).to_contain_text(f"Saved as version 2 of '{name}'.", timeout=WAIT)


def test_saving_as_a_new_prompt_without_a_placeholder_asks_too(open_app, app_services, fake_llm):
    name = create(app_services, "Summarize {{ text }} for {{ audience }}")
    page = open_prompt(open_app, name)
    open_panel(page)
    lost = "Summarize {{ text }} in one line."
    enhance(page, fake_llm, lost)
    field(page, "testing-new-name").fill(f"{name}-short")
    page.locator("#testing-accept-new").click()
    expect(confirm_box(page)).to_be_visible(timeout=WAIT)
    expect(page.locator("#testing-confirm-text")).to_contain_text("audience", timeout=WAIT)
    page.locator("#testing-confirm-yes").click()
    expect(page.locator("#testing-accepted")).to_contain_text(f"Saved as the new prompt '{name}-short'",
                                                             timeout=WAIT)
    library, ctx = app_services.services.library, app_services.ctx
    assert library.get(ctx, f"{name}-short").content == lost
    assert library.get(ctx, name).version == 1  # the original is untouched
