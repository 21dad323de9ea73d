"""Single sign-on against a small OpenID provider of our own on loopback (tests/oidc_provider.py):
the authorization-code round trip through authlib, with the id_token's signature, issuer, audience
and nonce checked, then the account mapping (SsoService)."""
from __future__ import annotations

import httpx
import pytest

from tests.oidc_provider import OidcProvider
from tests.web_fixtures import multi_settings, populate

BASE = "http://127.0.0.1"


@pytest.fixture(scope="module")
def provider():
    with OidcProvider() as running:
        yield running


@pytest.fixture
def hosted(tmp_path):
    from promptmgr.bootstrap import build_services

    services = build_services(multi_settings(tmp_path / "home", f"sqlite:///{tmp_path / 'web.db'}"))
    yield populate(services)
    services.db.dispose()


def make_client(hosted, provider, monkeypatch, **env):
    from fastapi.testclient import TestClient

    from promptmgr.web.app import create_app

    for name, value in provider.env(**env).items():
        monkeypatch.setenv(name, value)
    return TestClient(create_app(hosted.services), base_url=BASE, follow_redirects=False)


def sign_in(client) -> httpx.Response:
    """Click the SSO button, let the provider approve, come back: the callback's response."""
    start = client.get("/auth/oidc/login")
    assert start.status_code == 302, start.text
    authorize = start.headers["location"]
    assert authorize.startswith(client.app.state.pm_oidc_issuer + "/authorize")
    back = httpx.get(authorize, follow_redirects=False)
    assert back.status_code == 302
    callback = back.headers["location"]
    assert callback.startswith(f"{BASE}/auth/oidc/callback?")
    return client.get(callback[len(BASE):])


def test_a_new_person_signs_in_and_joins_the_configured_workspace(hosted, provider, monkeypatch):
    provider.user = {"sub": "u-new", "email": "newcomer@example.com", "email_verified": True, "name": "New Comer"}
    with make_client(hosted, provider, monkeypatch, PROMPTMGR_OIDC_WORKSPACE="alpha",
                     PROMPTMGR_OIDC_ROLE="editor") as client:
        assert "/auth/oidc/login" in client.get("/login").text  # the button shows
        done = sign_in(client)
        assert done.status_code == 303 and done.headers["location"] == "/"
        assert client.get("/config").status_code == 200
        ctx = hosted.services.auth.verify_access(client.cookies.get("pm_access"))
        assert ctx.role == "editor" and ctx.tenant_id == hosted.ctx("alpha").tenant_id


def test_an_invited_account_signs_in_with_its_own_role(hosted, provider, monkeypatch):
    provider.user = {"sub": "u-admin", "email": hosted.users["admin"], "email_verified": True}
    with make_client(hosted, provider, monkeypatch) as client:
        assert sign_in(client).status_code == 303
        assert hosted.services.auth.verify_access(client.cookies.get("pm_access")).role == "admin"


def test_refused_domains_unverified_emails_and_strangers_get_no_session(hosted, provider, monkeypatch):
    cases = [
        ({"sub": "a", "email": "x@other.org", "email_verified": True},
         {"PROMPTMGR_OIDC_ALLOWED_DOMAINS": "example.com", "PROMPTMGR_OIDC_WORKSPACE": "alpha"}),
        ({"sub": "b", "email": "y@example.com", "email_verified": False}, {"PROMPTMGR_OIDC_WORKSPACE": "alpha"}),
        ({"sub": "c", "email": "stranger@example.com", "email_verified": True}, {}),  # no workspace to join
    ]
    for user, env in cases:
        monkeypatch.delenv("PROMPTMGR_OIDC_ALLOWED_DOMAINS", raising=False)
        monkeypatch.delenv("PROMPTMGR_OIDC_WORKSPACE", raising=False)
        provider.user = user
        with make_client(hosted, provider, monkeypatch, **env) as client:
            response = sign_in(client)
            assert response.status_code == 403, user
            assert "pm_access" not in response.headers.get("set-cookie", "")
            assert client.get("/config").status_code == 401


def test_a_forged_callback_is_refused(hosted, provider, monkeypatch):
    with make_client(hosted, provider, monkeypatch, PROMPTMGR_OIDC_WORKSPACE="alpha") as client:
        client.get("/auth/oidc/login")
        response = client.get("/auth/oidc/callback?code=made-up&state=made-up")
        assert response.status_code in (400, 502)
        assert client.get("/config").status_code == 401


def test_without_configuration_there_is_no_sso_button(hosted, monkeypatch):
    from fastapi.testclient import TestClient

    from promptmgr.web.app import create_app

    for name in ("PROMPTMGR_OIDC_ISSUER", "OPENID_PROVIDER_URL", "OAUTH_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)
    with TestClient(create_app(hosted.services), base_url=BASE, follow_redirects=False) as client:
        assert "/auth/oidc/login" not in client.get("/login").text
        assert client.get("/auth/oidc/login").status_code == 404


def test_a_space_configures_the_same_client_from_its_own_variables():
    from promptmgr.web.oidc import oidc_config

    config = oidc_config({"OPENID_PROVIDER_URL": "https://huggingface.co", "OAUTH_CLIENT_ID": "id",
                          "OAUTH_CLIENT_SECRET": "secret", "OAUTH_SCOPES": "openid profile"})
    assert config.metadata_url == "https://huggingface.co/.well-known/openid-configuration"
    assert config.scopes.split() == ["openid", "profile", "email"]
    assert oidc_config({}) is None
