"""Hosted-mode workspaces and people (services/accounts.py, services/mfa.py): invitations, resets,
roles, settings, MFA, and isolation between workspaces."""
from __future__ import annotations

import re
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pyotp
import pytest
from hypothesis import given, settings as hsettings, strategies as st
from sqlmodel import select

from promptmgr.errors import (AuthenticationError, ConflictError, DuplicateError, NotFoundError,
                              PermissionDeniedError, ValidationError)
from promptmgr.models import OneTimeToken
from tests.accounts_helpers import PASSWORD, login, person, workspace


@pytest.fixture
def team(hosted):
    ws = workspace(hosted, "team")
    for role in ("owner", "admin", "editor", "viewer"):
        person(hosted, ws, f"{role}@example.org", role)
    return hosted


def ctx_of(services, email):
    return services.auth.verify_access(login(services, email).access_token)


def _expire_links(services):
    with services.db.session(write=True) as session:
        for link in session.exec(select(OneTimeToken)).all():
            link.expires_at = datetime.now(timezone.utc) - timedelta(seconds=1)
            session.add(link)


def test_invite_accept_login_and_the_link_works_once(team):
    admin = ctx_of(team, "admin@example.org")
    invitation = team.accounts.invite(admin, "New@Example.org", "editor")
    assert invitation["link"].endswith(f"/invite/{invitation['token']}") and invitation["emailed"] is False
    assert team.accounts.accept_invitation(invitation["token"], "my own long passphrase", "Newcomer") == {
        "email": "new@example.org", "workspace": "team"}
    assert login(team, "new@example.org", "my own long passphrase").context.role == "editor"
    with pytest.raises(ValidationError, match="auth.link_invalid"):
        team.accounts.accept_invitation(invitation["token"], "another long passphrase")
    assert {m["email"]: m["role"] for m in team.accounts.members(admin)}["new@example.org"] == "editor"


def test_an_expired_invitation_is_refused_and_changes_nothing(team):
    admin = ctx_of(team, "admin@example.org")
    invitation = team.accounts.invite(admin, "late@example.org", "viewer")
    _expire_links(team)
    with pytest.raises(ValidationError, match="auth.link_invalid"):
        team.accounts.accept_invitation(invitation["token"], "my own long passphrase")
    assert "late@example.org" not in [m["email"] for m in team.accounts.members(admin)]
    with pytest.raises(AuthenticationError):
        team.auth.login("late@example.org", "my own long passphrase")


def test_an_invitation_with_a_weak_password_leaves_the_link_usable(team):
    invitation = team.accounts.invite(ctx_of(team, "admin@example.org"), "weak@example.org", "viewer")
    with pytest.raises(ValidationError, match="auth.password_too_short"):
        team.accounts.accept_invitation(invitation["token"], "short")
    team.accounts.accept_invitation(invitation["token"], "a good long passphrase")


def test_password_reset_links_work_once_and_expire(team):
    admin = ctx_of(team, "admin@example.org")
    session = login(team, "editor@example.org")
    reset = team.accounts.reset_link(admin, "editor@example.org")
    assert team.accounts.confirm_password_reset(reset["token"], "a brand new passphrase") == "editor@example.org"
    with pytest.raises(AuthenticationError):
        team.auth.verify_access(session.access_token)  # a reset ends the sessions too
    with pytest.raises(AuthenticationError):
        team.auth.login("editor@example.org", PASSWORD)
    assert login(team, "editor@example.org", "a brand new passphrase")
    with pytest.raises(ValidationError, match="auth.link_invalid"):
        team.accounts.confirm_password_reset(reset["token"], "yet another passphrase")
    second = team.accounts.reset_link(admin, "editor@example.org")
    _expire_links(team)
    with pytest.raises(ValidationError, match="auth.link_invalid"):
        team.accounts.confirm_password_reset(second["token"], "yet another passphrase")


def test_a_reset_request_says_nothing_and_mails_the_link_when_smtp_is_configured(team, monkeypatch):
    sent = []

    class FakeSMTP:
        def __init__(self, host, port, timeout):
            assert (host, port) == ("127.0.0.1", 2525)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def starttls(self):
            pass

        def send_message(self, message):
            sent.append(message)

    monkeypatch.setattr("smtplib.SMTP", FakeSMTP)
    team.accounts.request_password_reset("ghost@example.org")  # unknown: no error, no mail
    team.accounts.request_password_reset("not an email")
    assert sent == []
    team.accounts.settings = replace(team.accounts.settings, smtp_host="127.0.0.1", smtp_port=2525,
                                     smtp_from="promptmgr@example.org", public_url="https://pm.example.org")
    team.accounts.request_password_reset("Viewer@example.org")
    assert [m["To"] for m in sent] == ["viewer@example.org"]
    body = sent[0].get_content()
    token = body.split("https://pm.example.org/reset/")[1].split()[0]
    team.accounts.confirm_password_reset(token, "a mailed new passphrase")
    assert login(team, "viewer@example.org", "a mailed new passphrase")


