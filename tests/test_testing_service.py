"""The testing bench over real HTTP to the fake OpenAI-compatible server, on SQLite and PostgreSQL."""
from __future__ import annotations

import base64

import pytest
from sqlalchemy import text

from promptmgr.errors import NotFoundError, ValidationError
from promptmgr.schemas import PromptCreate, parse

MODEL = "fake/fake-model"


@pytest.fixture
def bench(services, ctx, fake_llm):
    services.providers.add(ctx, "fake", fake_llm.base_url, api_key="sk-bench-key-0123456789abcdef")
    services.library.create(ctx, parse(PromptCreate, {
        "name": "greet", "content": "Say hello to {{ name }} in {{ style }}.",
        "variables": [{"name": "name"}, {"name": "style", "default": "prose"}]}))
    return services


def test_run_is_stored_with_every_field(bench, ctx, fake_llm):
    fake_llm.script(["Hello, Ada!"])
    run = bench.testing.run(ctx, "greet", model=MODEL, variables={"name": "Ada"},
                            params={"temperature": "0.5", "max_tokens": "20", "seed": 7, "stop": "END"},
                            system_prompt="Be brief.")
    request = fake_llm.chat_requests[-1]
    assert request["model"] == "fake-model"
    assert request["messages"] == [{"role": "system", "content": "Be brief."},
                                   {"role": "user", "content": "Say hello to Ada in prose."}]
    assert (request["temperature"], request["max_tokens"], request["seed"]) == (0.5, 20, 7)
    assert run.ok and run.output == "Hello, Ada!"
    assert (run.prompt_tokens, run.completion_tokens) == (8, 2)  # the fake counts words
    stored = bench.testing.get_run(ctx, run.id)
    assert stored.model_dump() == run.model_dump()
    assert (stored.prompt_name, stored.version_number, stored.model) == ("greet", 1, MODEL)
    assert stored.params == {"temperature": 0.5, "max_tokens": 20, "seed": 7, "stop": "END"}
    assert stored.variables == {"name": "Ada"}
    assert stored.rendered_input[-1] == {"role": "user", "content": "Say hello to Ada in prose."}
    assert stored.latency_ms > 0 and stored.user_id == ctx.user_id and stored.cached is False
    assert stored.error_code is None and stored.batch_id is None and stored.created_at.tzinfo is not None
    with bench.db.engine.connect() as conn:
        prompt_id = conn.execute(text("SELECT prompt_id FROM run WHERE id = :id"), {"id": run.id}).scalar()
        assert prompt_id == conn.execute(text("SELECT id FROM prompt WHERE name = 'greet'")).scalar()


def test_version_and_label_select_the_content(bench, ctx, fake_llm):
    from promptmgr.schemas import PromptUpdate

    bench.library.update(ctx, "greet", parse(PromptUpdate, {"content": "Bye {{ name }}", "base_version": 1}))
    bench.library.set_label(ctx, "greet", "prod", 1)
    old = bench.testing.run(ctx, "greet", label="prod", model=MODEL, variables={"name": "Bo"})
    new = bench.testing.run(ctx, "greet", model=MODEL, variables={"name": "Bo"})
    assert (old.version_number, old.output) == (1, "echo: Say hello to Bo in prose.")
    assert (new.version_number, new.output) == (2, "echo: Bye Bo")


def test_side_by_side_runs_share_a_batch(bench, ctx, fake_llm):
    bench.providers.add(ctx, "other", fake_llm.base_url)
    runs = bench.testing.run_many(ctx, "greet", [MODEL, "other/second-model"], variables={"name": "Cy"})
    assert [r.model for r in runs] == [MODEL, "other/second-model"]
    assert runs[0].batch_id and runs[0].batch_id == runs[1].batch_id
    assert sorted(r["model"] for r in fake_llm.chat_requests) == ["fake-model", "second-model"]
    batch = bench.testing.list_runs(ctx, batch_id=runs[0].batch_id)
    assert batch.total == 2
    with pytest.raises(ValidationError) as err:
        bench.testing.run_many(ctx, "greet", [MODEL] * 5, variables={"name": "Cy"})
    assert err.value.message_key == "testing.model_count"
    assert bench.testing.list_runs(ctx).total == 2


def test_provider_failure_is_stored_as_data(bench, ctx, fake_llm):
    fake_llm.fail_next(401)
    run = bench.testing.run(ctx, "greet", model=MODEL, variables={"name": "Ada"})
    assert not run.ok and run.error_code == "auth" and run.output == ""
    assert "rejected the API key" in run.error
    assert "sk-bench-key" not in run.error
    assert bench.testing.get_run(ctx, run.id).error_code == "auth"


def test_unreachable_provider_is_stored_as_data(bench, ctx, fake_llm):
    port = fake_llm.port
    fake_llm.stop()
    bench.gateway.backoff_base = 0.0
    run = bench.testing.run(ctx, "greet", model=MODEL, variables={"name": "Ada"})
    assert run.error_code == "unreachable" and f"127.0.0.1:{port}" in run.error


def test_cache_hit_with_temperature_zero(bench, ctx, fake_llm):
    bench.providers.set_price(ctx, MODEL, input_per_1k=1.0, output_per_1k=2.0)
    first = bench.testing.run(ctx, "greet", model=MODEL, variables={"name": "Ada"}, params={"temperature": 0})
    second = bench.testing.run(ctx, "greet", model=MODEL, variables={"name": "Ada"}, params={"temperature": 0})
    assert len(fake_llm.chat_requests) == 1
    assert first.cost > 0 and not first.cached
    assert second.cached and second.cost == 0 and second.output == first.output
    third = bench.testing.run(ctx, "greet", model=MODEL, variables={"name": "Ada"}, params={"temperature": 0},
                              use_cache=False)
    assert not third.cached and len(fake_llm.chat_requests) == 2


