"""The experiment runner against the fake OpenAI-compatible server, on SQLite and PostgreSQL:
429 bursts with Retry-After, 500s, timeouts, a dead server, budget pause and resume, the cache,
cancel, early stop, and the claim/finish rules of the cell repository."""
from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter

import pytest
from sqlmodel import select

from promptmgr.errors import ConflictError, NotFoundError, ValidationError
from promptmgr.evaluation.limiter import AIMDLimiter
from promptmgr.models import Run
from promptmgr.models_experiments import Cell, Experiment
from tests.experiment_rows import make_experiment, make_prompt

KEY = "sk-runner-secret-0123456789abcdef"


@pytest.fixture
def lab(services, ctx, fake_llm):
    services.providers.add(ctx, "fake", fake_llm.base_url, api_key=KEY)
    services.gateway.backoff_base = 0.01  # retries in tests: fast
    make_prompt(services, ctx, "ask", "Question {{ i }}")
    make_prompt(services, ctx, "tell", "Tell me {{ i }}")
    return services


def two_variants(params=None):
    return [("ask", "fake/m1", dict(params or {})), ("tell", "fake/m2", dict(params or {}))]


def cells(services, name):
    with services.db.session() as session:
        experiment = session.exec(select(Experiment).where(Experiment.name == name)).one()
        rows = session.exec(select(Cell).where(Cell.experiment_id == experiment.id).order_by(Cell.id)).all()
        return experiment, rows


def runs(services, experiment_id):
    with services.db.session() as session:
        return session.exec(select(Run).where(Run.experiment_id == experiment_id).order_by(Run.id)).all()


def test_every_cell_gets_one_call_and_one_stored_run(lab, ctx, fake_llm):
    fake_llm.echo_auth = True  # the provider echoes the key: stored runs must not
    make_experiment(lab, ctx, "basic", rows=6, variants=two_variants())
    summary = lab.experiment_runs.run(ctx, "basic", concurrency=4)
    assert (summary.status, summary.done, summary.errors, summary.calls) == ("completed", 12, 0, 12)
    experiment, found = cells(lab, "basic")
    assert experiment.status == "completed" and experiment.finished_at is not None
    assert {c.status for c in found} == {"done"} and all(c.run_id and c.passed for c in found)
    stored = runs(lab, experiment.id)
    assert len(stored) == 12 and {r.id for r in stored} == {c.run_id for c in found}
    by_id = {r.id: r for r in stored}
    for cell in found:
        run = by_id[cell.run_id]
        assert run.dataset_row == cell.row_position and run.variables == {"i": cell.row_position}
        assert run.variant in ("ask@1/fake/m1", "tell@1/fake/m2") and run.experiment_id == experiment.id
        assert KEY not in run.output and KEY[:12] not in run.output
    assert Counter(fake_llm.user_texts()) == Counter([f"Question {i}" for i in range(6)] +
                                                     [f"Tell me {i}" for i in range(6)])


def test_a_429_burst_slows_down_and_loses_nothing(lab, ctx, fake_llm):
    fake_llm.max_in_flight, fake_llm.retry_after, fake_llm.delay = 2, 0.05, 0.02
    make_experiment(lab, ctx, "burst", rows=20, variants=two_variants())
    summary = lab.experiment_runs.run(ctx, "burst", concurrency=8)
    assert (summary.done, summary.errors) == (40, 0)
    assert fake_llm.rejected > 0 and summary.rate_limited == fake_llm.rejected
    assert fake_llm.chat_count == 40 + fake_llm.rejected  # every 429 retried once more, nothing else repeated


def test_server_errors_and_timeouts_are_retried(lab, ctx, fake_llm):
    lab.gateway.timeout = 0.5
    fake_llm.fail_next(500, 2)
    fake_llm.hang_next(3.0, 1)
    make_experiment(lab, ctx, "flaky", rows=5, variants=two_variants())
    summary = lab.experiment_runs.run(ctx, "flaky", concurrency=2)
    assert (summary.done, summary.errors, summary.status) == (10, 0, "completed")
    assert summary.retries == 3 and fake_llm.chat_count == 13


