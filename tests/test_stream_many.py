"""Issue 8 §6 / issue 7 item 6: side-by-side streaming as a TestingService method, with Stop
cancelling the model calls themselves. Real database, real HTTP to tests/fake_llm.py."""
from __future__ import annotations

import threading

import pytest

from promptmgr.context import TenantContext
from promptmgr.errors import PermissionDeniedError
from promptmgr.llm import local
from promptmgr.schemas import PromptCreate, parse
from promptmgr.services.testing import RunDelta, RunDone

MODEL, OTHER = "fake/fake-model", "other/second-model"
LONG = " ".join(f"w{i}" for i in range(60))  # 60 words = 60 delta chunks


@pytest.fixture
def bench(services, ctx, fake_llm):
    services.providers.add(ctx, "fake", fake_llm.base_url, api_key="sk-bench-key-0123456789abcdef")
    services.providers.add(ctx, "other", fake_llm.base_url)
    services.library.create(ctx, parse(PromptCreate, {"name": "greet", "content": "Say hello to {{ name }}."}))
    return services


def test_every_model_streams_and_is_stored_in_one_batch(bench, ctx, fake_llm):
    events = list(bench.testing.stream_many(ctx, "greet", [MODEL, OTHER], variables={"name": "Ada"}))
    deltas = [e for e in events if isinstance(e, RunDelta)]
    done = {e.index: e.run for e in events if isinstance(e, RunDone)}
    assert sorted(done) == [0, 1] and isinstance(events[-1], RunDone)
    for index, run in done.items():
        assert run.ok and run.output == "".join(d.text for d in deltas if d.index == index)
        assert run.output == "echo: Say hello to Ada."
    assert [done[0].model, done[1].model] == [MODEL, OTHER]
    assert done[0].batch_id and done[0].batch_id == done[1].batch_id
    assert bench.testing.list_runs(ctx, batch_id=done[0].batch_id).total == 2
    assert all(r["stream"] is True for r in fake_llm.chat_requests)


def test_cancel_mid_stream_stops_the_calls_and_keeps_the_partial_text(bench, ctx, fake_llm):
    fake_llm.script([LONG, LONG])
    fake_llm.chunk_delay = 0.05
    cancel = threading.Event()
    events = []
    for event in bench.testing.stream_many(ctx, "greet", [MODEL, OTHER], variables={"name": "Ada"}, cancel=cancel):
        events.append(event)
        if sum(isinstance(e, RunDelta) for e in events) == 4:
            cancel.set()
    done = {e.index: e.run for e in events if isinstance(e, RunDone)}
    assert sorted(done) == [0, 1]
    for index, run in done.items():
        received = "".join(e.text for e in events if isinstance(e, RunDelta) and e.index == index)
        assert run.error_code == "cancelled" and run.output == received and len(run.output) < len(LONG)
        assert "cancelled" in run.error and bench.testing.get_run(ctx, run.id).output == received
    assert done[0].batch_id == done[1].batch_id
    assert len(bench.testing.list_runs(ctx, batch_id=done[0].batch_id).items) == 2
    # The server saw both connections closed and stopped sending.
    assert fake_llm.stream_aborted.wait(10)
    pause = threading.Event()
    for _ in range(200):  # each server thread notices at its next write
        if len(fake_llm.stream_chunks_sent) == 2:
            break
        pause.wait(0.05)
    assert len(fake_llm.stream_chunks_sent) == 2 and max(fake_llm.stream_chunks_sent) < 60


def test_closing_the_iterator_cancels_and_stores_what_arrived(bench, ctx, fake_llm):
    fake_llm.script([LONG])
    fake_llm.chunk_delay = 0.05
    events = bench.testing.stream_many(ctx, "greet", [MODEL], variables={"name": "Ada"})
    received = "".join(next(events).text for _ in range(3))
    events.close()  # what Gradio does when Stop cancels the event
    [run] = bench.testing.list_runs(ctx).items
    assert run.error_code == "cancelled" and run.output == received and run.batch_id
    assert fake_llm.stream_aborted.wait(10)


def test_run_many_is_stream_many_collected_in_model_order(bench, ctx, fake_llm):
    runs = bench.testing.run_many(ctx, "greet", [MODEL, OTHER], variables={"name": "Cy"})
    assert [r.model for r in runs] == [MODEL, OTHER] and runs[0].batch_id == runs[1].batch_id


def test_model_count_and_role_are_checked_before_any_call(bench, ctx, fake_llm):
    from promptmgr.errors import ValidationError

    with pytest.raises(ValidationError):
        bench.testing.stream_many(ctx, "greet", [MODEL] * 5, variables={"name": "A"})
    with pytest.raises(ValidationError):
        bench.testing.stream_many(ctx, "greet", [], variables={"name": "A"})
    viewer = TenantContext(ctx.tenant_id, ctx.user_id, "viewer", "en")
    for call in (lambda: bench.testing.stream_many(viewer, "greet", [MODEL], variables={"name": "A"}),
                 lambda: bench.testing.run(viewer, "greet", model=MODEL, variables={"name": "A"}),
                 lambda: bench.testing.run_messages(viewer, [{"role": "user", "content": "x"}], model=MODEL)):
        with pytest.raises(PermissionDeniedError):
            call()
    assert fake_llm.chat_requests == []
    assert bench.testing.list_runs(viewer).total == 0  # viewers read runs


@pytest.mark.embedded
@pytest.mark.skipif(not local.is_available(), reason="embedded model not installed")
def test_cancel_stops_the_embedded_model_between_tokens(bench, ctx):
    cancel = threading.Event()
    events = []
    for event in bench.testing.stream_many(ctx, "greet", [local.LOCAL_MODEL_NAME], variables={"name": "Ada"},
                                           params={"max_tokens": 400, "temperature": 0.7}, cancel=cancel):
        events.append(event)
        if isinstance(event, RunDelta) and len(events) == 3:
            cancel.set()
    run = events[-1].run
    received = "".join(e.text for e in events if isinstance(e, RunDelta))
    assert run.error_code == "cancelled" and run.output == received
    assert run.completion_tokens < 400
    # Generation stopped and released the model: the next call runs.
    again = bench.testing.run(ctx, "greet", model=local.LOCAL_MODEL_NAME, variables={"name": "Bo"},
                              params={"max_tokens": 4})
    assert again.ok
