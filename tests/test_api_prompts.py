"""/api/v1 prompts over HTTP: the routes act through the library service (same results as the
service), the hot path's ETag and 304, the one error shape in the caller's language with no trace,
the session cookie with its CSRF header, health and readiness (SQLite and PostgreSQL)."""
from __future__ import annotations

import pytest

from tests.api_helpers import API, BASE, bearer, make_token

pytest_plugins = ("tests.api_helpers",)  # the app, client and team fixtures


@pytest.fixture
def token(team):
    return make_token(team, "editor")


def test_crud_history_diff_restore_labels_and_render(client, team, token):
    h = bearer(token)
    made = client.post(f"{API}/prompts", json={"name": "greet", "content": "Hi {{ name }}", "category": "demo",
                                                "tags": ["a"]}, headers=h)
    assert made.status_code == 201 and made.json()["version"] == 1 and made.json()["variables"][0]["name"] == "name"
    edited = client.patch(f"{API}/prompts/greet", json={"content": "Hello {{ name }}!", "base_version": 1}, headers=h)
    assert edited.status_code == 200 and edited.json()["version"] == 2
    stale = client.patch(f"{API}/prompts/greet", json={"content": "Hey {{ name }}", "base_version": 1}, headers=h)
    assert stale.status_code == 409 and stale.json()["error"]["details"] == {"name": "greet", "current": 2,
                                                                              "expected": 1}
    assert team.services.library.get(team.ctx("alpha"), "greet").content == "Hello {{ name }}!"
    assert [v["number"] for v in client.get(f"{API}/prompts/greet/versions", headers=h).json()] == [1, 2]
    diff = client.get(f"{API}/prompts/greet/diff?old=1&new=2", headers=h).json()["diff"]
    assert "-Hi {{ name }}" in diff and "+Hello {{ name }}!" in diff
    assert client.put(f"{API}/prompts/greet/labels/staging", json={"version": 1}, headers=h).json() == {"staging": 1}
    assert client.get(f"{API}/prompts/greet?label=staging", headers=h).json()["content"] == "Hi {{ name }}"
    assert client.get(f"{API}/prompts/greet?version=2", headers=h).json()["version"] == 2
    assert client.get(f"{API}/prompts/greet/labels", headers=h).json() == {"staging": 1}
    rendered = client.post(f"{API}/prompts/greet/render", json={"variables": {"name": "Ada"}, "label": "staging"},
                           headers=h)
    assert rendered.json()["content"] == "Hi Ada"
    restored = client.post(f"{API}/prompts/greet/restore", json={"version": 1}, headers=h)
    assert restored.json()["version"] == 3 and restored.json()["content"] == "Hi {{ name }}"
    assert client.delete(f"{API}/prompts/greet/labels/staging", headers=h).json() == {}
    assert client.get(f"{API}/categories", headers=h).json() == [{"name": "demo", "count": 1}]
    assert client.get(f"{API}/tags", headers=h).json() == [{"name": "a", "count": 1}]
    assert client.delete(f"{API}/prompts/greet", headers=h).status_code == 204
    assert client.get(f"{API}/prompts/greet", headers=h).status_code == 404


def test_list_filters_searches_and_pages(client, token):
    h = bearer(token)
    for i in range(5):
        client.post(f"{API}/prompts", json={"name": f"p{i}", "content": f"text {i} {'apple' if i % 2 else 'pear'}",
                                             "category": "odd" if i % 2 else "even"}, headers=h)
    page = client.get(f"{API}/prompts?sort=name&limit=2&offset=2", headers=h).json()
    assert page["total"] == 5 and [p["name"] for p in page["items"]] == ["p2", "p3"]
    assert {p["name"] for p in client.get(f"{API}/prompts?category=odd", headers=h).json()["items"]} == {"p1", "p3"}
    assert {p["name"] for p in client.get(f"{API}/prompts?q=apple", headers=h).json()["items"]} == {"p1", "p3"}


