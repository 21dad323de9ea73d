"""The LLM gateway against a real OpenAI-compatible HTTP server on loopback (tests/fake_llm.py)."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
import json
import logging
import socket
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptmgr.llm import errors as llm_errors
from promptmgr.i18n import t
from promptmgr.llm.cache import cache_key
from promptmgr.llm.gateway import Gateway, LLMResult, ModelTarget
from promptmgr.llm.remote import litellm_module
from promptmgr.llm.cache import wants_cache
from tests.fake_llm import block_external_network, fake_llm  # noqa: F401  (fixtures)
from tests.llm_doubles import MissingEngine, local_engine, use_backend

API_KEY = "sk-test-secret-123456"
IN_PRICE, OUT_PRICE = 1e-6, 2e-6
HELLO = [{"role": "user", "content": "hello there"}]
LOCALE_FILE = Path(__file__).resolve().parent.parent / "locales" / "llm.en.yml"


def run_async(coroutine):
    """asyncio.run in a worker thread: the browser tests' sync playwright keeps an event loop
    running in the main thread for the whole session."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.fixture
def target(fake_llm):  # noqa: F811
    return ModelTarget("openai/fake-model", "myfake/fake-model", api_base=fake_llm.base_url, api_key=API_KEY,
                       input_cost_per_token=IN_PRICE, output_cost_per_token=OUT_PRICE)


@pytest.fixture
def gateway(tmp_path):
    return Gateway(tmp_path / "cache", max_retries=2, timeout=10, backoff_base=0.01)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_ok(result: LLMResult) -> None:
    assert result.ok, (result.error_code, result.error_params)


# -- calls --------------------------------------------------------------------------------------
def test_complete_returns_text_tokens_latency_and_cost(gateway, target, fake_llm):  # noqa: F811
    result = gateway.complete(target, HELLO)
    assert_ok(result)
    assert result.text == "echo: hello there"
    assert (result.prompt_tokens, result.completion_tokens) == (2, 3)  # the fake server counts words
    assert result.cost == pytest.approx(2 * IN_PRICE + 3 * OUT_PRICE)
    assert result.latency_ms > 0
    assert result.model == "myfake/fake-model"
    assert result.finish_reason == "stop"
    assert result.cached is False
    [request] = fake_llm.chat_requests
    assert request["model"] == "fake-model"
    assert request["messages"] == HELLO
    assert request.headers["authorization"] == f"Bearer {API_KEY}"


def test_params_reach_the_provider(gateway, target, fake_llm):  # noqa: F811
    params = {"temperature": 0.3, "max_tokens": 50, "top_p": 0.9, "seed": 7, "stop": ["END"]}
    assert_ok(gateway.complete(target, HELLO, params))
    body = fake_llm.chat_requests[0]
    for name, value in params.items():
        assert body[name] == value


def test_max_tokens_truncates_and_reports_length(gateway, target, fake_llm):  # noqa: F811
    fake_llm.script(["one two three four five"])
    result = gateway.complete(target, HELLO, {"max_tokens": 2})
    assert (result.text, result.completion_tokens, result.finish_reason) == ("one two", 2, "length")