def test_viewers_and_editors_cannot_manage_members(team):
    for email in ("viewer@example.org", "editor@example.org"):
        ctx = ctx_of(team, email)
        for call in (lambda: team.accounts.members(ctx),
                     lambda: team.accounts.invite(ctx, "x@example.org", "viewer"),
                     lambda: team.accounts.set_role(ctx, "viewer@example.org", "editor"),
                     lambda: team.accounts.remove_member(ctx, "viewer@example.org"),
                     lambda: team.mfa.reset(ctx, ctx.user_id)):
            with pytest.raises(PermissionDeniedError):
                call()


def test_nobody_grants_above_their_role_and_a_workspace_keeps_an_owner(team):
    admin, owner = ctx_of(team, "admin@example.org"), ctx_of(team, "owner@example.org")
    with pytest.raises(PermissionDeniedError):
        team.accounts.set_role(admin, "editor@example.org", "owner")
    with pytest.raises(PermissionDeniedError):
        team.accounts.remove_member(admin, "owner@example.org")
    with pytest.raises(PermissionDeniedError):
        team.accounts.invite(admin, "boss@example.org", "owner")
    with pytest.raises(ConflictError, match="auth.last_owner"):
        team.accounts.set_role(owner, "owner@example.org", "admin")
    with pytest.raises(ValidationError, match="auth.role_invalid"):
        team.accounts.set_role(owner, "editor@example.org", "superuser")
    with pytest.raises(PermissionDeniedError, match="auth.not_yourself"):
        team.accounts.set_active(owner, "owner@example.org", False)


def test_member_limit_allowed_domains_and_duplicates(team):
    owner = ctx_of(team, "owner@example.org")
    team.accounts.update_settings(owner, allowed_domains="example.org, @corp.example", max_members=5)
    with pytest.raises(ValidationError, match="auth.domain_not_allowed"):
        team.accounts.invite(owner, "someone@elsewhere.net", "viewer")
    with pytest.raises(DuplicateError):
        team.accounts.invite(owner, "editor@example.org", "viewer")
    team.accounts.invite(owner, "fifth@corp.example", "viewer")
    team.accounts.create_user(owner, "fifth@corp.example", None, "viewer")  # joins: 5 members
    with pytest.raises(ConflictError, match="auth.member_limit"):
        team.accounts.invite(owner, "sixth@example.org", "viewer")
    assert team.accounts.settings_of(owner)["allowed_domains"] == ["example.org", "corp.example"]


def test_settings_are_validated_and_only_owners_change_them(team):
    owner, admin = ctx_of(team, "owner@example.org"), ctx_of(team, "admin@example.org")
    with pytest.raises(PermissionDeniedError):
        team.accounts.update_settings(admin, name="Mine")
    for bad in ({"require_mfa": "sometimes"}, {"default_locale": "xx"}, {"max_members": 0}, {"colour": "red"},
                {"name": ""}, {"protected_labels": ["x"] * 51}):
        with pytest.raises(ValidationError):
            team.accounts.update_settings(owner, **{"name": "Changed", **bad})
    assert team.accounts.settings_of(owner)["name"] == "Team"  # nothing half-written
    changed = team.accounts.update_settings(owner, name="Renamed", default_locale="de", require_mfa="admins")
    assert (changed["name"], changed["default_locale"], changed["require_mfa"]) == ("Renamed", "de", "admins")


def test_protected_labels_setting_decides_who_moves_a_label(team):
    from promptmgr.schemas import PromptCreate, parse

    owner, editor = ctx_of(team, "owner@example.org"), ctx_of(team, "editor@example.org")
    team.library.create(editor, parse(PromptCreate, {"name": "greet", "content": "Hi"}))
    team.accounts.update_settings(owner, protected_labels=["staging"])
    team.library.set_label(editor, "greet", "production")
    with pytest.raises(PermissionDeniedError):
        team.library.set_label(editor, "greet", "staging")
    team.library.set_label(ctx_of(team, "admin@example.org"), "greet", "staging")


def test_mfa_enrolment_login_with_a_code_and_recovery_codes_work_once(team):
    ctx = ctx_of(team, "editor@example.org")
    enrolment = team.mfa.begin_enrolment(ctx)
    assert enrolment["uri"].startswith("otpauth://totp/") and enrolment["qr_svg"].startswith("data:image/svg+xml")
    with pytest.raises(ValidationError, match="auth.code_wrong"):
        team.mfa.confirm_enrolment(ctx, "000000" if pyotp.TOTP(enrolment["secret"]).now() != "000000" else "111111")
    totp = pyotp.TOTP(enrolment["secret"])
    confirming = totp.now()
    codes = team.mfa.confirm_enrolment(ctx, confirming)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert team.auth.login("editor@example.org", PASSWORD).status == "mfa_required"
    with pytest.raises(AuthenticationError, match="auth.code_wrong"):
        team.auth.login("editor@example.org", PASSWORD, "12345x")
    with pytest.raises(AuthenticationError):  # the code that confirmed the enrolment is spent
        team.auth.login("editor@example.org", PASSWORD, confirming)
    following = totp.at(time.time() + 30)  # the next time step (accepted: clocks drift)
    ok = team.auth.login("editor@example.org", PASSWORD, following)
    assert ok.status == "ok" and ok.session
    with pytest.raises(AuthenticationError, match="auth.code_wrong"):
        team.auth.login("editor@example.org", PASSWORD, following)  # a code works once
    assert team.auth.login("editor@example.org", PASSWORD, codes[0].upper()).status == "ok"
    with pytest.raises(AuthenticationError):
        team.auth.login("editor@example.org", PASSWORD, codes[0])  # used once
    assert team.mfa.status(ctx)["recovery_codes_left"] == 9
    with team.db.engine.connect() as conn:
        from sqlalchemy import text

        stored = conn.execute(text('SELECT mfa_secret_encrypted, recovery_codes FROM "user" '
                                   "WHERE email = 'editor@example.org'")).one()
    assert enrolment["secret"] not in str(stored) and codes[1] not in str(stored)