def test_the_hot_path_has_an_etag_and_if_none_match_gives_304(client, team, token):
    h = bearer(token)
    client.post(f"{API}/prompts", json={"name": "greet", "content": "Hi {{ name }}"}, headers=h)
    team.services.library.set_label(team.ctx("alpha"), "greet", "production")
    first = client.get(f"{API}/prompts/greet?label=production", headers=h)
    body = first.json()
    assert (body["content"], body["version"], [v["name"] for v in body["variables"]]) == ("Hi {{ name }}", 1, ["name"])
    etag = first.headers["etag"]
    assert etag.startswith('"') and "no-cache" in first.headers["cache-control"]
    again = client.get(f"{API}/prompts/greet?label=production", headers=bearer(token, **{"if-none-match": etag}))
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    client.patch(f"{API}/prompts/greet", json={"content": "Bye {{ name }}"}, headers=h)
    team.services.library.set_label(team.ctx("alpha"), "greet", "production", 2)
    moved = client.get(f"{API}/prompts/greet?label=production", headers=bearer(token, **{"if-none-match": etag}))
    assert moved.status_code == 200 and moved.json()["content"] == "Bye {{ name }}" and moved.headers["etag"] != etag
    # A 304 still needs a valid token: the ETag is no key.
    assert client.get(f"{API}/prompts/greet?label=production",
                      headers=bearer("pm_wrong", **{"if-none-match": moved.headers["etag"]})).status_code == 401


@pytest.mark.parametrize("lang,word", [("de", "nicht gefunden"), ("ja", "見つかりません"), ("en", "not found")])
def test_errors_have_one_shape_in_the_callers_language(client, token, lang, word):
    response = client.get(f"{API}/prompts/nope", headers=bearer(token, **{"accept-language": f"{lang};q=0.9"}))
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found" and word in error["message"] and error["details"]["name"] == "nope"


def test_bad_requests_map_to_400_422_and_404(client, token):
    h = bearer(token)
    bad_json = client.post(f"{API}/prompts", content=b"{oops", headers={**h, "content-type": "application/json"})
    assert bad_json.status_code == 400 and bad_json.json()["error"]["code"] == "bad_request"
    shape = client.post(f"{API}/prompts", json={"content": "no name"}, headers=h)
    assert shape.status_code == 422 and shape.json()["error"]["details"]["fields"][0]["loc"] == ["body", "name"]
    template = client.post(f"{API}/prompts", json={"name": "x", "content": "{% if %}"}, headers=h)
    assert template.status_code == 422 and template.json()["error"]["code"] == "template"
    route = client.get(f"{API}/nowhere", headers=h)
    assert route.status_code == 404 and route.json()["error"]["code"] == "not_found"
    duplicate = [client.post(f"{API}/prompts", json={"name": "d", "content": "x"}, headers=h) for _ in range(2)][1]
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "duplicate"


def test_an_unexpected_failure_is_a_500_without_a_trace(app, team, token, monkeypatch):
    from fastapi.testclient import TestClient

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals /etc/passwd")

    monkeypatch.setattr(team.services.library, "get", broken)
    with TestClient(app, base_url=BASE, raise_server_exceptions=False) as quiet:
        response = quiet.get(f"{API}/prompts/greet", headers=bearer(token, **{"accept-language": "fr"}))
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "internal" and "serveur" in error["message"]
    assert "RuntimeError" not in response.text and "passwd" not in response.text and "Traceback" not in response.text


def test_the_session_cookie_works_with_its_csrf_header(client, team):
    from tests.test_web_login import login

    assert login(client, team.users["editor"]).status_code == 303
    assert client.get(f"{API}/prompts").status_code == 200
    refused = client.post(f"{API}/prompts", json={"name": "c", "content": "x"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    made = client.post(f"{API}/prompts", json={"name": "c", "content": "x"},
                       headers={"x-csrf-token": client.cookies.get("pm_csrf")})
    assert made.status_code == 201
    assert team.services.audit.list(team.ctx("alpha")).items[0].token_id is None


def test_health_ready_and_the_openapi_document(client, team, monkeypatch):
    assert client.get(f"{API}/health").json() == {"status": "ok"}
    ready = client.get(f"{API}/ready")
    assert ready.status_code == 200 and ready.json()["migrations"] is True
    schema = client.get(f"{API}/openapi.json").json()
    assert "/prompts/{name}" in schema["paths"] and "patch" in schema["paths"]["/prompts/{name}"]
    assert schema["servers"] == [{"url": API}]  # "try it out" in the docs reaches the mounted API
    assert client.get(f"{API}/docs").status_code == 200
    monkeypatch.setattr(team.services.db, "current_revision", lambda: "0001")
    behind = client.get(f"{API}/ready")
    assert behind.status_code == 503 and behind.json()["migrations"] is False
