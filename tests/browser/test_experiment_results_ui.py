"""The experiment Results view in a real browser, mounted in a small harness page (a visible textbox
plays the Experiments tab's hidden `current`), over an experiment created and run through the
services against the fake server: two variants x 12 rows, where B's prompt makes the check pass.

A person sees the summary with intervals and the plots, the comparison as a sentence, opens a cell,
labels cells and sees kappa move, promotes the winner (the label moves in the database), and
exports results that hold the right rows."""
from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import FAKE_MODEL, free_port
from tests.browser.test_screenshots import OUT
from tests.browser.usable import assert_no_error_status, assert_usable
from tests.experiment_rows import make_experiment, make_prompt

pytestmark = pytest.mark.browser

WAIT = 30_000
ROWS = 12
NAME = "results-ui"


@pytest.fixture(scope="module")
def experiment(app_services):
    services, ctx = app_services.services, app_services.ctx
    make_prompt(services, ctx, "results-ask", "Question {{ i }}")
    make_prompt(services, ctx, "results-answer", "Answer {{ i }}: ok")
    make_experiment(services, ctx, NAME, rows=ROWS, checks=[{"type": "contains", "value": "ok"}],
                    variants=[("results-ask", FAKE_MODEL, {}), ("results-answer", FAKE_MODEL, {})])
    services.experiment_runs.run(ctx, NAME)
    return NAME