def test_a_provider_that_keeps_failing_makes_error_cells_not_a_failed_experiment(lab, ctx, fake_llm):
    fake_llm.fail_next(500, 100)
    make_experiment(lab, ctx, "broken", rows=3, variants=two_variants())
    summary = lab.experiment_runs.run(ctx, "broken", concurrency=2)
    assert (summary.status, summary.errors) == ("completed", 6)
    experiment, found = cells(lab, "broken")
    assert {(c.status, c.error_code, c.passed) for c in found} == {("error", "server_error", None)}
    assert all(r.error_key == "llm.server_error" and r.error_params["retries"] == 2 for r in runs(lab, experiment.id))


def test_a_dead_server_ends_every_cell_as_an_error(lab, ctx, fake_llm):
    fake_llm.stop()
    make_experiment(lab, ctx, "dead", rows=4, variants=two_variants())
    summary = lab.experiment_runs.run(ctx, "dead", concurrency=3)
    assert (summary.status, summary.done, summary.errors) == ("completed", 8, 8)
    assert {c.error_code for c in cells(lab, "dead")[1]} == {"unreachable"}


def test_a_row_the_template_cannot_render_is_an_error_without_a_call(lab, ctx, fake_llm):
    make_experiment(lab, ctx, "holes", rows=[{"i": 1}, {"other": 2}], variants=two_variants())
    summary = lab.experiment_runs.run(ctx, "holes")
    assert (summary.done, summary.errors, fake_llm.chat_count) == (4, 2, 2)
    experiment, found = cells(lab, "holes")
    assert {c.error_code for c in found if c.row_position == 1} == {"template"}
    assert {r.error_key for r in runs(lab, experiment.id) if r.error_code} == {"errors.missing_variable"}


def test_budget_pauses_then_a_higher_budget_resumes_without_repeating_a_call(lab, ctx, fake_llm):
    lab.providers.set_price(ctx, "fake/m1", 1.0, 1.0)  # USD per 1000 tokens: ~2 words in, ~4 out
    lab.providers.set_price(ctx, "fake/m2", 1.0, 1.0)
    make_experiment(lab, ctx, "budget", rows=10, variants=two_variants({"max_tokens": 5}))
    estimate = lab.experiment_runs.estimate(ctx, "budget")
    assert estimate.calls == 20 and estimate.cost > 0 and estimate.variants[0].output_source == "max_tokens"
    summary = lab.experiment_runs.run(ctx, "budget", concurrency=2, max_cost=0.04)
    assert summary.status == "paused" and summary.status_key == "runner.budget_reached"
    assert 0 < summary.done < 20 and summary.cost <= 0.04
    first = fake_llm.user_texts()
    with pytest.raises(ConflictError):
        lab.experiment_runs.run(ctx, "budget")
    summary = lab.experiment_runs.resume(ctx, "budget", max_cost=10)
    assert (summary.status, summary.done) == ("completed", 20)
    assert sorted(fake_llm.user_texts()) == sorted(set(fake_llm.user_texts()))  # no cell called twice
    assert len(fake_llm.user_texts()) == 20 and set(first) <= set(fake_llm.user_texts())


def test_a_cached_rerun_sends_no_request_and_repeats_bypass_the_cache(lab, ctx, fake_llm):
    make_experiment(lab, ctx, "warm", rows=5, variants=two_variants({"temperature": 0}))
    assert lab.experiment_runs.run(ctx, "warm").calls == 10
    make_experiment(lab, ctx, "again", rows=5, variants=two_variants({"temperature": 0}))
    assert lab.experiment_runs.estimate(ctx, "again").cached_calls == 10
    before = fake_llm.chat_count
    summary = lab.experiment_runs.run(ctx, "again")
    assert (summary.calls, summary.cached, fake_llm.chat_count - before) == (0, 10, 0)
    experiment, _ = cells(lab, "again")
    assert all(r.cached and r.cost in (0, None) for r in runs(lab, experiment.id))
    make_experiment(lab, ctx, "repeated", rows=5, variants=two_variants({"temperature": 0}), repeats=2)
    assert lab.experiment_runs.run(ctx, "repeated").calls == 20


