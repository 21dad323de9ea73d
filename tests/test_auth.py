"""Hosted-mode login and sessions (services/auth.py): passwords, lockout, tokens, ending sessions."""
from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import pytest

from promptmgr.errors import AuthenticationError, LockedOutError, ValidationError
from tests.accounts_helpers import PASSWORD, login, person, workspace


@pytest.fixture
def team(hosted):
    ws = workspace(hosted, "team")
    for role in ("owner", "admin", "editor", "viewer"):
        person(hosted, ws, f"{role}@example.org", role)
    return hosted


def test_login_gives_a_session_whose_context_is_the_member(team):
    session = login(team, "Editor@Example.org ")  # emails are case- and space-insensitive
    ctx = team.auth.verify_access(session.access_token)
    assert (ctx.role, ctx.tenant_id) == ("editor", session.context.tenant_id)
    assert session.refresh_token and session.refresh_token not in session.access_token
    assert session.access_expires_at - datetime.now(timezone.utc) <= timedelta(minutes=15)


def test_wrong_password_and_unknown_email_get_the_same_generic_message(team):
    errors = []
    for email, password in (("editor@example.org", "not the password"), ("ghost@example.org", PASSWORD)):
        with pytest.raises(AuthenticationError) as err:
            team.auth.login(email, password, address=f"10.0.0.{len(errors)}")
        errors.append(err.value)
    assert {e.message_key for e in errors} == {"auth.wrong_credentials"}
    assert {e.translate("en") for e in errors} == {"The email or password is wrong."}


def test_an_unknown_email_costs_one_argon2_verification_like_a_known_one(team, monkeypatch):
    hasher = team.password_hasher
    calls = []
    real_dummy, real_verify = hasher.verify_dummy, hasher.context.verify_and_update
    monkeypatch.setattr(hasher, "verify_dummy", lambda pw: calls.append("dummy") or real_dummy(pw))
    monkeypatch.setattr(hasher.context, "verify_and_update",
                        lambda pw, h: calls.append("real") or real_verify(pw, h))
    for email in ("ghost@example.org", "editor@example.org"):
        with pytest.raises(AuthenticationError):
            team.auth.login(email, "not the password")
    assert calls == ["dummy", "real"]


def test_five_failures_for_an_account_lock_it_even_with_the_right_password(team):
    for i in range(5):
        with pytest.raises(AuthenticationError) as err:
            team.auth.login("viewer@example.org", "wrong password", address=f"10.1.0.{i}")
        assert not isinstance(err.value, LockedOutError)
    with pytest.raises(LockedOutError) as err:
        team.auth.login("viewer@example.org", PASSWORD, address="10.1.9.9")
    assert err.value.params["seconds"] > 0
    assert "Try again" in err.value.translate("en")
    login(team, "editor@example.org", address="10.1.9.9")  # other accounts are not locked


def test_five_failures_from_an_address_lock_that_address(team):
    for i in range(5):
        with pytest.raises(AuthenticationError):
            team.auth.login(f"ghost{i}@example.org", "wrong password", address="10.2.0.1")
    with pytest.raises(LockedOutError):
        team.auth.login("editor@example.org", PASSWORD, address="10.2.0.1")
    assert login(team, "editor@example.org", address="10.2.0.2")  # from elsewhere: fine


def test_a_pbkdf2_hash_is_verified_and_upgraded_to_argon2_on_login(team):
    from passlib.hash import pbkdf2_sha256

    from promptmgr.models import User
    from sqlmodel import select

    with team.db.session(write=True) as session:
        user = session.exec(select(User).where(User.email == "viewer@example.org")).one()
        user.password_hash = pbkdf2_sha256.hash("an old pbkdf2 password")
        session.add(user)
    login(team, "viewer@example.org", "an old pbkdf2 password")
    with team.db.session() as session:
        stored = session.exec(select(User.password_hash).where(User.email == "viewer@example.org")).one()
    assert stored.startswith("$argon2id$")
    login(team, "viewer@example.org", "an old pbkdf2 password")  # and the new hash verifies