def test_stream_yields_deltas_then_the_stored_run(bench, ctx, fake_llm):
    fake_llm.script(["one two three"])
    items = list(bench.testing.stream(ctx, "greet", model=MODEL, variables={"name": "Ada"}))
    deltas, run = items[:-1], items[-1]
    assert all(isinstance(d, str) for d in deltas) and len(deltas) >= 3
    assert "".join(deltas) == "one two three" == run.output
    assert fake_llm.chat_requests[-1]["stream"] is True
    assert bench.testing.get_run(ctx, run.id).output == "one two three"


def test_list_runs_filters_and_pages(bench, ctx, fake_llm):
    bench.library.create(ctx, parse(PromptCreate, {"name": "other", "content": "Plain"}))
    for name in ("Ann", "Ben", "Cid"):
        bench.testing.run(ctx, "greet", model=MODEL, variables={"name": name})
    bench.testing.run(ctx, "other", model=MODEL)
    page = bench.testing.list_runs(ctx, prompt_name="greet", limit=2)
    assert page.total == 3 and len(page.items) == 2
    assert page.items[0].variables == {"name": "Cid"}  # newest first
    assert bench.testing.list_runs(ctx, prompt_name="greet", limit=2, offset=2).items[0].variables == {"name": "Ann"}
    assert bench.testing.list_runs(ctx, model=MODEL).total == 4
    assert bench.testing.list_runs(ctx, model="nope/x").total == 0
    other, _ = bench.admin.ensure_tenant("other", "Other", "bob")
    assert bench.testing.list_runs(other).total == 0
    with pytest.raises(NotFoundError):
        bench.testing.get_run(other, page.items[0].id)


@pytest.mark.parametrize("params,name", [
    ({"temprature": 1}, "temprature"), ({"temperature": "hot"}, "temperature"), ({"temperature": 3}, "temperature"),
    ({"max_tokens": 0}, "max_tokens"), ({"max_tokens": "1.5"}, "max_tokens"), ({"top_p": 2}, "top_p"),
    ({"seed": True}, "seed"), ({"stop": []}, "stop"),
])
def test_bad_params_name_the_param_and_store_nothing(bench, ctx, fake_llm, params, name):
    with pytest.raises(ValidationError) as err:
        bench.testing.run(ctx, "greet", model=MODEL, variables={"name": "A"}, params=params)
    assert f"'{name}'" in err.value.translate("en")
    assert bench.testing.list_runs(ctx).total == 0 and fake_llm.chat_requests == []


def test_missing_variable_raises_before_any_call(bench, ctx, fake_llm):
    with pytest.raises(ValidationError):
        bench.testing.run(ctx, "greet", model=MODEL)
    assert fake_llm.chat_requests == [] and bench.testing.list_runs(ctx).total == 0


def test_chat_prompt_with_a_stored_image(bench, ctx, fake_llm):
    png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGA"
                           "WjR9awAAAABJRU5ErkJggg==")
    bench.settings.files_dir.mkdir(parents=True, exist_ok=True)
    (bench.settings.files_dir / "dot.png").write_bytes(png)
    bench.library.create(ctx, parse(PromptCreate, {"name": "look", "kind": "chat", "messages": [
        {"role": "system", "content": [{"type": "text", "text": "You describe images."}]},
        {"role": "user", "content": [{"type": "text", "text": "What is in {{ what }}?"},
                                     {"type": "image", "url": "file:dot.png"}]}]}))
    run = bench.testing.run(ctx, "look", model=MODEL, variables={"what": "this picture"}, system_prompt="Be short.")
    sent = fake_llm.chat_requests[-1]["messages"]
    assert sent[0] == {"role": "system", "content": "Be short.\n\nYou describe images."}
    assert sent[1]["content"][0] == {"type": "text", "text": "What is in this picture?"}
    assert sent[1]["content"][1]["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(png).decode()
    # The stored run keeps the file reference, not the image bytes.
    assert run.rendered_input[1]["content"][1] == {"type": "image_url", "image_url": {"url": "file:dot.png"}}
    bench.library.create(ctx, parse(PromptCreate, {"name": "escape", "kind": "chat", "messages": [
        {"role": "user", "content": [{"type": "image", "url": "file:../secret.key"}]}]}))
    with pytest.raises(ValidationError) as err:
        bench.testing.run(ctx, "escape", model=MODEL)
    assert err.value.message_key == "testing.bad_file"


def test_estimate_text_and_prompt(bench, ctx):
    bench.providers.set_price(ctx, MODEL, input_per_1k=1.0, output_per_1k=2.0, context_window=10)
    est = bench.testing.estimate(ctx, "hello world", model="gpt-4o-mini")
    assert est.tokens == 2 and est.exact and est.method.startswith("tiktoken")
    assert est.cost and est.context_window and est.fits
    long = bench.testing.estimate(ctx, "word " * 50, model=MODEL, output_tokens=5)
    assert long.fits is False and "context window" in long.warning
    assert long.cost == pytest.approx(long.tokens * 0.001 + 5 * 0.002)
    prompt = bench.testing.estimate(ctx, prompt_name="greet", model=MODEL, variables={"name": "Ann"})
    unrendered = bench.testing.estimate(ctx, prompt_name="greet", model=MODEL)
    assert prompt.rendered and not unrendered.rendered and prompt.tokens > 0
    with pytest.raises(ValidationError):
        bench.testing.estimate(ctx, "x", prompt_name="greet")
