"""Hosted mode over HTTP (starlette's TestClient against the real ASGI app, SQLite and PostgreSQL):
sign-in pages, cookies, CSRF, refresh rotation through the cookie, and the Gradio routes behind
the session."""
from __future__ import annotations

import base64
import json

import pytest

from tests.web_fixtures import PASSWORD, csrf_from, multi_settings, populate

BASE = "http://127.0.0.1"


@pytest.fixture
def hosted(tmp_path, db_url):
    from promptmgr.bootstrap import build_services

    services = build_services(multi_settings(tmp_path / "home", db_url))
    yield populate(services)
    services.db.dispose()


@pytest.fixture
def client(hosted):
    from fastapi.testclient import TestClient

    from promptmgr.web.app import create_app

    with TestClient(create_app(hosted.services), base_url=BASE, follow_redirects=False) as test_client:
        yield test_client


def put(client, name: str, value: str) -> None:
    """Replace a cookie the way a browser holds it (one per name for this host)."""
    client.cookies.delete(name)
    client.cookies.set(name, value, domain="127.0.0.1", path="/")


def login(client, email, password=PASSWORD, **extra):
    page = client.get("/login")
    assert page.status_code == 200
    return client.post("/login", data={"email": email, "password": password, "csrf_token": csrf_from(page.text),
                                       **extra})


def test_login_sets_http_only_lax_cookies_and_opens_the_app(client, hosted):
    response = login(client, hosted.users["editor"])
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookies = response.headers.get_list("set-cookie")
    access = next(c for c in cookies if c.startswith("pm_access="))
    refresh = next(c for c in cookies if c.startswith("pm_refresh="))
    for cookie in (access, refresh):
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    config = client.get("/config")
    assert config.status_code == 200 and "components" in config.json()
    assert client.get("/", headers={"accept": "text/html"}).status_code == 200


def test_cookies_are_secure_behind_an_https_proxy(client, hosted):
    page = client.get("/login")
    response = client.post("/login", headers={"x-forwarded-proto": "https"},
                           data={"email": hosted.users["viewer"], "password": PASSWORD,
                                 "csrf_token": csrf_from(page.text)})
    assert response.status_code == 303
    assert all("Secure" in c for c in response.headers.get_list("set-cookie") if c.startswith("pm_"))


