"""`promptmgr serve` and the hosted app's start: refused settings, the first owner, and the caller
of a Gradio request read from the session cookie (UI.caller)."""
from __future__ import annotations

import pytest

from tests.web_fixtures import PASSWORD, SECRET_KEY, multi_settings, populate


def test_serve_refuses_single_user_mode(cli):
    result = cli("serve")
    assert result.code == 1 and "PROMPTMGR_MODE=multi" in result.err


def test_serve_refuses_without_a_secret_key(cli, monkeypatch):
    monkeypatch.setenv("PROMPTMGR_MODE", "multi")
    monkeypatch.delenv("PROMPTMGR_SECRET_KEY", raising=False)
    from promptmgr.config import get_settings

    get_settings.cache_clear()
    result = cli("serve", "--port", "1")
    assert result.code == 1 and "PROMPTMGR_SECRET_KEY" in result.err


def test_serve_refuses_sqlite_shared_by_several_workers(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'shared.db'}")  # whichever backend cli_env chose
    monkeypatch.setenv("PROMPTMGR_MODE", "multi")
    monkeypatch.setenv("PROMPTMGR_SECRET_KEY", SECRET_KEY)
    from promptmgr.config import get_settings

    get_settings.cache_clear()
    result = cli("serve", "--workers", "2", "--port", "1")
    assert result.code == 1 and "PostgreSQL" in result.err


def test_first_start_says_how_to_create_the_owner_or_creates_it(tmp_path, capsys):
    from promptmgr.bootstrap import build_services
    from promptmgr.web.start import prepare

    services = build_services(multi_settings(tmp_path / "a", f"sqlite:///{tmp_path / 'a.db'}"))
    prepare(services)
    assert "promptmgr admin create-user" in capsys.readouterr().err
    services.db.dispose()

    services = build_services(multi_settings(tmp_path / "b", f"sqlite:///{tmp_path / 'b.db'}",
                                             admin_email="boss@example.com", admin_password=PASSWORD))
    prepare(services)
    assert "boss@example.com" in capsys.readouterr().err
    assert services.auth.login("boss@example.com", PASSWORD).session.context.role == "owner"
    prepare(services)  # once only
    assert capsys.readouterr().err == ""
    services.db.dispose()


class FakeRequest:
    """What UI.caller reads of a gr.Request: cookies, query parameters and headers."""

    def __init__(self, cookies=None, lang=None):
        self.cookies = cookies or {}
        self.query_params = {"lang": lang} if lang else {}
        self.headers = {}


def test_the_caller_of_a_gradio_request_is_the_session_user_in_their_workspace(tmp_path):
    from promptmgr.bootstrap import build_services
    from promptmgr.errors import AuthenticationError
    from promptmgr.ui.common import UI

    services = build_services(multi_settings(tmp_path / "h", f"sqlite:///{tmp_path / 'h.db'}"))
    hosted = populate(services)
    ui = UI(services, None)
    session = services.auth.login(hosted.both, PASSWORD).session
    ctx = ui.caller(FakeRequest({"pm_access": session.access_token}), "de")
    assert (ctx.user_id, ctx.tenant_id, ctx.role, ctx.locale) == (
        session.context.user_id, hosted.ctx("alpha").tenant_id, "editor", "de")
    switched = services.auth.switch_workspace(ctx, session.refresh_token, "beta")
    ctx = ui.caller(FakeRequest({"pm_access": switched.access_token}), None)
    assert (ctx.tenant_id, ctx.role) == (hosted.ctx("beta").tenant_id, "viewer")
    for request in (None, FakeRequest(), FakeRequest({"pm_access": "forged"})):
        with pytest.raises(AuthenticationError):
            ui.caller(request, "en")
    services.auth.logout(switched.refresh_token)
    with pytest.raises(AuthenticationError):  # a revoked session stops at once, token unexpired
        ui.caller(FakeRequest({"pm_access": switched.access_token}), "en")
    services.db.dispose()


def test_ui_points_hosted_mode_to_serve(cli, monkeypatch):
    monkeypatch.setenv("PROMPTMGR_MODE", "multi")
    from promptmgr.config import get_settings

    get_settings.cache_clear()
    result = cli("ui")
    assert result.code == 1 and "promptmgr serve" in result.err