def test_errors_are_never_cached(lab, ctx, fake_llm):
    fake_llm.fail_next(400, 1)
    make_experiment(lab, ctx, "e1", rows=1, variants=[("ask", "fake/m1", {"temperature": 0})])
    assert lab.experiment_runs.run(ctx, "e1").errors == 1
    make_experiment(lab, ctx, "e2", rows=1, variants=[("ask", "fake/m1", {"temperature": 0})])
    summary = lab.experiment_runs.run(ctx, "e2")
    assert (summary.errors, summary.calls, fake_llm.chat_count) == (0, 1, 2)


def test_cancel_from_elsewhere_stops_the_run_and_keeps_what_finished(lab, ctx, fake_llm):
    fake_llm.delay = 0.05
    make_experiment(lab, ctx, "long", rows=200, variants=two_variants())
    result = {}
    worker = threading.Thread(target=lambda: result.setdefault("s", lab.experiment_runs.run(ctx, "long",
                                                                                             concurrency=2)))
    worker.start()
    deadline = time.monotonic() + 20
    while fake_llm.chat_count < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert lab.experiment_runs.cancel(ctx, "long") == "cancelled"
    worker.join(30)
    summary = result["s"]
    assert summary.status == "cancelled" and 0 < summary.done < 400
    _, found = cells(lab, "long")
    statuses = Counter(c.status for c in found)
    assert statuses["running"] == 0 and statuses["done"] == summary.done and statuses["pending"] > 0
    assert fake_llm.chat_count == summary.done  # nothing called that was not stored


def test_a_pause_event_leaves_the_rest_pending_for_resume(lab, ctx, fake_llm):
    fake_llm.delay = 0.03  # 60 cells take longer than a few commits
    make_experiment(lab, ctx, "paused", rows=30, variants=two_variants())
    pause = threading.Event()
    seen = []

    def progress(p):
        seen.append(p)
        if p.done >= 4:
            pause.set()

    summary = lab.experiment_runs.run(ctx, "paused", concurrency=2, progress=progress, pause=pause)
    assert summary.status == "paused" and summary.status_key == "runner.paused" and summary.done < 60
    assert seen and seen[-1].total == 60
    summary = lab.experiment_runs.resume(ctx, "paused")
    assert (summary.status, summary.done) == ("completed", 60)
    assert sorted(fake_llm.user_texts()) == sorted(set(fake_llm.user_texts())) and fake_llm.chat_count == 60


class _DecidesAfter:
    """A stand-in sequential test: decides for the variant after `n` pairs."""

    def __init__(self, n=3):
        self.n, self.pairs = n, []

    def add(self, base_pass, other_pass):
        self.pairs.append((base_pass, other_pass))

    @property
    def decided(self):
        return "variant" if len(self.pairs) >= self.n else None


def test_stop_early_ends_the_run_once_the_test_decides(lab, ctx, fake_llm, monkeypatch):
    import promptmgr.services.experiment_runs as module

    monkeypatch.setattr(module, "_sequential", lambda plans: _DecidesAfter())
    make_experiment(lab, ctx, "early", rows=100, variants=two_variants())
    summary = lab.experiment_runs.run(ctx, "early", concurrency=1, stop_early=True)
    assert summary.status == "completed" and summary.status_key == "runner.stopped_early"
    assert summary.winner == "tell@1/fake/m2" and summary.status_params == {"winner": "tell@1/fake/m2"}
    assert summary.done < 20 and fake_llm.chat_count == summary.done


def test_stop_early_needs_two_variants(lab, ctx):
    make_experiment(lab, ctx, "three", rows=1, variants=two_variants() + [("ask", "fake/m3", {})])
    with pytest.raises(ValidationError):
        lab.experiment_runs.run(ctx, "three", stop_early=True)
    assert cells(lab, "three")[0].status == "draft"


def test_bad_input_is_refused_before_anything_runs(lab, ctx, fake_llm):
    make_experiment(lab, ctx, "x", rows=1, variants=two_variants())
    for kwargs in ({"concurrency": 0}, {"concurrency": 10_000}, {"max_cost": -1}, {"max_cost": float("nan")}):
        with pytest.raises(ValidationError):
            lab.experiment_runs.run(ctx, "x", **kwargs)
    with pytest.raises(NotFoundError):
        lab.experiment_runs.run(ctx, "nope")
    with pytest.raises(ConflictError):
        lab.experiment_runs.resume(ctx, "x")
    assert fake_llm.chat_count == 0 and cells(lab, "x")[0].status == "draft"


