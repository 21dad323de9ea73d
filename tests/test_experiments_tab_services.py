"""What the Experiments tab needs from the services (SQLite and PostgreSQL): editing dataset rows as a
new version, progress per variant read from the database, trying checks on one row for real, and
the background job registry (run, pause, resume, cancel, a second start refused)."""
from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from promptmgr.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from tests.experiment_rows import make_experiment, make_prompt


@pytest.fixture
def dataset(services, ctx, tmp_path):
    path = tmp_path / "qa.csv"
    path.write_text("id,question,expected\na,One?,1\nb,Two?,2\nc,Three?,3\n", encoding="utf-8")
    services.datasets.add(ctx, "qa", path)
    return "qa"


def _rows(services, ctx, name, version=None):
    return [(r.id, r.vars, r.expected) for r in services.datasets.rows(ctx, name, version)]


def test_editing_and_adding_rows_makes_a_new_version_and_keeps_the_old_one(services, ctx, dataset):
    before = _rows(services, ctx, dataset)
    made = services.datasets.edit_rows(ctx, dataset, base_version=1,
                                       edits={2: {"vars": {"question": "Deux?"}, "expected": "2"}},
                                       added=[{"vars": {"question": "Four?"}, "expected": "4"}])
    assert (made.version, made.row_count) == (2, 4)
    after = _rows(services, ctx, dataset)
    assert after[0] == before[0] and after[2] == before[2]
    assert after[1] == ("b", {"question": "Deux?"}, "2")  # the row keeps its id: versions compare row by row
    assert after[3][1:] == ({"question": "Four?"}, "4") and after[3][0] not in {"a", "b", "c"}
    assert _rows(services, ctx, dataset, 1) == before  # versions never change


def test_an_edit_on_a_stale_version_or_a_bad_row_writes_nothing(services, ctx, dataset):
    services.datasets.edit_rows(ctx, dataset, base_version=1, added=[{"vars": {"question": "x"}}])
    with pytest.raises(ConflictError) as stale:
        services.datasets.edit_rows(ctx, dataset, base_version=1, added=[{"vars": {"question": "y"}}])
    assert stale.value.message_key == "ui_experiments.dataset_moved"
    for bad in ({"vars": {}}, {"vars": "not an object"}, {"vars": {"q": "\x00"}}):
        with pytest.raises(ValidationError):
            services.datasets.edit_rows(ctx, dataset, base_version=2, added=[{"vars": {"ok": "1"}}, bad])
    with pytest.raises(ValidationError) as missing:
        services.datasets.edit_rows(ctx, dataset, base_version=2, edits={9: {"vars": {"q": "z"}}})
    assert missing.value.message_key == "ui_experiments.no_such_row"
    with pytest.raises(ValidationError):
        services.datasets.edit_rows(ctx, dataset, base_version=2)
    assert services.datasets.get(ctx, dataset).version == 2  # nothing half-written
    assert len(_rows(services, ctx, dataset)) == 4
    with pytest.raises(PermissionDeniedError):
        services.datasets.edit_rows(replace(ctx, role="viewer"), dataset, base_version=2,
                                    added=[{"vars": {"q": "v"}}])


@pytest.fixture
def lab(services, ctx, fake_llm):
    services.providers.add(ctx, "fake", fake_llm.base_url, api_key="sk-tab-services-0123456789")
    make_prompt(services, ctx, "ask", "Question {{ question }}")
    return services


def test_progress_counts_done_errors_and_passes_per_variant(lab, ctx, fake_llm):
    make_experiment(lab, ctx, "prog", rows=[{"question": str(i)} for i in range(4)],
                    variants=[("ask", "fake/a", {}), ("ask", "fake/b", {})],
                    checks=[{"type": "contains", "value": "Question 1"}])
    before = lab.experiment_runs.progress(ctx, "prog")
    assert (before["status"], before["done"], before["total"]) == ("draft", 0, 8)
    fake_llm.fail_next(400, count=1)  # one cell of the first variant is an error
    lab.experiment_runs.run(ctx, "prog", concurrency=1)
    after = lab.experiment_runs.progress(ctx, "prog")
    assert (after["status"], after["done"], after["total"], after["errors"]) == ("completed", 8, 8, 1)
    first, second = after["variants"]
    assert (first["done"], first["errors"], second["errors"]) == (4, 1, 0)
    assert second["passed"] == 1  # only the row whose answer echoes "Question 1" passes
    with pytest.raises(NotFoundError):
        lab.experiment_runs.progress(ctx, "nope")