def test_multimodal_content_parts_are_sent_as_is(gateway, target, fake_llm):  # noqa: F811
    messages = [{"role": "user", "content": [
        {"type": "text", "text": "describe this"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]}]
    result = gateway.complete(target, messages)
    assert result.text == "echo: describe this"
    assert fake_llm.chat_requests[0]["messages"][0]["content"][1]["type"] == "image_url"


def test_acomplete(gateway, target, fake_llm):  # noqa: F811
    fake_llm.script(["async reply"])
    result = run_async(gateway.acomplete(target, HELLO))
    assert_ok(result)
    assert result.text == "async reply"
    assert result.cost == pytest.approx(2 * IN_PRICE + 2 * OUT_PRICE)


def test_acomplete_retries_then_succeeds(gateway, target, fake_llm):  # noqa: F811
    fake_llm.fail_next(429)
    result = run_async(gateway.acomplete(target, HELLO))
    assert_ok(result)
    assert len(fake_llm.chat_requests) == 2


def test_acomplete_error_is_data(gateway, target, fake_llm):  # noqa: F811
    fake_llm.fail_next(401)
    result = run_async(gateway.acomplete(target, HELLO))
    assert result.error_code == "auth"


def test_stream_yields_deltas_then_one_final_result(gateway, target, fake_llm):  # noqa: F811
    fake_llm.script(["the quick brown fox"])
    items = list(gateway.stream(target, HELLO))
    deltas, final = items[:-1], items[-1]
    assert all(isinstance(d, str) for d in deltas) and len(deltas) >= 2
    assert isinstance(final, LLMResult) and final.ok
    assert final.text == "".join(deltas) == "the quick brown fox"
    assert (final.prompt_tokens, final.completion_tokens) == (2, 4)
    assert final.cost == pytest.approx(2 * IN_PRICE + 4 * OUT_PRICE)
    body = fake_llm.chat_requests[0]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_stream_retries_before_the_first_delta(gateway, target, fake_llm):  # noqa: F811
    fake_llm.fail_next(500)
    items = list(gateway.stream(target, HELLO))
    assert items[-1].ok and items[-1].text == "echo: hello there"
    assert len(fake_llm.chat_requests) == 2


def test_stream_failure_is_one_error_result(gateway, target, fake_llm):  # noqa: F811
    fake_llm.fail_next(401)
    items = list(gateway.stream(target, HELLO))
    assert len(items) == 1 and items[0].error_code == "auth"


# -- retries and error mapping ----------------------------------------------------------------------
def test_429_then_success_retries(gateway, target, fake_llm):  # noqa: F811
    fake_llm.fail_next(429)
    assert_ok(gateway.complete(target, HELLO))
    assert len(fake_llm.chat_requests) == 2


def test_500_twice_then_success(gateway, target, fake_llm):  # noqa: F811
    fake_llm.fail_next(500, count=2)
    result = gateway.complete(target, HELLO)
    assert_ok(result)
    assert len(fake_llm.chat_requests) == 3


def test_persistent_429_is_rate_limited_after_retries(gateway, target, fake_llm):  # noqa: F811
    fake_llm.fail_next(429, count=10)
    result = gateway.complete(target, HELLO)
    assert result.error_code == "rate_limited" and result.error_key == "llm.rate_limited"
    assert result.error_params["retries"] == 2
    assert len(fake_llm.chat_requests) == 3
    assert result.cost is None and not result.ok


def test_persistent_500_is_server_error(gateway, target, fake_llm):  # noqa: F811
    fake_llm.fail_next(500, count=10)
    result = gateway.complete(target, HELLO)
    assert result.error_code == "server_error"
    assert len(fake_llm.chat_requests) == 3


def test_401_is_auth_without_retry(gateway, target, fake_llm):  # noqa: F811
    fake_llm.fail_next(401, count=5)
    result = gateway.complete(target, HELLO)
    assert result.error_code == "auth" and result.error_key == "llm.auth"
    assert len(fake_llm.chat_requests) == 1


def test_404_is_unknown_model_without_retry(gateway, target, fake_llm):  # noqa: F811
    fake_llm.fail_next(404, count=5)
    result = gateway.complete(target, HELLO)
    assert result.error_code == "unknown_model"
    assert "fake-model" in result.error_params["detail"]
    assert len(fake_llm.chat_requests) == 1


def test_400_is_bad_request_without_retry(gateway, target, fake_llm):  # noqa: F811
    fake_llm.fail_next(400, count=5)
    assert gateway.complete(target, HELLO).error_code == "bad_request"
    assert len(fake_llm.chat_requests) == 1


def test_refused_connection_is_unreachable():
    base = f"http://127.0.0.1:{closed_port()}/v1"
    gateway = Gateway(None, max_retries=3, timeout=5, backoff_base=0.01)
    result = gateway.complete(ModelTarget("openai/fake-model", "down", api_base=base, api_key=API_KEY), HELLO)
    assert result.error_code == "unreachable" and result.error_key == "llm.unreachable"
    assert result.error_params["endpoint"] == base
    assert base in t(result.error_key, "en", **result.error_params)


def test_unreachable_is_retried_at_most_once():
    from promptmgr.llm.remote import LitellmBackend

    base = f"http://127.0.0.1:{closed_port()}/v1"
    calls = []

    class Counting(LitellmBackend):
        async def complete(self, *args, **kwargs):
            calls.append(1)
            return await super().complete(*args, **kwargs)

    gateway = Gateway(None, max_retries=5, timeout=5, backoff_base=0.01)
    with use_backend(Counting(), default=True):
        result = gateway.complete(ModelTarget("openai/fake-model", "down", api_base=base, api_key=API_KEY), HELLO)
    assert result.error_code == "unreachable"
    assert len(calls) == 2


def test_delay_longer_than_timeout_is_timeout(tmp_path, target, fake_llm):  # noqa: F811
    fake_llm.delay = 2.0
    gateway = Gateway(None, max_retries=1, timeout=0.3, backoff_base=0.01)
    result = gateway.complete(target, HELLO)
    assert result.error_code == "timeout" and result.error_key == "llm.timeout"
    assert len(fake_llm.chat_requests) == 2  # timeouts are retried


def test_context_window_exceeded_is_context_length(gateway, target, fake_llm):  # noqa: F811
    fake_llm.fail_next(400, message="This model's maximum context length is 8192 tokens. However, your messages "
                                    "resulted in 9000 tokens. Please reduce the length of the messages.")
    result = gateway.complete(target, HELLO)
    assert result.error_code == "context_length" and result.error_key == "llm.context_length"
    assert len(fake_llm.chat_requests) == 1


def test_usage_is_counted_when_the_server_sends_none(gateway, target, fake_llm):  # noqa: F811
    import time

    from promptmgr.llm.tokens import count_messages, count_text

    fake_llm.usage = False
    for result in (gateway.complete(target, HELLO), list(gateway.stream(target, HELLO))[-1]):
        assert_ok(result)  # litellm may estimate usage itself; either way the counts are there
        assert result.prompt_tokens > 0 and result.completion_tokens > 0
    own = gateway._finish(target, HELLO, "echo: hello there", None, None, "stop", time.perf_counter())
    assert own.prompt_tokens == count_messages(HELLO, target.model).tokens
    assert own.completion_tokens == count_text("echo: hello there", target.model).tokens


def test_provider_without_prefix_is_unknown_model(gateway):
    result = gateway.complete(ModelTarget("no-such-model-xyz", "no-such-model-xyz", api_key="k"), HELLO)
    assert result.error_code == "unknown_model"


def test_programming_errors_are_raised(gateway, target):
    with pytest.raises(TypeError):
        gateway.complete("gpt-4o", HELLO)
    with pytest.raises(TypeError):
        gateway.complete(target, "hello")


def test_custom_endpoint_without_key_never_gets_the_environment_key(gateway, fake_llm, monkeypatch):  # noqa: F811
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment-999")
    result = gateway.complete(ModelTarget("openai/fake-model", "local", api_base=fake_llm.base_url), HELLO)
    assert_ok(result)
    assert "sk-from-the-environment-999" not in fake_llm.chat_requests[0].headers.get("authorization", "")


def test_every_error_key_has_an_english_text():
    keys = {line.split(":", 1)[0] for line in LOCALE_FILE.read_text().splitlines() if line and not line[0].isspace()}
    expected = {"auth", "unknown_model", "unreachable", "unreachable_default", "context_length", "rate_limited",
                "timeout", "server_error", "bad_request", "error", "local_missing", "local_no_images",
                "secret_undecryptable"}
    assert expected <= keys
    for key in expected:
        text = t(f"llm.{key}", "en", model="m", detail="d", endpoint="e", timeout="1", retries=2, status="500",
                 kind="audio")
        assert text != f"llm.{key}" and "%{" not in text


# -- cache ----------------------------------------------------------------------------------------
def test_temperature_zero_is_cached(gateway, target, fake_llm):  # noqa: F811
    first = gateway.complete(target, HELLO, {"temperature": 0})
    second = gateway.complete(target, HELLO, {"temperature": 0.0})
    assert_ok(first) and assert_ok(second)
    assert (first.cached, second.cached) == (False, True)
    assert second.cost == 0.0 and second.text == first.text
    assert (second.prompt_tokens, second.completion_tokens) == (first.prompt_tokens, first.completion_tokens)
    assert len(fake_llm.chat_requests) == 1


def test_cache_hit_also_serves_streams(gateway, target, fake_llm):  # noqa: F811
    gateway.complete(target, HELLO, {"temperature": 0})
    items = list(gateway.stream(target, HELLO, {"temperature": 0}))
    assert items[-1].cached and "".join(items[:-1]) == items[-1].text
    assert len(fake_llm.chat_requests) == 1


def test_nonzero_temperature_is_not_cached(gateway, target, fake_llm):  # noqa: F811
    gateway.complete(target, HELLO, {"temperature": 0.7})
    assert not gateway.complete(target, HELLO, {"temperature": 0.7}).cached
    assert len(fake_llm.chat_requests) == 2


def test_use_cache_false_disables_and_true_forces(gateway, target, fake_llm):  # noqa: F811
    gateway.complete(target, HELLO, {"temperature": 0}, use_cache=False)
    assert not gateway.complete(target, HELLO, {"temperature": 0}, use_cache=False).cached
    gateway.complete(target, HELLO, {"temperature": 0.9}, use_cache=True)
    assert gateway.complete(target, HELLO, {"temperature": 0.9}, use_cache=True).cached
    assert len(fake_llm.chat_requests) == 3


def test_cache_disabled_globally(tmp_path, target, fake_llm):  # noqa: F811
    gateway = Gateway(tmp_path / "cache", cache_enabled=False, backoff_base=0.01)
    gateway.complete(target, HELLO, {"temperature": 0}, use_cache=True)
    assert not gateway.complete(target, HELLO, {"temperature": 0}, use_cache=True).cached
    assert len(fake_llm.chat_requests) == 2


def test_failures_are_not_cached(gateway, target, fake_llm):  # noqa: F811
    fake_llm.fail_next(401)
    assert gateway.complete(target, HELLO, {"temperature": 0}).error_code == "auth"
    result = gateway.complete(target, HELLO, {"temperature": 0})
    assert result.ok and not result.cached


def test_cache_stores_json_without_the_api_key(gateway, target, fake_llm):  # noqa: F811
    gateway.complete(target, HELLO, {"temperature": 0})
    store = gateway.cache._open()
    values = [store[k] for k in store]
    assert len(values) == 1 and values[0]["text"] == "echo: hello there"
    assert API_KEY not in json.dumps(values) and API_KEY not in json.dumps(list(store))
    for path in Path(gateway.cache.directory).rglob("*"):
        if path.is_file():
            assert API_KEY.encode() not in path.read_bytes()


def test_wants_cache_rules():
    assert wants_cache({"temperature": 0}, None, True)
    assert not wants_cache({}, None, True)
    assert not wants_cache({"temperature": False}, None, True)
    assert not wants_cache({"temperature": 0}, None, False)
    assert not wants_cache({"temperature": 0}, False, True)
    assert wants_cache({"temperature": 1}, True, True)


_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=8))
_params = st.dictionaries(st.sampled_from(["temperature", "max_tokens", "top_p", "seed", "stop", "response_format"]),
                          st.one_of(st.integers(0, 100), st.text(min_size=1, max_size=5),
                                    st.dictionaries(st.text(min_size=1, max_size=4), _json_leaf, max_size=3)),
                          max_size=5)