@pytest.mark.parametrize("password, key", [
    ("short", "auth.password_too_short"),
    ("x" * 2000, "auth.password_too_long"),
    ("new@example.org", "auth.password_is_email"),
])
def test_the_password_policy(team, password, key):
    ctx = team.accounts.operator_context("team")
    with pytest.raises(ValidationError) as err:
        team.accounts.create_user(ctx, "new@example.org", password, "viewer")
    assert err.value.message_key == key


def test_common_passwords_are_refused_whatever_their_case(team):
    from promptmgr.passwords import common_passwords

    common = sorted(p for p in common_passwords() if len(p) >= 10)[0]
    ctx = team.accounts.operator_context("team")
    with pytest.raises(ValidationError) as err:
        team.accounts.create_user(ctx, "new@example.org", common.upper(), "viewer")
    assert err.value.message_key == "auth.password_common"
    assert len(common_passwords()) > 2000


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_tampered_expired_unsigned_and_foreign_tokens_are_refused(team):
    from jose import jwt

    session = login(team, "editor@example.org")
    header, payload, signature = session.access_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = {**claims, "role": "owner"}
    tokens = {
        "tampered payload": f"{header}.{_b64(forged)}.{signature}",
        "tampered signature": f"{header}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}",
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(forged)}.",
        "another key": jwt.encode(forged, "some-other-key", algorithm="HS256"),
        "expired": team.auth.access_tokens.issue(
            {k: v for k, v in claims.items() if k not in ("iat", "exp", "typ")},
            now=datetime.now(timezone.utc) - timedelta(hours=1))[0],
        "empty": "",
    }
    for name, token in tokens.items():
        with pytest.raises(AuthenticationError, match="auth.session_invalid"):
            team.auth.verify_access(token)
            pytest.fail(f"{name} accepted")
    assert team.auth.verify_access(session.access_token).role == "editor"


def test_refresh_rotates_and_reusing_a_rotated_token_revokes_the_family(team):
    from dataclasses import replace

    team.auth.settings = replace(team.auth.settings, refresh_reuse_grace_seconds=0)
    first = login(team, "editor@example.org")
    second = team.auth.refresh(first.refresh_token)
    assert second.family_id == first.family_id and second.refresh_token != first.refresh_token
    assert team.auth.verify_access(second.access_token).role == "editor"
    with pytest.raises(AuthenticationError):
        team.auth.refresh(first.refresh_token)  # replayed: a thief or the victim after the thief
    for token in (second.access_token, first.access_token):
        with pytest.raises(AuthenticationError):
            team.auth.verify_access(token)
    with pytest.raises(AuthenticationError):
        team.auth.refresh(second.refresh_token)
    assert team.auth.verify_access(login(team, "editor@example.org").access_token)  # a new login is fine


def test_a_pages_parallel_refreshes_within_the_grace_keep_the_session(team):
    from promptmgr.models import RefreshToken
    from sqlmodel import select

    first = login(team, "editor@example.org")
    a, b = team.auth.refresh(first.refresh_token), team.auth.refresh(first.refresh_token)  # the same cookie
    assert a.family_id == b.family_id == first.family_id and a.refresh_token != b.refresh_token
    assert team.auth.verify_access(a.access_token) and team.auth.verify_access(b.access_token)
    with team.db.session(write=True) as session:  # later, the old token comes back: a replay
        row = session.exec(select(RefreshToken).where(RefreshToken.family_id == first.family_id,
                                                      RefreshToken.rotated_at.is_not(None))).one()
        row.rotated_at = datetime.now(timezone.utc) - timedelta(seconds=11)
        session.add(row)
    with pytest.raises(AuthenticationError):
        team.auth.refresh(first.refresh_token)
    with pytest.raises(AuthenticationError):
        team.auth.verify_access(a.access_token)


def test_logout_ends_the_session_only(team):
    one, other = login(team, "editor@example.org"), login(team, "editor@example.org")
    team.auth.logout(one.refresh_token)
    with pytest.raises(AuthenticationError):
        team.auth.verify_access(one.access_token)
    with pytest.raises(AuthenticationError):
        team.auth.refresh(one.refresh_token)
    assert team.auth.verify_access(other.access_token)
    team.auth.logout("not-a-token")  # unknown tokens are ignored