# --- the cell repository ---------------------------------------------------------------------
def test_finish_writes_only_cells_the_runner_still_holds(lab, ctx):
    from promptmgr.repositories.cells import CellOutcome, CellRepository

    experiment_id = make_experiment(lab, ctx, "claims", rows=3, variants=two_variants())
    with lab.db.session(write=True) as session:
        mine = CellRepository(session, ctx).claim(experiment_id, "host:1:a", 4)
    with lab.db.session(write=True) as session:
        theirs = CellRepository(session, ctx).claim(experiment_id, "host:2:b", 10)
    assert len(mine) == 4 and len(theirs) == 2 and not {c.id for c in mine} & {c.id for c in theirs}

    def outcome(cell_id):
        run = {"prompt_name": "ask", "model": "fake/m1", "params": {}, "variables": {}, "rendered_input": [],
               "output": "x", "experiment_id": experiment_id, "variant": "v", "dataset_row": 0}
        return CellOutcome(cell_id, run, "done", None, True, 1.0, [], 0.0)

    with lab.db.session(write=True) as session:
        written = CellRepository(session, ctx).finish("host:1:a", [outcome(c.id) for c in mine + theirs])
    assert sorted(o.cell_id for o in written) == sorted(c.id for c in mine)
    with lab.db.session(write=True) as session:  # the same batch again: nothing more
        assert CellRepository(session, ctx).finish("host:1:a", [outcome(c.id) for c in mine]) == []
    assert len(runs(lab, experiment_id)) == 4
    with lab.db.session(write=True) as session:
        repo = CellRepository(session, ctx)
        assert repo.counts(experiment_id) == {"done": 4, "running": 2}
        assert repo.release(experiment_id, "host:2:b") == 2
        assert repo.counts(experiment_id) == {"done": 4, "pending": 2}


# --- the limiter -------------------------------------------------------------------------------
def test_aimd_halves_on_429_and_grows_back_by_one_after_sustained_success():
    async def scenario():
        limiter = AIMDLimiter(8)
        await limiter.acquire()
        await limiter.release("rate_limited", retry_after=0.3)
        assert limiter.limit == 4 and limiter.blocked_until > time.monotonic()
        waiter = asyncio.create_task(limiter.acquire())
        await asyncio.sleep(0.05)
        assert not waiter.done()  # held by Retry-After
        await asyncio.wait_for(waiter, 2)
        await limiter.release("ok")
        for _ in range(3):
            await limiter.acquire()
            await limiter.release("ok")
        assert limiter.limit == 5  # 4 successes in a row at limit 4: one more
        for _ in range(10):
            await limiter.acquire()
            await limiter.release("rate_limited")
        assert limiter.limit == 1
        held = [await limiter.acquire()]
        blocked = asyncio.create_task(limiter.acquire())
        await asyncio.sleep(0.02)
        assert not blocked.done() and held  # at limit 1, a second call waits
        await limiter.release("other")
        await asyncio.wait_for(blocked, 1)

    asyncio.run(scenario())


def test_checks_score_every_answer_and_judges_count_in_the_cost(lab, ctx, fake_llm):
    checks = [{"type": "contains", "value": "Question"}, {"type": "icontains", "value": "question 1"}]
    make_experiment(lab, ctx, "checked", rows=3, variants=[("ask", "fake/m1", {})], checks=checks)
    summary = lab.experiment_runs.run(ctx, "checked")
    assert (summary.done, summary.errors) == (3, 0)
    _, found = cells(lab, "checked")
    assert [c.passed for c in found] == [False, True, False]  # "echo: Question N" has "question 1" only for N=1
    assert [c.score for c in found] == [0.5, 1.0, 0.5]
    assert [[s["pass"] for s in c.scores] for c in found] == [[True, False], [True, True], [True, False]]
    make_experiment(lab, ctx, "judged", rows=2, variants=[("ask", "fake/m1", {})],
                    checks=[{"type": "llm-rubric", "value": "Answers politely"}])
    with lab.db.session(write=True) as session:
        judged = session.exec(select(Experiment).where(Experiment.name == "judged")).one()
        judged.config = {"judge_model": "fake/judge"}
        session.add(judged)
    lab.providers.set_price(ctx, "fake/judge", 1.0, 1.0)
    before = fake_llm.chat_count
    summary = lab.experiment_runs.run(ctx, "judged")
    assert summary.done == 2 and fake_llm.chat_count - before == 4  # two answers, two judge calls
    _, found = cells(lab, "judged")
    for cell in found:  # the fake judge echoes instead of answering JSON: a check error, not a crash
        assert cell.status == "done" and cell.scores[0]["error"] and cell.judge_tokens > 0
        assert cell.judge_cost > 0 and cell.cost == pytest.approx(cell.judge_cost)