_message = st.fixed_dictionaries({"role": st.sampled_from(["system", "user", "assistant"]),
                                  "content": st.text(max_size=30)},
                                 optional={"name": st.text(min_size=1, max_size=5)})
_messages = st.lists(_message, min_size=1, max_size=4)
_api_keys = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=8, max_size=40).map(lambda s: "sk-" + s)


def _reorder(value):
    if isinstance(value, dict):
        return {k: _reorder(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reorder(v) for v in value]
    return value


def _target(model="openai/m", api_key=None):
    return ModelTarget(model, model, api_base="http://127.0.0.1:1/v1", api_key=api_key)


@given(messages=_messages, params=_params)
@settings(max_examples=150, deadline=None)
def test_cache_key_ignores_dict_order(messages, params):
    assert cache_key(_target(), messages, params) == cache_key(_target(), _reorder(messages), _reorder(params))


@given(m1=_messages, m2=_messages, params=_params)
@settings(max_examples=150, deadline=None)
def test_cache_key_differs_when_messages_differ(m1, m2, params):
    if m1 != m2:
        assert cache_key(_target(), m1, params) != cache_key(_target(), m2, params)


@given(messages=_messages, p1=_params, p2=_params)
@settings(max_examples=150, deadline=None)
def test_cache_key_differs_when_params_differ(messages, p1, p2):
    strip = lambda p: {k: v for k, v in p.items() if v is not None}  # noqa: E731
    if strip(p1) != strip(p2):
        assert cache_key(_target(), messages, p1) != cache_key(_target(), messages, p2)


@given(messages=_messages, params=_params, a=st.text(min_size=1, max_size=12), b=st.text(min_size=1, max_size=12))
@settings(max_examples=100, deadline=None)
def test_cache_key_differs_when_model_differs(messages, params, a, b):
    if a != b:
        assert cache_key(_target(a), messages, params) != cache_key(_target(b), messages, params)


@given(messages=_messages, params=_params, key1=_api_keys, key2=_api_keys)
@settings(max_examples=100, deadline=None)
def test_cache_key_never_contains_the_api_key_but_depends_on_it(messages, params, key1, key2):
    k1 = cache_key(_target(api_key=key1), messages, {**params, "api_key": key1})
    assert key1 not in k1 and len(k1) == 64
    assert k1 == cache_key(_target(api_key=key1), messages, params)  # a key in params is not content
    if key1 != key2:  # another credential never shares an answer (issue 8 §3)
        assert k1 != cache_key(_target(api_key=key2), messages, params)


# -- prices and models ---------------------------------------------------------------------------
def test_cost_from_the_local_price_map(gateway):
    entry = litellm_module().model_cost["gpt-4o-mini"]
    expected = 1000 * entry["input_cost_per_token"] + 500 * entry["output_cost_per_token"]
    assert gateway.estimate_cost(ModelTarget("gpt-4o-mini", "gpt-4o-mini"), 1000, 500) == pytest.approx(expected)
    assert gateway.estimate_cost(ModelTarget("openai/gpt-4o-mini", "x"), 1000, 500) == pytest.approx(expected)


def test_cost_overrides_win_and_unknown_is_none(gateway):
    assert gateway.estimate_cost(ModelTarget("gpt-4o-mini", "x", input_cost_per_token=1.0,
                                             output_cost_per_token=2.0), 3, 4) == pytest.approx(11.0)
    assert gateway.estimate_cost(ModelTarget("openai/fake-model", "x"), 10, 10) is None
    assert gateway.estimate_cost(ModelTarget("openai/fake-model", "x", input_cost_per_token=1.0), 3, 4) == 3.0
    assert gateway.estimate_cost(ModelTarget("local/smollm2", "local"), 100, 100) == 0.0


def test_unknown_model_without_price_has_no_cost(gateway, fake_llm):  # noqa: F811
    result = gateway.complete(ModelTarget("openai/fake-model", "f", api_base=fake_llm.base_url, api_key="k"), HELLO)
    assert result.ok and result.cost is None


def test_model_info_and_known_models(gateway):
    info = gateway.model_info(ModelTarget("openai/gpt-4o-mini", "my gpt"))
    assert info.name == "my gpt" and info.known and info.provider == "openai"
    assert info.context_window and info.input_cost_per_token
    custom = gateway.model_info(ModelTarget("openai/llama3", "ollama/llama3", context_window=8192,
                                            input_cost_per_token=0.0))
    assert (custom.known, custom.context_window, custom.input_cost_per_token) == (False, 8192, 0.0)
    names = {m.name for m in gateway.known_models()}
    assert "gpt-4o-mini" in names and len(names) > 100


def test_local_model_missing_is_a_clear_error(gateway):
    target = ModelTarget("local/smollm2", "local/smollm2")
    with local_engine(MissingEngine()):
        results = (gateway.complete(target, HELLO), list(gateway.stream(target, HELLO))[-1])
        known = {m.name for m in gateway.known_models()}
    for result in results:
        assert result.error_code == "local_missing" and result.error_key == "llm.local_missing"
        text = t(result.error_key, "en", **result.error_params)
        assert 'pip install "promptmgr[local]"' in text and "promptmgr providers add" in text
    assert "local/smollm2" not in known


# -- no network, no leaked keys -----------------------------------------------------------------------
def test_calls_stay_on_loopback(gateway, target, fake_llm, block_external_network):  # noqa: F811
    assert_ok(gateway.complete(target, HELLO))
    assert list(gateway.stream(target, HELLO))[-1].ok
    assert run_async(gateway.acomplete(target, HELLO)).ok
    gateway.known_models()
    assert block_external_network == []


def test_api_key_never_leaks(gateway, target, fake_llm, caplog):  # noqa: F811
    caplog.set_level(logging.DEBUG)
    litellm_module()
    for name in ("LiteLLM", "openai", "httpx", "httpcore"):  # third-party debug dumps too
        caplog.set_level(logging.DEBUG, logger=name)
    fake_llm.fail_next(401)
    failed = gateway.complete(target, HELLO)
    fake_llm.fail_next(500)
    ok = gateway.complete(target, HELLO, {"temperature": 0})
    streamed = list(gateway.stream(target, HELLO))
    assert failed.error_code == "auth" and ok.ok and streamed[-1].ok
    assert API_KEY not in repr(target) and API_KEY not in str(target)
    for result in (failed, ok, streamed[-1]):
        assert API_KEY not in json.dumps(result.to_dict()) and API_KEY not in repr(result)
    assert API_KEY not in caplog.text
    assert any(r.name.startswith("LiteLLM") for r in caplog.records)  # litellm's own records were seen
    for record in caplog.records:
        assert API_KEY not in record.getMessage()
        assert not record.exc_info or API_KEY not in str(record.exc_info[1])


def test_exception_text_is_scrubbed():
    class AuthenticationError(Exception):
        status_code = 401

    exc = AuthenticationError(f"litellm.AuthenticationError: bad key {API_KEY} for you")
    failure = llm_errors.classify(exc, model="m", api_base=None, secret=API_KEY, timeout=1)
    assert failure.code == "auth"
    assert API_KEY not in failure.params["detail"] and "bad key" in failure.params["detail"]
    assert API_KEY[3:-4] not in llm_errors.scrub(f"key sk-{API_KEY[3:-4]}xx", API_KEY)
