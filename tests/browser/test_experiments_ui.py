"""The Experiments tab in a real browser against the fake LLM server: upload a dataset and browse
it, build an experiment, see the estimate before Run is enabled, run it and watch progress reach
done/total, reload the page during a slow run and see progress continue; a bad file leaves the
form usable."""
from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from promptmgr.schemas import PromptCreate, parse
from tests.browser.usable import assert_no_error_status, assert_usable

pytestmark = pytest.mark.browser
WAIT = 30_000
MODEL = "fake/test-model"


# The machines running these tests are shared and often busy: a page load may take a while.
LOAD_WAIT = 90_000


@pytest.fixture
def open_tab(page, app_url):
    """Load the app and open an inner tab of Experiments."""

    def go(inner: str, reload: bool = False):
        if reload:
            page.reload()
        else:
            page.goto(app_url)
        page.locator("#pm-table").get_by_role("gridcell").first.wait_for(timeout=LOAD_WAIT)
        page.locator("#pm-tabs").get_by_role("tab", name="Experiments", exact=True).click(timeout=LOAD_WAIT)
        page.locator("#exp-tabs").get_by_role("tab", name=inner, exact=True).click(timeout=LOAD_WAIT)
        return page

    return go


def upload(page, elem_id: str, path) -> None:
    with page.expect_file_chooser() as chooser:
        page.locator(f"#{elem_id}").click()
    chooser.value.set_files(str(path))


def textbox(page, elem_id: str):
    return page.locator(f"#{elem_id}").locator("textarea, input").first


def choose(page, elem_id: str, value: str) -> None:
    box = page.locator(f"#{elem_id} input")
    box.click()
    box.fill(value)
    page.get_by_role("option", name=value, exact=True).first.click()
    page.keyboard.press("Escape")


def make_dataset(page, tmp_path, name: str, rows: int) -> None:
    data = tmp_path / f"{name}.csv"
    data.write_text("question,expected\n" + "".join(f"What is {i}?,{i}\n" for i in range(rows)), encoding="utf-8")
    upload(page, "exp-ds-upload", data)
    expect(page.locator("#exp-ds-chosen")).to_contain_text(data.name, timeout=WAIT)
    textbox(page, "exp-ds-name").fill(name)
    page.locator("#exp-ds-import").click()
    expect(page.locator("#exp-ds-status")).to_contain_text(f"{rows} rows", timeout=WAIT)


def make_prompt(app_services) -> str:
    name = f"exp-ui-{uuid.uuid4().hex[:6]}"
    app_services.services.library.create(app_services.ctx, parse(PromptCreate, {
        "name": name, "content": "Answer briefly: {{ question }}"}))
    return name


def test_upload_a_dataset_see_it_listed_and_browse_its_rows(open_tab, tmp_path):
    page = open_tab("Datasets")
    name = f"ds-{uuid.uuid4().hex[:6]}"
    make_dataset(page, tmp_path, name, 45)
    table = page.locator("#exp-ds-table")
    expect(table.get_by_role("gridcell", name=name, exact=True).first).to_be_visible(timeout=WAIT)
    expect(page.locator("#exp-ds-page")).to_contain_text("1–20 of 45", timeout=WAIT)
    rows = page.locator("#exp-ds-rows")
    expect(rows.get_by_role("gridcell", name="What is 0?").first).to_be_attached(timeout=WAIT)
    page.locator("#exp-ds-next").click()
    expect(page.locator("#exp-ds-page")).to_contain_text("21–40 of 45", timeout=WAIT)
    expect(rows.get_by_role("gridcell", name="What is 20?").first).to_be_attached(timeout=WAIT)
    # Add a row: a new version with one more row.
    page.locator("#exp-tabs").get_by_text("Edit or add a row").click()
    page.locator("#exp-ds-vars .cm-content").fill('{"question": "What is new?"}')
    page.locator("#exp-ds-save-row").click()
    expect(page.locator("#exp-ds-status")).to_contain_text(f"{name} v2", timeout=WAIT)
    expect(page.locator("#exp-ds-page")).to_contain_text("of 46 (v2)", timeout=WAIT)