def test_judge_calls_share_the_providers_limiter_and_retries(lab, ctx, fake_llm):
    # The judge runs on the same fake provider: its 429s must be retried (not end as check errors)
    # and counted by the limiter like the answers' own.
    make_experiment(lab, ctx, "judged-burst", rows=12, variants=[("ask", "fake/m1", {})],
                    checks=[{"type": "llm-rubric", "value": "Answers politely"}])
    with lab.db.session(write=True) as session:
        judged = session.exec(select(Experiment).where(Experiment.name == "judged-burst")).one()
        judged.config = {"judge_model": "fake/judge"}
        session.add(judged)
    fake_llm.script(['{"pass": true, "score": 1, "reason": "polite"}'] * 200)
    fake_llm.max_in_flight, fake_llm.retry_after, fake_llm.delay = 2, 0.05, 0.02
    summary = lab.experiment_runs.run(ctx, "judged-burst", concurrency=8)
    assert (summary.done, summary.errors) == (12, 0)
    assert fake_llm.rejected > 0 and summary.rate_limited == fake_llm.rejected
    assert fake_llm.chat_count == 24 + fake_llm.rejected  # 12 answers + 12 verdicts, every 429 retried once
    _, found = cells(lab, "judged-burst")
    assert all(cell.scores[0]["error"] is None and cell.scores[0]["pass"] is True for cell in found)


# --- the lean OpenAI-compatible path the runner uses -------------------------------------------------
@pytest.mark.parametrize("status", [None, 400, 401, 404, 429, 500])
def test_the_lean_backend_answers_and_fails_exactly_as_litellm_does(services, ctx, fake_llm, status):
    from promptmgr.llm import aio
    from promptmgr.llm.openai_compat import lean

    if services.db.dialect != "sqlite":
        pytest.skip("no database involved")
    services.providers.add(ctx, "fake", fake_llm.base_url, api_key=KEY)
    target = services.providers.resolve(ctx, "fake/some-model")
    results = []
    for gateway in (services.gateway, lean(services.gateway)):
        gateway.max_retries = 0
        if status:
            fake_llm.fail_next(status)
        results.append(aio.run(gateway.acomplete(target, [{"role": "user", "content": "hi there"}],
                                                 {"temperature": 0.5, "max_tokens": 9})))
    slow, fast = results
    assert (fast.text, fast.prompt_tokens, fast.completion_tokens, fast.error_code, fast.error_key) == \
        (slow.text, slow.prompt_tokens, slow.completion_tokens, slow.error_code, slow.error_key)
    assert KEY not in str(fast.error_params)
    first, second = fake_llm.chat_requests[-2:]
    assert dict(first) == dict(second)  # the same request body on the wire


def test_stop_early_with_the_sequential_test_stops_when_one_variant_clearly_wins(lab, ctx, fake_llm):
    # "ask" answers "echo: Question N" and passes; "tell" answers "echo: Tell me N" and fails.
    make_experiment(lab, ctx, "clear", rows=150, variants=two_variants(),
                    checks=[{"type": "contains", "value": "Question"}])
    summary = lab.experiment_runs.run(ctx, "clear", concurrency=2, stop_early=True)
    assert summary.status_key == "runner.stopped_early" and summary.winner == "ask@1/fake/m1"
    assert summary.done < 300 and fake_llm.chat_count == summary.done
    _, found = cells(lab, "clear")
    assert Counter(c.status for c in found)["running"] == 0
