"""promptmgr.client over real HTTP (tests/live_server.py): the in-process cache (a hit makes no
request, past the TTL the stale copy is returned and revalidated with If-None-Match, a 304 makes it
fresh again), the fallback when the server is down or failing, typed API errors that no fallback
hides, and local rendering that agrees with the server's."""
from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
from hypothesis import given, settings, strategies as st

from tests.api_helpers import make_token
from tests.conftest import ROOT
from tests.live_server import LiveServer

pytest_plugins = ("tests.api_helpers",)
SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # caching is the client's own


class Clock:
    """The client's clock, moved by the test: TTL expiry without waiting."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def writer(team):
    """An admin of alpha (the console operator's context cannot own prompts: it is no user)."""
    return team.services.api_tokens.authenticate(make_token(team, "admin"), "en")


@pytest.fixture
def server(team):
    from promptmgr.schemas import PromptCreate

    ctx = writer(team)
    library = team.services.library
    library.create(ctx, PromptCreate(name="greet", content="Hello {{ name }}!"))
    library.set_label(ctx, "greet", "production", 1)
    live = LiveServer(team.services)
    yield live
    live.stop()


@pytest.fixture
def token(team):
    return make_token(team, "editor")


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def client(server, token, clock):
    from promptmgr.client import Client

    with Client(server.url, token, clock=clock) as made:
        yield made


def gets(server, name="greet"):
    return server.recorder.requests(f"/api/v1/prompts/{name}")


def edit(team, name, content):
    from promptmgr.schemas import PromptUpdate

    library, ctx = team.services.library, writer(team)
    version = library.update(ctx, name, PromptUpdate(content=content, base_version=library.get(ctx, name).version))
    return version.version


# --- the cache ---------------------------------------------------------------------------
@SQLITE
def test_a_second_get_within_the_ttl_makes_no_request(client, server, clock):
    first = client.get_prompt("greet", label="production")
    assert (first.source, first.version, first.content) == ("server", 1, "Hello {{ name }}!")
    assert [v["name"] for v in first.variables] == ["name"]
    clock.now += 59
    second = client.get_prompt("greet", label="production")
    assert (second.source, second.content) == ("cache", first.content)
    assert len(gets(server)) == 1
    # Another label or version is another entry.
    client.get_prompt("greet", version=1)
    assert len(gets(server)) == 2


@SQLITE
def test_past_the_ttl_the_stale_copy_is_returned_and_revalidated_with_a_304(client, server, clock):
    first = client.get_prompt("greet", label="production")
    etag = gets(server)[0]
    clock.now += 61
    stale = client.get_prompt("greet", label="production")
    assert (stale.source, stale.content) == ("stale", first.content)
    client.wait(30)
    revalidation = gets(server)[1]
    assert revalidation["if_none_match"] and revalidation["status"] == 304
    assert etag["status"] == 200 and etag["if_none_match"] is None
    # The 304 made the copy fresh again: no request for another TTL.
    clock.now += 30
    assert client.get_prompt("greet", label="production").source == "cache"
    assert len(gets(server)) == 2


@SQLITE
def test_a_changed_prompt_replaces_the_stale_copy_after_revalidation(client, server, clock, team):
    assert client.get_prompt("greet", label="production").version == 1
    team.services.library.set_label(team.ctx("alpha"), "greet", "production", edit(team, "greet", "Hi {{ name }}"))
    clock.now += 61
    assert client.get_prompt("greet", label="production").version == 1  # stale, at once
    client.wait(30)
    assert gets(server)[1]["status"] == 200
    fresh = client.get_prompt("greet", label="production")
    assert (fresh.source, fresh.version, fresh.content) == ("cache", 2, "Hi {{ name }}")


@SQLITE
def test_many_threads_share_one_copy_and_one_revalidation(client, server, clock):
    client.get_prompt("greet", label="production")
    clock.now += 61
    results, barrier = [], threading.Barrier(8)

    def worker():
        barrier.wait()
        results.extend(client.get_prompt("greet", label="production").content for _ in range(50))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    client.wait(30)
    assert results == ["Hello {{ name }}!"] * 400
    assert [r["status"] for r in gets(server)] == [200, 304]


@SQLITE
def test_the_cache_is_bounded(server, token, team):
    from promptmgr.client import Client
    from promptmgr.schemas import PromptCreate

    for name in ("a1", "a2"):
        team.services.library.create(writer(team), PromptCreate(name=name, content=name))
    with Client(server.url, token, max_entries=2) as client:
        for name in ("greet", "a1", "a2"):
            client.get_prompt(name)
        assert len(client.cache) == 2
        client.get_prompt("a2")  # still cached
        client.get_prompt("greet")  # the least recently used: evicted, fetched again
    assert [len(gets(server, n)) for n in ("greet", "a1", "a2")] == [2, 1, 1]


# --- errors and the fallback ---------------------------------------------------------------
@SQLITE
def test_api_errors_are_typed_carry_the_apis_code_and_message_and_beat_the_fallback(server, token, team):
    from promptmgr import errors as core
    from promptmgr.client import AuthenticationError, Client, NotFoundError, PermissionDeniedError
    from promptmgr.i18n import t

    with Client(server.url, token, fallback="never used", locale="de") as client:
        with pytest.raises(NotFoundError) as missing:
            client.get_prompt("nope", label="production")
        assert missing.value.status == 404 and missing.value.code == "not_found"
        assert isinstance(missing.value, core.NotFoundError)
        assert missing.value.message == core.NotFoundError(what="prompt", name="nope").translate("de")
        with pytest.raises(NotFoundError):
            client.get_prompt("greet", label="staging")
    with Client(server.url, "pm_wrong", fallback={"greet": "never used"}) as client:
        with pytest.raises(AuthenticationError) as refused:
            client.get_prompt("greet")
        assert refused.value.code == "unauthenticated" and refused.value.message == t("api.tokens.invalid", "en")
    viewer = make_token(team, "viewer")
    with Client(server.url, viewer) as client:
        with pytest.raises(PermissionDeniedError) as forbidden:
            client.api.json("PUT", "/prompts/greet/labels/staging", json={"version": 1})
        assert forbidden.value.status == 403 and forbidden.value.code == "forbidden"


@SQLITE
def test_a_revoked_token_or_deleted_prompt_drops_the_cached_copy(client, server, clock, team, token):
    from promptmgr.client import NotFoundError

    client.get_prompt("greet", label="production")
    team.services.library.delete(team.ctx("alpha"), "greet")
    clock.now += 61
    assert client.get_prompt("greet", label="production").source == "stale"
    client.wait(30)
    with pytest.raises(NotFoundError):
        client.get_prompt("greet", label="production")


@SQLITE
def test_when_the_server_is_down_the_cache_then_the_fallback_answer(client, server, clock, token):
    from promptmgr.client import Client, ServerUnavailableError

    attempts = []
    client.api._http.event_hooks["request"].append(attempts.append)
    cached = client.get_prompt("greet", label="production")
    server.stop()
    clock.now += 3600
    assert client.get_prompt("greet", label="production").content == cached.content  # stale, served
    client.wait(30)
    assert client.get_prompt("greet", label="production").source == "stale"  # kept: revalidation failed
    client.wait(30)
    assert len(attempts) == 2  # the second get came within the retry delay: no new attempt
    clock.now += 5
    client.get_prompt("greet", label="production")
    client.wait(30)
    assert len(attempts) == 3
    with Client(server.url, token, timeout=5, fallback={"greet": "Hi {{ name }}, offline"}) as cold:
        fallback = cold.get_prompt("greet", label="production")
        assert (fallback.source, fallback.version) == ("fallback", None)
        assert fallback.render(name="Ada") == "Hi Ada, offline"
        with pytest.raises(ServerUnavailableError) as down:  # not in the mapping
            cold.get_prompt("other")
        assert server.url in down.value.translate("en")
        assert cold.get_prompt("other", fallback="per call").content == "per call"
    with Client(server.url, token) as bare, pytest.raises(ServerUnavailableError):
        bare.get_prompt("greet")


@SQLITE
def test_a_failing_server_5xx_is_answered_like_a_down_one(server, token):
    from promptmgr.client import Client, ServerUnavailableError

    server.recorder.fail_with = 503
    with Client(server.url, token, fallback="fallback text") as client:
        assert client.get_prompt("greet").content == "fallback text"
    with Client(server.url, token) as client, pytest.raises(ServerUnavailableError) as failed:
        client.get_prompt("greet")
    assert failed.value.status == 503 and "503" in failed.value.translate("en")


# --- rendering ---------------------------------------------------------------------------
TEMPLATES = {
    "t-text": ("Dear {{ name }},\n{% for item in items %}- {{ item|upper }}\n{% endfor %}Total: {{ count * 2 }}",
               [{"name": "name", "type": "string"}, {"name": "items", "type": "list"},
                {"name": "count", "type": "integer", "default": 1}]),
    "t-plain": ("{{ a }} and {{ b|default('none') }} {{ a|length }}", None),
}
values = st.dictionaries(st.sampled_from(["name", "items", "count", "a", "b", "extra"]),
                         st.one_of(st.text(max_size=20), st.integers(-1000, 1000), st.lists(st.text(max_size=5), max_size=4)),
                         max_size=5)


def outcome(call):
    """What a render gave: the text, or the error's code and message (local and remote alike)."""
    try:
        return ("ok", call())
    except Exception as exc:  # noqa: BLE001 — the outcome itself is what is compared
        from promptmgr.errors import PromptMgrError

        assert isinstance(exc, PromptMgrError), repr(exc)
        return ("error", exc.code, exc.translate("en"))


@SQLITE
def test_local_render_equals_the_servers_render(server, token, team):
    from promptmgr.client import Client
    from promptmgr.schemas import PromptCreate

    ctx = writer(team)
    for name, (content, variables) in TEMPLATES.items():
        team.services.library.create(ctx, PromptCreate(name=name, content=content, variables=variables))
    team.services.library.create(ctx, PromptCreate(name="t-chat", kind="chat", messages=[
        {"role": "system", "content": [{"type": "text", "text": "You help {{ name }}."}]},
        {"role": "user", "content": [{"type": "text", "text": "{{ a }}"}]}]))
    with Client(server.url, token) as client:
        prompts = {name: client.get_prompt(name) for name in (*TEMPLATES, "t-chat")}

        @given(name=st.sampled_from(sorted(prompts)), variables=values)
        @settings(max_examples=40)
        def check(name, variables):
            local = outcome(lambda: prompts[name].render(**variables))
            remote = outcome(lambda: client.render_on_server(name, variables).content)
            assert local == remote
            if name == "t-chat" and local[0] == "ok":
                assert prompts[name].render_messages(**variables) == client.render_on_server(name, variables).messages

        check()


def test_the_client_imports_no_ui_model_or_database_layer(server, token):
    code = (
        "import sys\n"
        "from promptmgr.client import Client\n"
        f"with Client({server.url!r}, {token!r}) as c:\n"
        "    print(c.get_prompt('greet', label='production').render(name='Ada'))\n"
        "print(sorted(m for m in ('gradio', 'litellm', 'sqlmodel', 'sqlalchemy', 'fastapi') if m in sys.modules))\n"
        "import os; print(os.environ.get('HF_HUB_OFFLINE'), os.environ.get('GRADIO_ANALYTICS_ENABLED'))\n"
    )
    # The host application's environment is its own: the offline switches are the entry points'.
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "GRADIO_ANALYTICS_ENABLED")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["Hello Ada!", "[]", "None None"]