def test_a_bad_dataset_file_shows_a_message_and_leaves_the_form_usable(open_tab, tmp_path):
    page = open_tab("Datasets")
    bad = tmp_path / "broken.jsonl"
    bad.write_text('{"question": "fine"}\n{not json\n', encoding="utf-8")
    upload(page, "exp-ds-upload", bad)
    expect(page.locator("#exp-ds-chosen")).to_contain_text("broken.jsonl", timeout=WAIT)
    textbox(page, "exp-ds-name").fill("broken-one")
    page.locator("#exp-ds-import").click()
    expect(page.locator("#exp-ds-status")).to_contain_text("line 2", timeout=WAIT)
    assert_no_error_status(page)
    assert_usable(page, "exp-ds-name", "broken-one")
    assert_usable(page, "exp-ds-description")


def test_create_estimate_run_and_watch_progress(open_tab, app_services, tmp_path, fake_llm):
    prompt = make_prompt(app_services)
    page = open_tab("Datasets")
    dataset = f"ds-{uuid.uuid4().hex[:6]}"
    make_dataset(page, tmp_path, dataset, 6)
    page.locator("#exp-tabs").get_by_role("tab", name="New experiment").click()
    experiment = f"exp-{uuid.uuid4().hex[:6]}"
    textbox(page, "exp-new-name").fill(experiment)
    choose(page, "exp-new-dataset", dataset)
    textbox(page, "exp-new-search").fill(prompt)
    box = page.locator("#exp-new-prompt input")
    for _ in range(60):  # the search replaces the choices: pick the prompt once it is offered
        box.click()
        option = page.get_by_role("option", name=re.compile(re.escape(prompt)))
        if option.count():
            option.first.click()
            break
        page.keyboard.press("Escape")
        page.wait_for_timeout(250)
    page.locator("#exp-new-add-prompt").click()
    expect(page.locator("#exp-new-prompts")).to_contain_text(prompt, timeout=WAIT)
    choose(page, "exp-new-models", MODEL)
    textbox(page, "exp-new-check-value").fill("echo")
    page.locator("#exp-new-add-check").click()
    expect(page.locator("#exp-new-checks").get_by_role("gridcell", name="contains").first).to_be_attached(timeout=WAIT)
    page.locator("#exp-new-try").click()
    expect(page.locator("#exp-new-trial")).to_contain_text("This row passes.", timeout=WAIT)
    run = page.locator("#exp-new-run")
    expect(run).to_be_disabled()
    page.locator("#exp-new-estimate").click()
    expect(page.locator("#exp-new-estimate-out")).to_contain_text("Total: 6 calls", timeout=WAIT)
    expect(run).to_be_enabled(timeout=WAIT)
    # Editing the form after the estimate takes Run away again until a new estimate.
    textbox(page, "exp-new-repeats").fill("2")
    expect(run).to_be_disabled(timeout=WAIT)
    textbox(page, "exp-new-repeats").fill("1")
    page.locator("#exp-new-estimate").click()
    expect(run).to_be_enabled(timeout=WAIT)
    run.click()
    expect(page.locator("#exp-run-progress")).to_contain_text("6/6 cells", timeout=WAIT)
    expect(page.locator("#exp-run-progress")).to_contain_text("completed", timeout=WAIT)
    expect(page.locator("#exp-run-table").get_by_role("gridcell", name="100%").first).to_be_attached(timeout=WAIT)
    assert fake_llm.chat_count >= 6
    assert app_services.services.experiments.get(app_services.ctx, experiment).status == "completed"
    # The list shows it with its progress; opening it selects the Results view.
    page.locator("#exp-tabs").get_by_role("tab", name="All experiments").click()
    page.locator("#exp-list-refresh").click()
    listed = page.locator("#exp-list-table")
    expect(listed.get_by_role("gridcell", name=experiment, exact=True).first).to_be_attached(timeout=WAIT)
    expect(listed.get_by_role("gridcell", name="6/6", exact=True).first).to_be_attached(timeout=WAIT)
    choose(page, "exp-list-pick", experiment)
    page.locator("#exp-list-open").click()
    expect(page.locator("#exp-tabs").get_by_role("tab", name="Results")).to_have_attribute("aria-selected", "true",
                                                                                          timeout=WAIT)