def test_required_mfa_holds_admins_at_setup_and_an_admin_can_reset_it(team):
    owner = ctx_of(team, "owner@example.org")
    team.accounts.update_settings(owner, require_mfa="admins")
    session = login(team, "admin@example.org")
    assert session.mfa_setup_required
    with pytest.raises(AuthenticationError, match="auth.mfa_setup_required"):
        team.auth.verify_access(session.access_token)
    ctx = team.auth.verify_session(session.access_token, allow_mfa_setup=True).context
    assert not login(team, "editor@example.org").mfa_setup_required  # editors are not concerned
    secret = team.mfa.begin_enrolment(ctx)["secret"]
    team.mfa.confirm_enrolment(ctx, pyotp.TOTP(secret).now())
    full = team.auth.login("admin@example.org", PASSWORD, pyotp.TOTP(secret).at(time.time() + 30)).session
    assert team.auth.verify_access(full.access_token).role == "admin"
    team.mfa.reset(owner, ctx.user_id)  # lost phone
    with pytest.raises(AuthenticationError):
        team.auth.verify_access(full.access_token)
    assert team.auth.login("admin@example.org", PASSWORD).session.mfa_setup_required


def test_the_first_owner_comes_from_the_environment_once(hosted):
    accounts = hosted.accounts
    assert accounts.ensure_first_owner() == "missing"
    accounts.settings = replace(accounts.settings, admin_email="Boss@Example.org", admin_password="the boss passphrase")
    assert accounts.ensure_first_owner() == "created"
    assert accounts.ensure_first_owner() == "exists"
    session = login(hosted, "boss@example.org", "the boss passphrase")
    assert session.context.role == "owner"


@hsettings(max_examples=15)
@given(a_roles=st.lists(st.sampled_from(["viewer", "editor", "admin"]), max_size=4),
       b_roles=st.lists(st.sampled_from(["viewer", "editor", "admin"]), min_size=1, max_size=4))
def test_a_workspace_context_never_reads_or_changes_another_workspaces_members(hosted, a_roles, b_roles):
    from promptmgr.models import Membership, OneTimeToken as Link, RefreshToken, Tenant, User
    from sqlalchemy import delete

    with hosted.db.session(write=True) as session:  # a clean slate per example
        for model in (Link, RefreshToken, Membership, User, Tenant):
            session.execute(delete(model))
    a, b = workspace(hosted, "ws-a"), workspace(hosted, "ws-b")
    a_people = {person(hosted, a, f"a{i}@example.org", role)["email"] for i, role in enumerate(a_roles)}
    b_people = {person(hosted, b, f"b{i}@example.org", role)["email"] for i, role in enumerate(b_roles)}
    assert {m["email"] for m in hosted.accounts.members(a)} == a_people
    assert {m["email"] for m in hosted.accounts.members(b)} == b_people
    victim = sorted(b_people)[0]
    victim_id = next(m["user_id"] for m in hosted.accounts.members(b) if m["email"] == victim)
    for call in (lambda: hosted.accounts.set_role(a, victim, "viewer"),
                 lambda: hosted.accounts.remove_member(a, victim_id),
                 lambda: hosted.accounts.reset_link(a, victim),
                 lambda: hosted.accounts.set_active(a, victim, False),
                 lambda: hosted.mfa.reset(a, victim_id)):
        with pytest.raises(NotFoundError):
            call()
    assert {m["email"]: m["active"] for m in hosted.accounts.members(b)}[victim] is True


def test_what_services_return_never_carries_hashes_or_secrets(team):
    owner = ctx_of(team, "owner@example.org")
    secret = team.mfa.begin_enrolment(owner)["secret"]
    team.mfa.confirm_enrolment(owner, pyotp.TOTP(secret).now())
    shown = repr([team.accounts.members(owner), team.accounts.workspaces(owner), team.accounts.settings_of(owner),
                  team.mfa.status(owner), team.accounts.set_role(owner, "viewer@example.org", "editor")])
    for leak in ("argon2", "password", secret, "mfa_secret", "'recovery_codes'", "session_epoch"):
        assert leak not in shown
    assert not re.search(r"[0-9a-f]{64}", shown)  # no recovery code or token hash
