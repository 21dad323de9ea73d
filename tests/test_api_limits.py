"""Rate limits (per token, per workspace; in memory and in Redis) and the request body limit."""
from __future__ import annotations

import socket

import pytest

from tests.api_helpers import API, api_error, bearer, limits, make_token

pytest_plugins = ("tests.api_helpers",)  # the app, client and team fixtures

REDIS = "redis://127.0.0.1:6379/0"


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_429_arrives_at_the_configured_count(app, client, team, store):
    if store == "redis" and not _redis_up():
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    app.state.pm_api.state.pm_limits = limits("5/minute", REDIS if store == "redis" else None)
    assert app.state.pm_api.state.pm_limits.backend == store
    token, other = make_token(team), make_token(team)
    answers = [client.get(f"{API}/prompts", headers=bearer(token)) for _ in range(6)]
    assert [r.status_code for r in answers] == [200] * 5 + [429]
    assert [r.headers["ratelimit-remaining"] for r in answers[:5]] == ["4", "3", "2", "1", "0"]
    assert answers[0].headers["ratelimit-limit"] == "5"
    refused = answers[5]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.json()["error"]["code"] == "rate_limited"
    assert client.get(f"{API}/prompts", headers=bearer(other)).status_code == 200  # per token


def test_the_hot_path_checks_its_caller_like_every_route(app, client, team):
    """GET /prompts/{name} resolves its caller in the read's own thread hop (not as a dependency):
    the same authentication, rate limit and workspace scoping."""
    admin = bearer(make_token(team, "admin"))
    assert client.post(f"{API}/prompts", json={"name": "hot-path", "content": "Hi {{ who }}"}, headers=admin).is_success
    assert client.put(f"{API}/prompts/hot-path/labels/production", headers=admin).is_success
    url = f"{API}/prompts/hot-path?label=production"
    api_error(client.get(url), 401, "unauthenticated")
    api_error(client.get(url, headers=bearer("pm_" + "x" * 43)), 401, "unauthenticated")
    beta = make_token(team, workspace="beta", user=team.both)
    api_error(client.get(url, headers=bearer(beta)), 404, "not_found")
    app.state.pm_api.state.pm_limits = limits("3/minute")
    token = make_token(team)
    answers = [client.get(url, headers=bearer(token)) for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert answers[0].json()["content"] == "Hi {{ who }}" and answers[0].json()["labels"] == {"production": 1}
    assert [r.headers["ratelimit-remaining"] for r in answers[:3]] == ["2", "1", "0"]
    assert api_error(answers[3], 429, "rate_limited") and int(answers[3].headers["retry-after"]) >= 1


def test_the_workspace_has_its_own_limit(app, client, team):
    from promptmgr.web.api.limiting import RateLimits

    app.state.pm_api.state.pm_limits = RateLimits("100/minute", "3/minute", prefix="ws-test")
    tokens = [make_token(team) for _ in range(4)]
    codes = [client.get(f"{API}/prompts", headers=bearer(t)).status_code for t in tokens]
    assert codes == [200, 200, 200, 429]
    beta = make_token(team, workspace="beta", user=team.both)
    assert client.get(f"{API}/prompts", headers=bearer(beta)).status_code == 200


def test_a_bad_rate_setting_is_refused():
    from promptmgr.errors import ValidationError
    from promptmgr.web.api.limiting import RateLimits

    with pytest.raises(ValidationError):
        RateLimits("lots", "10/minute")


def test_a_body_over_the_limit_is_413(tmp_path, db_url):
    from fastapi.testclient import TestClient

    from promptmgr.bootstrap import build_services
    from promptmgr.web.app import create_app
    from tests.web_fixtures import multi_settings, populate

    services = build_services(multi_settings(tmp_path / "home", db_url, api_max_body_kb=1))
    try:
        team = populate(services)
        token = make_token(team)
        with TestClient(create_app(services), base_url="http://127.0.0.1") as client:
            big = client.post(f"{API}/prompts", json={"name": "big", "content": "x" * 2000}, headers=bearer(token))
            assert big.status_code == 413 and big.json()["error"]["code"] == "too_large"

            def chunks():  # no Content-Length: counted while it is read
                yield b'{"name": "big", "content": "'
                for _ in range(4):
                    yield b"x" * 500
                yield b'"}'

            streamed = client.post(f"{API}/prompts", content=chunks(),
                                   headers=bearer(token, **{"content-type": "application/json"}))
            assert streamed.status_code == 413 and streamed.json()["error"]["code"] == "too_large"
            ok = client.post(f"{API}/prompts", json={"name": "small", "content": "x"}, headers=bearer(token))
            assert ok.status_code == 201
        assert [p.name for p in services.library.list(team.ctx("alpha")).items] == ["small"]
    finally:
        services.db.dispose()
