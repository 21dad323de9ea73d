"""Fixtures for the REST API tests: hosted services (tests/web_fixtures.py's alpha and beta
workspaces), the ASGI app, and tokens made through the service."""
from __future__ import annotations

import uuid

import pytest

API = "/api/v1"
BASE = "http://127.0.0.1"


@pytest.fixture
def team(tmp_path, db_url):
    from promptmgr.bootstrap import build_services
    from tests.web_fixtures import multi_settings, populate

    services = build_services(multi_settings(tmp_path / "home", db_url))
    yield populate(services)
    services.db.dispose()


@pytest.fixture
def app(team):
    from promptmgr.web.app import create_app

    app = create_app(team.services)
    app.state.pm_api.state.pm_limits = limits("10000/minute")
    return app


@pytest.fixture
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app, base_url=BASE, follow_redirects=False) as test_client:
        yield test_client


def limits(rate: str, redis_url: str | None = None):
    """Fresh counters (a unique prefix: Redis keeps counts across tests)."""
    from promptmgr.web.api.limiting import RateLimits

    return RateLimits(rate, "100000/minute", redis_url, prefix=f"pmtest-{uuid.uuid4().hex}")


def make_token(hosted, role_of_user: str = "editor", *, name: str | None = None, workspace: str = "alpha",
               role: str | None = None, user: str | None = None, expires: str = "90d") -> str:
    ctx = hosted.services.accounts.operator_context(workspace)
    made = hosted.services.api_tokens.create(ctx, name or f"t-{uuid.uuid4().hex[:8]}",
                                             user or hosted.users[role_of_user], role, expires)
    return made["token"]


def bearer(token: str, **extra) -> dict:
    return {"authorization": f"Bearer {token}", **extra}


def api_error(response, status: int, code: str) -> dict:
    """Assert the API's one error shape with this status and code; the error object."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == code, body
    return body["error"]
