"""Hosted mode's operations surface: request ids, JSON logs that carry them (also from the model
layer's thread), Prometheus metrics at /metrics (loopback or an admin token) and CORS for the
REST API with explicit origins only."""
from __future__ import annotations

import io
import json
import logging

import pytest

from tests.api_helpers import API, BASE, bearer, make_token

pytest_plugins = ("tests.api_helpers",)
MODEL = "fake/fake-model"


def _client(app, address: str = "203.0.113.9"):
    from fastapi.testclient import TestClient

    return TestClient(app, base_url=BASE, follow_redirects=False, client=(address, 50000))


@pytest.fixture
def log_lines():
    """Everything the server logs during the test, as parsed JSON lines."""
    from promptmgr.web.requests_log import configure_logging

    stream = io.StringIO()
    handler = configure_logging("json", "INFO", stream=stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    logging.getLogger().removeHandler(handler)


def _sample(text: str, name: str, **labels) -> float:
    """A sample's value in Prometheus text (0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def test_every_response_has_a_request_id_and_a_safe_one_is_kept(app):
    with _client(app) as client:
        fresh = client.get(f"{API}/health")
        kept = client.get(f"{API}/health", headers={"x-request-id": "proxy-42.abc"})
        hostile = client.get(f"{API}/health", headers={"x-request-id": "a\" b" + "x" * 300})
        refused = client.get("/", headers={"host": "evil.example"})  # the Host check answers too
    assert len(fresh.headers["x-request-id"]) == 32
    assert kept.headers["x-request-id"] == "proxy-42.abc"
    assert hostile.headers["x-request-id"] != "a\" b" + "x" * 300 and len(hostile.headers["x-request-id"]) == 32
    assert refused.status_code == 400 and refused.headers["x-request-id"]


def test_log_lines_are_json_with_the_request_id_even_from_the_model_thread(app, team, fake_llm, log_lines):
    from promptmgr.context import TenantContext

    ctx = team.ctx("alpha")
    admin = TenantContext(ctx.tenant_id, next(m["user_id"] for m in team.services.accounts.members(ctx)
                                              if m["role"] == "admin"), "admin")
    team.services.providers.add(admin, "fake", fake_llm.base_url, api_key="sk-test-key-0123456789abcdef")
    editor = make_token(team, "editor")
    with _client(app) as client:
        client.post(f"{API}/prompts", json={"name": "greet", "content": "Hi"}, headers=bearer(editor))
        fake_llm.fail_next(400)  # a failed model call is logged by the gateway on the model loop's thread
        ran = client.post(f"{API}/runs", json={"prompt": "greet", "model": MODEL},
                          headers=bearer(editor, **{"x-request-id": "trace-run-1"}))
    assert ran.status_code == 201 and ran.json()["error_code"]
    lines = log_lines()
    mine = [line for line in lines if line.get("request_id") == "trace-run-1"]
    access = [line for line in mine if line["logger"] == "promptmgr.access"]
    assert access and access[0]["path"] == f"{API}/runs" and access[0]["status"] == 201
    assert access[0]["method"] == "POST" and access[0]["duration_ms"] >= 0
    assert any(line["logger"] == "promptmgr.llm.gateway" for line in mine), "the model call's line lost the id"
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert "sk-test-key" not in json.dumps(lines)


def test_metrics_count_requests_by_route_and_model_calls(app, team, fake_llm):
    from promptmgr.context import TenantContext

    ctx = team.ctx("alpha")
    admin = TenantContext(ctx.tenant_id, next(m["user_id"] for m in team.services.accounts.members(ctx)
                                              if m["role"] == "admin"), "admin")
    team.services.providers.add(admin, "fake", fake_llm.base_url, api_key="sk-test-key-0123456789abcdef")
    editor = make_token(team, "editor")
    route = f"{API}/prompts/{{name}}"
    with _client(app, "127.0.0.1") as local:
        before = local.get("/metrics").text
        local.post(f"{API}/prompts", json={"name": "greet", "content": "Hi"}, headers=bearer(editor))
        for _ in range(3):
            assert local.get(f"{API}/prompts/greet", headers=bearer(editor)).status_code == 200
        fake_llm.script(["Hello there"])
        local.post(f"{API}/runs", json={"prompt": "greet", "model": MODEL}, headers=bearer(editor))
        after = local.get("/metrics")
    assert after.status_code == 200 and after.headers["content-type"].startswith("text/plain")
    grew = (_sample(after.text, "promptmgr_http_requests_total", route=route, method="GET", status="200")
            - _sample(before, "promptmgr_http_requests_total", route=route, method="GET", status="200"))
    assert grew == 3
    assert "/prompts/greet" not in after.text  # route templates, never raw paths
    calls = _sample(after.text, "promptmgr_model_calls_total", model=MODEL, result="ok") - _sample(
        before, "promptmgr_model_calls_total", model=MODEL, result="ok")
    assert calls == 1
    assert _sample(after.text, "promptmgr_model_tokens_total", model=MODEL, kind="completion") > 0
    assert "promptmgr_experiment_queue_jobs" in after.text
    assert "alpha" not in after.text and "greet" not in after.text


def test_metrics_need_loopback_without_a_proxy_or_an_admin_token(app, team):
    admin, editor = make_token(team, "admin"), make_token(team, "editor")
    with _client(app) as remote, _client(app, "127.0.0.1") as local:
        assert remote.get("/metrics").status_code == 401
        refused = remote.get("/metrics", headers=bearer(editor))
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
        assert remote.get("/metrics", headers=bearer("pm_not-a-token")).status_code == 401
        assert remote.get("/metrics", headers=bearer(admin)).status_code == 200
        # Through a proxy on the same machine the connection is loopback: the header gives it away.
        assert local.get("/metrics", headers={"x-forwarded-for": "198.51.100.7"}).status_code == 401
        assert local.get("/metrics").status_code == 200


def test_cors_allows_only_the_configured_origins_and_never_credentials(team):
    from dataclasses import replace

    from promptmgr.web.app import create_app

    team.services.settings = replace(team.services.settings, cors_origins=("https://app.example.org",))
    app = create_app(team.services)
    token = make_token(team, "viewer")
    preflight = {"access-control-request-method": "GET", "access-control-request-headers": "authorization"}
    with _client(app) as client:
        ok = client.options(f"{API}/prompts", headers={"origin": "https://app.example.org", **preflight})
        bad = client.options(f"{API}/prompts", headers={"origin": "https://evil.example", **preflight})
        got = client.get(f"{API}/categories", headers=bearer(token, origin="https://app.example.org"))
        other = client.get(f"{API}/categories", headers=bearer(token, origin="https://evil.example"))
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://app.example.org"
    assert "access-control-allow-credentials" not in ok.headers
    assert bad.status_code == 400 and "access-control-allow-origin" not in bad.headers
    assert got.headers["access-control-allow-origin"] == "https://app.example.org"
    assert "x-request-id" in got.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-origin" not in other.headers


@pytest.mark.parametrize("value", ["*", "app.example.org", "https://app.example.org/path", "javascript:alert(1)"])
def test_a_wildcard_or_malformed_cors_origin_is_refused_at_start(monkeypatch, value):
    from promptmgr.config import Settings
    from promptmgr.errors import ValidationError

    monkeypatch.setenv("PROMPTMGR_CORS_ORIGINS", value)
    with pytest.raises(ValidationError) as raised:
        Settings()
    assert raised.value.params["name"] == "PROMPTMGR_CORS_ORIGINS"


def test_a_bad_log_format_is_refused(monkeypatch):
    from promptmgr.config import Settings
    from promptmgr.errors import ValidationError

    monkeypatch.setenv("PROMPTMGR_LOG_FORMAT", "xml")
    with pytest.raises(ValidationError):
        Settings()