def test_a_password_change_ends_every_session_at_once(team):
    session = login(team, "editor@example.org")
    ctx = team.auth.verify_access(session.access_token)
    team.accounts.change_password(ctx, PASSWORD, "another long passphrase")
    with pytest.raises(AuthenticationError):
        team.auth.verify_access(session.access_token)
    with pytest.raises(AuthenticationError):
        team.auth.refresh(session.refresh_token)
    with pytest.raises(AuthenticationError):
        team.auth.login("editor@example.org", PASSWORD)
    assert login(team, "editor@example.org", "another long passphrase")


def test_removal_and_deactivation_end_sessions_at_once_and_a_role_change_applies(team):
    owner = team.auth.verify_access(login(team, "owner@example.org").access_token)
    editor, viewer = login(team, "editor@example.org"), login(team, "viewer@example.org")
    team.accounts.set_role(owner, "viewer@example.org", "editor")
    assert team.auth.verify_access(viewer.access_token).role == "editor"
    team.accounts.remove_member(owner, "editor@example.org")
    with pytest.raises(AuthenticationError):
        team.auth.verify_access(editor.access_token)
    with pytest.raises(AuthenticationError):
        team.auth.refresh(editor.refresh_token)
    team.accounts.set_active(owner, "viewer@example.org", False)
    with pytest.raises(AuthenticationError):
        team.auth.verify_access(viewer.access_token)
    with pytest.raises(AuthenticationError, match="auth.wrong_credentials"):
        team.auth.login("viewer@example.org", PASSWORD)


def test_switching_workspace_gives_a_context_there(team):
    other = workspace(team, "other")
    team.accounts.create_user(other, "editor@example.org", None, "viewer")  # an existing account joins
    session = login(team, "editor@example.org")
    ctx = team.auth.verify_access(session.access_token)
    assert [w["slug"] for w in team.accounts.workspaces(ctx)] == ["team", "other"]
    switched = team.auth.switch_workspace(ctx, session.refresh_token, "other")
    assert (switched.context.tenant_id, switched.context.role) == (other.tenant_id, "viewer")
    assert team.auth.verify_access(switched.access_token).tenant_id == other.tenant_id
    # The next login starts in the workspace used last.
    assert login(team, "editor@example.org").context.tenant_id == other.tenant_id


def test_csrf_tokens_are_bound(team):
    token = team.auth.csrf_token("family-1")
    assert team.auth.check_csrf(token, "family-1")
    assert not team.auth.check_csrf(token, "family-2")
    assert not team.auth.check_csrf(token[:-1] + ("0" if token[-1] != "0" else "1"), "family-1")
    assert not team.auth.check_csrf(None, "family-1")


def test_hosted_mode_refuses_to_start_unsafely(settings):
    from dataclasses import replace

    from promptmgr.services.auth import check_hosted_settings

    with pytest.raises(ValidationError, match="auth.secret_key_required"):
        check_hosted_settings(replace(settings, secret_key=None))
    sqlite = replace(settings, secret_key="s" * 32, database_url="sqlite:////tmp/x.db")
    check_hosted_settings(sqlite, workers=1)
    with pytest.raises(ValidationError, match="auth.sqlite_workers"):
        check_hosted_settings(sqlite, workers=2)
    check_hosted_settings(replace(sqlite, database_url="postgresql+psycopg://u@127.0.0.1/db"), workers=4)


def test_old_login_attempts_are_swept(team, monkeypatch):
    from promptmgr.models import LoginAttempt
    from sqlmodel import select

    old = datetime.now(timezone.utc) - timedelta(days=2)
    with team.db.session(write=True) as session:
        session.add(LoginAttempt(email="ghost@example.org", address="10.3.0.1", created_at=old))
    monkeypatch.setattr("promptmgr.services.auth.secrets.randbelow", lambda n: 0)
    login(team, "editor@example.org")
    with team.db.session() as session:
        emails = session.exec(select(LoginAttempt.email)).all()
    assert emails == ["editor@example.org"]