def test_trying_checks_on_one_row_calls_the_model_and_stores_nothing(lab, ctx, fake_llm, dataset):
    def stored_runs() -> int:
        from sqlmodel import func, select

        from promptmgr.models import Run

        with lab.db.session() as session:
            return session.exec(select(func.count()).select_from(Run)).one()

    runs_before = stored_runs()
    found = lab.experiment_runs.try_row(ctx, dataset=dataset, row=2, prompt="ask", model="fake/m",
                                        checks=["contains:Two", "not-icontains:two"])
    assert fake_llm.chat_count == 1 and "Question Two?" in fake_llm.user_texts()[-1]
    assert found["output"] == "echo: Question Two?"
    assert [(c["name"], c["passed"]) for c in found["checks"]] == [("contains:Two", True), ("not-icontains:two", False)]
    assert found["passed"] is False and found["expected"] == "2"
    assert stored_runs() == runs_before
    with pytest.raises(ValidationError):
        lab.experiment_runs.try_row(ctx, dataset=dataset, row=7, prompt="ask", model="fake/m", checks=[])
    with pytest.raises(ValidationError):
        lab.experiment_runs.try_row(ctx, dataset=dataset, prompt="ask", model="fake/m", checks=["no-such-type:x"])
    assert fake_llm.chat_count == 1


def test_a_background_job_runs_pauses_resumes_and_refuses_a_second_start(lab, ctx, fake_llm):
    jobs = lab.experiment_jobs
    make_experiment(lab, ctx, "bg", rows=[{"question": str(i)} for i in range(6)], variants=[("ask", "fake/m", {})],
                    concurrency=1)
    fake_llm.gate = threading.Event()  # every answer waits until the test lets it through
    try:
        jobs.start(ctx, "bg")
        assert jobs.state(ctx, "bg")["live"] and jobs.live_names(ctx) == ["bg"]
        with pytest.raises(ConflictError):
            jobs.start(ctx, "bg")
        jobs.pause(ctx, "bg")
        assert jobs.state(ctx, "bg")["pausing"]
        fake_llm.gate.set()
        assert jobs.wait(ctx, "bg", timeout=120)
        paused = lab.experiment_runs.progress(ctx, "bg")
        assert paused["status"] == "paused" and paused["done"] < 6
        assert not jobs.state(ctx, "bg")["live"]
        with pytest.raises(ConflictError):
            jobs.pause(ctx, "bg")  # nothing live to pause
        jobs.start(ctx, "bg", resume=True)
        assert jobs.wait(ctx, "bg", timeout=120)
        done = lab.experiment_runs.progress(ctx, "bg")
        assert (done["status"], done["done"]) == ("completed", 6)
        assert fake_llm.chat_count == 6  # resume ran only the cells that were not done
    finally:
        fake_llm.gate.set()


def test_starting_a_job_that_cannot_run_says_why_at_once(lab, ctx, fake_llm):
    make_experiment(lab, ctx, "over", rows=[{"question": "x"}], variants=[("ask", "fake/m", {})])
    lab.experiment_runs.run(ctx, "over")
    with pytest.raises(ConflictError):  # a completed experiment is resumed, not run again
        lab.experiment_jobs.start(ctx, "over")
    with pytest.raises(NotFoundError):
        lab.experiment_jobs.start(ctx, "never-made")
    assert lab.experiment_jobs.cancel(ctx, "over") == "completed"
    other = replace(ctx, tenant_id=ctx.tenant_id + 1000)
    assert lab.experiment_jobs.state(other, "over")["live"] is False  # jobs are per tenant


def test_after_a_restart_a_run_left_running_shows_as_interrupted_and_resumes(lab, ctx, fake_llm):
    from promptmgr.ui.experiments_view import progress_line

    # A run whose process died: the database still says running, no job is live in this process.
    make_experiment(lab, ctx, "orphan", rows=[{"question": str(i)} for i in range(3)],
                    variants=[("ask", "fake/m", {})], status="running")
    progress, job = lab.experiment_runs.progress(ctx, "orphan"), lab.experiment_jobs.state(ctx, "orphan")
    assert progress["status"] == "running" and job["live"] is False
    assert "interrupted" in progress_line("en", progress, job)
    lab.experiment_jobs.start(ctx, "orphan", resume=True)
    assert lab.experiment_jobs.wait(ctx, "orphan", timeout=120)
    done = lab.experiment_runs.progress(ctx, "orphan")
    assert (done["status"], done["done"]) == ("completed", 3)
    assert "interrupted" not in progress_line("en", done, lab.experiment_jobs.state(ctx, "orphan"))