def test_wrong_password_and_unknown_email_get_the_same_generic_message(client, hosted):
    wrong = login(client, hosted.users["editor"], "not the password")
    unknown = login(client, "nobody@example.com", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "Email or password is wrong." in wrong.text and "Email or password is wrong." in unknown.text
    assert "pm_access" not in wrong.headers.get("set-cookie", "")
    assert client.get("/config").status_code == 401


def test_repeated_failures_lock_the_account(client, hosted):
    for _ in range(5):
        assert login(client, hosted.users["admin"], "wrong password here").status_code == 401
    locked = login(client, hosted.users["admin"])  # even the right password, for now
    assert locked.status_code == 429 and "Too many failed attempts" in locked.text
    assert client.get("/config").status_code == 401


def test_the_login_page_speaks_the_visitors_language(client):
    arabic = client.get("/login?lang=ar")
    assert 'dir="rtl"' in arabic.text and "تسجيل الدخول" in arabic.text
    assert "pm_lang=ar" in arabic.headers.get("set-cookie", "")
    assert 'dir="rtl"' in client.get("/login").text  # the choice is remembered
    client.cookies.clear()
    german = client.get("/login", headers={"accept-language": "de-DE,de;q=0.9"})
    assert 'lang="de"' in german.text and "Anmelden" in german.text


@pytest.mark.parametrize("path", ["/config", "/gradio_api/info", "/gradio_api/queue/data?session_hash=x",
                                  "/gradio_api/upload_progress?upload_id=x", "/gradio_api/heartbeat/x",
                                  "/theme.css", "/gradio_api/startup-events"])
def test_gradio_routes_refuse_without_a_session(client, path):
    assert client.get(path).status_code == 401


@pytest.mark.parametrize("path", ["/gradio_api/queue/join", "/gradio_api/cancel", "/gradio_api/run/predict",
                                  "/gradio_api/reset", "/gradio_api/upload"])
def test_gradio_posts_refuse_without_a_session(client, path):
    response = client.post(path, json={"data": [], "fn_index": 0, "session_hash": "x"})
    assert response.status_code == 401


def test_a_page_visit_without_a_session_goes_to_the_login_page(client):
    response = client.get("/?lang=de", headers={"accept": "text/html"})
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


def test_login_refuses_a_form_without_its_csrf_token(client, hosted):
    client.get("/login")
    response = client.post("/login", data={"email": hosted.users["editor"], "password": PASSWORD,
                                           "csrf_token": "forged.token"})
    assert response.status_code == 403 and "pm_access" not in response.headers.get("set-cookie", "")


def test_state_changes_refuse_a_missing_csrf_token_and_another_origin(client, hosted):
    assert login(client, hosted.both).status_code == 303
    assert client.post("/workspace", data={"workspace": "beta"}).status_code == 403
    assert client.post("/logout", data={}).status_code == 403
    assert client.get("/config").status_code == 200  # still signed in
    # Gradio's own posts carry no form token: another site's Origin is refused before Gradio.
    cross = client.post("/gradio_api/queue/join", headers={"origin": "https://evil.example"}, json={})
    assert cross.status_code == 403


def _forge(token: str, header: dict | None = None, claims: dict | None = None) -> str:
    def b64(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    head, body, signature = token.split(".")
    padded = body + "=" * (-len(body) % 4)
    payload = {**json.loads(base64.urlsafe_b64decode(padded)), **(claims or {})}
    if header is not None:
        return f"{b64(header)}.{b64(payload)}."
    return f"{head}.{b64(payload)}.{signature}"


def test_tampered_and_alg_none_access_cookies_are_refused(client, hosted):
    login(client, hosted.users["viewer"])
    access = client.cookies.get("pm_access")
    client.cookies.delete("pm_refresh")  # no refresh to fall back on: only the access token counts
    for forged in (_forge(access, claims={"role": "owner"}), _forge(access, header={"alg": "none", "typ": "JWT"}),
                   access[:-4] + "AAAA"):
        put(client, "pm_access", forged)
        assert client.get("/config").status_code == 401
    put(client, "pm_access", access)
    assert client.get("/config").status_code == 200


def test_an_expired_access_cookie_is_refreshed_through_the_refresh_cookie(client, hosted):
    login(client, hosted.users["editor"])
    old_refresh = client.cookies.get("pm_refresh")
    put(client, "pm_access", "expired-or-missing")
    response = client.get("/config")
    assert response.status_code == 200
    new_access = next(c for c in response.headers.get_list("set-cookie") if c.startswith("pm_access="))
    assert "HttpOnly" in new_access
    assert client.cookies.get("pm_refresh") != old_refresh  # rotated
    assert hosted.services.auth.verify_access(client.cookies.get("pm_access")).user_id


def test_a_rotated_refresh_cookie_presented_by_another_client_ends_the_session(client, hosted):
    from fastapi.testclient import TestClient

    login(client, hosted.users["editor"])
    stolen = client.cookies.get("pm_refresh")
    put(client, "pm_access", "expired")
    assert client.get("/config").status_code == 200  # the owner's browser rotates it
    with TestClient(client.app, base_url=BASE, follow_redirects=False, headers={"user-agent": "thief"}) as thief:
        put(thief, "pm_refresh", stolen)
        assert thief.get("/config").status_code == 401
    put(client, "pm_access", "expired-again")
    assert client.get("/config").status_code == 401  # the whole family is revoked


def test_logout_revokes_the_session(client, hosted):
    login(client, hosted.users["editor"])
    refresh = client.cookies.get("pm_refresh")
    csrf = client.cookies.get("pm_csrf")
    response = client.post("/logout", data={"csrf_token": csrf})
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert client.get("/config").status_code == 401
    put(client, "pm_refresh", refresh)  # a copy kept from before does not come back
    assert client.get("/config").status_code == 401


def test_workspace_switch_changes_the_callers_workspace(client, hosted):
    login(client, hosted.both)
    before = hosted.services.auth.verify_access(client.cookies.get("pm_access"))
    response = client.post("/workspace", data={"workspace": "beta", "csrf_token": client.cookies.get("pm_csrf")})
    assert response.status_code == 303
    after = hosted.services.auth.verify_access(client.cookies.get("pm_access"))
    assert (before.role, after.role) == ("editor", "viewer") and before.tenant_id != after.tenant_id
    refused = client.post("/workspace", data={"workspace": "gamma", "csrf_token": client.cookies.get("pm_csrf")})
    assert refused.status_code == 403


def test_open_redirects_are_not_followed(client, hosted):
    page = client.get("/login")
    response = client.post("/login", data={"email": hosted.users["viewer"], "password": PASSWORD,
                                           "csrf_token": csrf_from(page.text), "next": "//evil.example/x"})
    assert response.headers["location"] == "/"


def test_invitation_link_sets_the_password_once(client, hosted):
    invite = hosted.services.accounts.invite(hosted.ctx("alpha"), "new@example.com", "editor")
    path = "/" + invite["link"].split("/", 3)[-1] if invite["link"].startswith("http") else invite["link"]
    page = client.get(path)
    assert page.status_code == 200 and 'name="password"' in page.text
    form = {"password": "a brand new passphrase", "confirm": "a brand new passphrase",
            "csrf_token": csrf_from(page.text)}
    assert client.post(path, data={**form, "confirm": "something else"}).status_code == 422
    assert client.post(path, data=form).status_code == 200
    assert client.post(path, data=form).status_code == 410  # works once
    assert login(client, "new@example.com", "a brand new passphrase").status_code == 303


def test_a_workspace_that_requires_mfa_lets_a_member_only_set_it_up(client, hosted):
    import pyotp

    hosted.services.accounts.update_settings(hosted.ctx("alpha"), require_mfa="everyone")
    assert login(client, hosted.users["editor"]).status_code == 303
    app_page = client.get("/", headers={"accept": "text/html"})
    assert app_page.status_code == 303 and app_page.headers["location"] == "/mfa"
    assert client.get("/config").status_code == 401
    page = client.get("/mfa")
    assert page.status_code == 200 and "requires two-factor authentication" in page.text
    secret = page.text.split('id="pm-secret">', 1)[1].split("<", 1)[0]
    done = client.post("/mfa", data={"code": pyotp.TOTP(secret).now(), "secret": secret, "uri": "",
                                     "csrf_token": csrf_from(page.text)})
    assert done.status_code == 200 and done.text.count("<li>") == 10  # recovery codes, shown once
    assert client.get("/config").status_code == 200