@pytest.fixture(scope="module")
def harness_url(app_services, experiment):
    """The results view alone, as the Experiments tab mounts it (build(ui, current))."""
    import gradio as gr

    from promptmgr.ui import experiment_results_view
    from promptmgr.ui.app import launch
    from promptmgr.ui.common import UI

    ui = UI(app_services.services, app_services.ctx)
    with gr.Blocks(title="results harness") as demo:
        ui.locale = gr.State("en")
        current = gr.Textbox("", label="Experiment", elem_id="harness-current")
        experiment_results_view.build(ui, current)
    port = free_port()
    launch(demo, port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


@pytest.fixture
def results_page(browser, harness_url):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US", accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(WAIT)
    page.goto(harness_url)
    yield page
    context.close()


def open_experiment(page, name: str = NAME):
    box = page.locator("#harness-current textarea, #harness-current input").first
    box.fill(name)
    box.press("Enter")
    box.blur()  # .change fires on the committed value
    expect(page.locator("#results-title")).to_contain_text(name, timeout=WAIT)
    expect(page.locator("#results-matrix").get_by_role("gridcell").first).to_be_visible(timeout=WAIT)


def test_summary_plots_and_comparison_sentence(results_page):
    page = results_page
    expect(page.locator("#results-title")).to_contain_text("Open an experiment", timeout=WAIT)
    open_experiment(page)
    expect(page.locator("#results-title")).to_contain_text(f"{ROWS * 2} of {ROWS * 2} cells done")
    summary = page.locator("#results-summary")
    # B passes every row: 100% with the Wilson interval 75.8% - 100% (12 rows); A passes none.
    expect(summary.get_by_role("gridcell", name="100%").first).to_be_visible()
    expect(summary.get_by_role("gridcell", name="75.8% – 100%").first).to_be_visible()
    expect(summary.get_by_role("gridcell", name="0% – 24.2%").first).to_be_visible()
    comparisons = page.locator("#results-comparisons")
    expect(comparisons).to_contain_text(re.compile(r"results-answer@1/fake/test-model beats results-ask@1/fake/test-model "
                                                   r"on all checks: 100% vs 0%, p < 0\.001 after Holm"))
    for plot in ("#results-plot-pass", "#results-plot-cost", "#results-plot-latency"):
        expect(page.locator(plot).locator("canvas, svg").first).to_be_visible(timeout=WAIT)
    numbers = page.locator("#results-plot-pass-numbers")
    expect(numbers.get_by_role("gridcell", name="B · contains:ok").first).to_be_visible()
    assert_no_error_status(page)


def test_refresh_follows_new_labels_and_a_missing_experiment_is_a_status_line(results_page, app_services):
    page = results_page
    open_experiment(page)
    services, ctx = app_services.services, app_services.ctx
    before = services.results.show(ctx, NAME)["agreement"]
    cell = services.review.matrix(ctx, NAME, "all", 1, 20)["lines"][5]["cells"]
    services.results.label(ctx, NAME, cell["results-ask@1/fake/test-model"]["id"], False)
    page.locator("#results-refresh").click()
    expected = next(a for a in services.results.show(ctx, NAME)["agreement"] if a["variant"] == "*")["n"]
    assert expected == 1 + next((a["n"] for a in before if a["variant"] == "*"), 0)
    expect(page.locator("#results-agreement")).to_contain_text(f"labels: {expected}", timeout=WAIT)

    box = page.locator("#harness-current textarea, #harness-current input").first
    box.fill("no-such-experiment")
    box.press("Enter")
    box.blur()
    expect(page.locator("#results-status")).to_contain_text("no-such-experiment", timeout=WAIT)
    expect(page.locator("#results-body")).to_be_hidden(timeout=WAIT)
    assert_no_error_status(page)
    assert_usable(page, "harness-current", "no-such-experiment")
    open_experiment(page)
    expect(page.locator("#results-status")).to_have_text("", timeout=WAIT)


def test_open_a_cell_label_cells_and_kappa_moves(results_page, app_services):
    page = results_page
    open_experiment(page)
    matrix = page.locator("#results-matrix")
    matrix.get_by_role("gridcell", name=re.compile(r"^✗ echo: Question 0")).first.click()
    info = page.locator("#results-cell-info")
    expect(info).to_contain_text("results-ask@1/fake/test-model, row 0", timeout=WAIT)
    expect(page.locator("#results-cell-input textarea")).to_have_value("Question 0")
    expect(page.locator("#results-cell-output textarea")).to_have_value("echo: Question 0")
    expect(page.locator("#results-cell-checks").get_by_role("gridcell", name="contains:ok").first).to_be_visible()
    agreement = page.locator("#results-review-agreement")
    services, ctx = app_services.services, app_services.ctx

    def pooled():
        found = [a for a in services.results.show(ctx, NAME)["agreement"] if a["variant"] == "*" and a["check"] == "all"]
        return found[0] if found else {"n": 0, "kappa": None}

    start = pooled()["n"]  # other tests of this module may have labelled cells that agree with the check
    expect(agreement).to_contain_text(f"labels: {start}" if start else "appears once you label")

    # Fail agrees with the check; the next cell (B, row 0) opens by itself, and Pass agrees again.
    page.locator("#results-comment textarea, #results-comment input").first.fill("clearly wrong")
    page.locator("#results-label-fail").click()
    expect(agreement).to_contain_text(f"labels: {start + 1}", timeout=WAIT)
    expect(info).to_contain_text("results-answer@1/fake/test-model, row 0", timeout=WAIT)
    page.locator("#results-label-pass").focus()
    page.keyboard.press("Enter")  # the keyboard alone labels
    expect(agreement).to_contain_text(f"labels: {start + 2}", timeout=WAIT)
    expect(agreement).to_contain_text("κ = 1.00", timeout=WAIT)
    expect(info).to_contain_text("row 1", timeout=WAIT)
    # A label against the check: kappa drops below perfect agreement.
    page.locator("#results-label-pass").click()
    expect(agreement).to_contain_text(f"labels: {start + 3}", timeout=WAIT)
    expect(agreement).not_to_contain_text("κ = 1.00", timeout=WAIT)
    expect(matrix.get_by_role("gridcell", name=re.compile("✎✗")).first).to_be_visible()
    assert pooled()["n"] == start + 3 and pooled()["kappa"] < 1.0
    # The summary above follows too: agreement and kappa beside the pass rate of A on all checks.
    expect(page.locator("#results-agreement")).to_contain_text(f"labels: {start + 3}", timeout=WAIT)
    expect(page.locator("#results-plot-pass-numbers").get_by_role("gridcell", name=re.compile(r"^κ .* labels$")).first
           ).to_be_visible(timeout=WAIT)
    assert_usable(page, "results-comment")
    assert_no_error_status(page)

    # Previous goes back to the cell just labelled, with its comment.
    for variant, row in (("ask", 1), ("answer", 0), ("ask", 0)):
        page.locator("#results-previous").click()
        expect(info).to_contain_text(f"results-{variant}@1/fake/test-model, row {row}", timeout=WAIT)
    expect(page.locator("#results-comment textarea, #results-comment input").first).to_have_value("clearly wrong")

    # Filters: no row has an error; rows where the variants disagree are all of them.
    page.locator("#results-filter").get_by_text("With an error").click()
    expect(page.locator("#results-page-info")).to_contain_text("0 rows", timeout=WAIT)
    page.locator("#results-filter").get_by_text("Variants disagree").click()
    expect(page.locator("#results-page-info")).to_contain_text(f"{ROWS} rows", timeout=WAIT)


def test_promote_the_winner_moves_the_label(results_page, app_services):
    page = results_page
    open_experiment(page)
    services, ctx = app_services.services, app_services.ctx
    assert "production" not in services.library.get(ctx, "results-answer").labels
    expect(page.locator("#results-promote-variant input")).to_have_value("results-answer@1/fake/test-model",
                                                                          timeout=WAIT)
    page.locator("#results-promote").click()
    evidence = page.locator("#results-promote-evidence")
    expect(evidence).to_contain_text("Move the label production to results-answer version 1", timeout=WAIT)
    expect(evidence).to_contain_text("beats results-ask@1/fake/test-model on all checks: 100% vs 0%")
    page.locator("#results-promote-yes").click()
    expect(page.locator("#results-promoted")).to_contain_text("now points at results-answer version 1", timeout=WAIT)
    assert services.library.get(ctx, "results-answer").labels == ["production"] or \
        "production" in services.library.get(ctx, "results-answer").labels
    # Changing the label closes an open question: it was about the other label.
    label = page.locator("#results-promote-label textarea, #results-promote-label input").first
    page.locator("#results-promote").click()
    expect(page.locator("#results-promote-confirm")).to_be_visible(timeout=WAIT)
    label.fill("staging")
    expect(page.locator("#results-promote-confirm")).to_be_hidden(timeout=WAIT)
    # A label the library refuses: a status line, the form stays usable.
    label.fill("bad label!")
    page.locator("#results-promote").click()
    page.locator("#results-promote-yes").click()
    expect(page.locator("#results-status")).to_contain_text("⚠", timeout=WAIT)
    assert_usable(page, "results-promote-label", "bad label!")
    assert_no_error_status(page)


@pytest.mark.parametrize("fmt", ["CSV", "JSONL", "promptfoo (YAML)"])
def test_export_downloads_a_file_with_the_right_rows(results_page, fmt):
    page = results_page
    open_experiment(page)
    page.locator("#results-export-format").get_by_text(fmt, exact=True).click()
    page.locator("#results-export").click()
    link = page.locator("#results-export-file a").first
    expect(link).to_be_visible(timeout=WAIT)
    with page.expect_download() as download:
        link.click()
    content = Path(download.value.path()).read_text(encoding="utf-8")
    if fmt == "CSV":
        rows = list(csv.DictReader(io.StringIO(content)))
        assert len(rows) == ROWS * 2
        assert sorted({(r["variant"], r["status"]) for r in rows}) == [
            ("results-answer@1/fake/test-model", "pass"), ("results-ask@1/fake/test-model", "fail")]
    elif fmt == "JSONL":
        results = [json.loads(line) for line in content.splitlines()]
        assert len(results) == ROWS * 2 and {r["row"] for r in results} == set(range(ROWS))
    else:
        assert "prompts:" in content and "contains" in content and "Answer {{ i }}: ok" in content


def test_screenshot_of_the_results(results_page):
    page = results_page
    open_experiment(page)
    expect(page.locator("#results-plot-pass").locator("canvas, svg").first).to_be_visible(timeout=WAIT)
    page.locator("#results-matrix").get_by_role("gridcell", name=re.compile(r"^✓ echo: Answer 2")).first.click()
    expect(page.locator("#results-cell-info")).to_contain_text("row 2", timeout=WAIT)
    page.wait_for_function("() => !document.querySelector('.wrap.pending, .eta-bar')", timeout=WAIT)
    page.wait_for_timeout(600)
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / "experiments-results.png"), full_page=True)
    assert (OUT / "experiments-results.png").stat().st_size > 20_000