def test_reloading_during_a_run_reattaches_and_progress_continues(open_tab, app_services, fake_llm):
    import threading

    from tests.experiment_rows import make_experiment

    services, ctx = app_services.services, app_services.ctx
    from promptmgr.llm.remote import litellm_module

    litellm_module()  # imported once here (seconds on a busy machine), not while the page loads
    prompt = make_prompt(app_services)
    name = f"slow-{uuid.uuid4().hex[:6]}"
    make_experiment(services, ctx, name, rows=[{"question": f"q{i}"} for i in range(10)],
                    variants=[(prompt, MODEL, {})], concurrency=1)
    # The provider holds every answer until the gate opens, then answers slowly: the run is still
    # going when the page has loaded and reloaded, however busy the machine is.
    fake_llm.gate, fake_llm.delay = threading.Event(), 0.3
    services.experiment_jobs.start(ctx, name)
    try:
        page = open_tab("Running")
        shown = page.locator("#exp-run-progress")
        expect(shown).to_contain_text(name, timeout=60_000)
        expect(shown).to_contain_text(re.compile(r"\d+/10 cells .* running"), timeout=WAIT)
        open_tab("Running", reload=True)
        expect(shown).to_contain_text(name, timeout=60_000)  # re-attached: nothing was opened by hand
        expect(shown).to_contain_text("running", timeout=WAIT)
        expect(page.locator("#exp-run-pause")).to_be_enabled(timeout=WAIT)
        fake_llm.gate.set()
        expect(shown).to_contain_text("10/10 cells", timeout=60_000)
        expect(shown).to_contain_text("completed", timeout=WAIT)
        expect(page.locator("#exp-run-table").get_by_role("gridcell", name="100%").first).to_be_attached(timeout=WAIT)
    finally:
        fake_llm.gate.set()
        fake_llm.delay = 0.0
        services.experiment_jobs.cancel(ctx, name)
        services.experiment_jobs.wait(ctx, name, timeout=60)


def test_screenshots_of_setup_and_running(open_tab, app_services, tmp_path, fake_llm, external_requests):
    """docs/screenshots/experiments-setup.png (a built experiment with its estimate) and
    experiments-running.png (a run in progress), as the README shows them."""
    import threading

    from tests.browser.test_screenshots import OUT, png_size, settle

    services, ctx = app_services.services, app_services.ctx
    prompt = make_prompt(app_services)
    dataset = f"capitals-{uuid.uuid4().hex[:4]}"
    data = tmp_path / "capitals.csv"
    data.write_text("question,expected\n" + "".join(f"Capital of country {i}?,City {i}\n" for i in range(20)),
                    encoding="utf-8")
    services.datasets.add(ctx, dataset, data)
    name = f"capitals-ab-{uuid.uuid4().hex[:4]}"
    services.experiments.create(ctx, name, dataset=dataset, prompts=[prompt], models=[MODEL, "fake/other-model"],
                                checks=["icontains:capital", "word-count:1-40"], concurrency=2)
    page = open_tab("New experiment")
    textbox(page, "exp-new-name").fill(f"{name}-v2")
    choose(page, "exp-new-dataset", dataset)
    textbox(page, "exp-new-check-value").fill("city")
    page.locator("#exp-new-add-check").click()
    expect(page.locator("#exp-new-checks").get_by_role("gridcell", name="contains").first).to_be_attached(timeout=WAIT)
    settle(page)
    page.evaluate("window.scrollTo(0, 0)")
    OUT.mkdir(parents=True, exist_ok=True)
    setup = OUT / "experiments-setup.png"
    page.screenshot(path=str(setup))
    assert png_size(setup) == (1280, 800) and setup.stat().st_size > 20_000

    fake_llm.gate, fake_llm.delay = threading.Event(), 0.2
    services.experiment_jobs.start(ctx, name)
    try:
        page.locator("#exp-tabs").get_by_role("tab", name="All experiments").click()
        page.locator("#exp-list-refresh").click()
        choose(page, "exp-list-pick", name)
        page.locator("#exp-tabs").get_by_role("tab", name="Running", exact=True).click()
        page.locator("#exp-run-pick input").click()
        page.get_by_role("option", name=name, exact=True).first.click()
        fake_llm.gate.set()
        expect(page.locator("#exp-run-progress")).to_contain_text(re.compile(r"\b([1-9]|[1-3]\d)/40 cells"),
                                                                  timeout=60_000)
        running = OUT / "experiments-running.png"
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(running))
        assert png_size(running) == (1280, 800) and running.stat().st_size > 20_000
    finally:
        fake_llm.gate.set()
        services.experiment_jobs.cancel(ctx, name)
        services.experiment_jobs.wait(ctx, name, timeout=60)
        fake_llm.delay = 0.0
    assert external_requests == []
