"""API tokens: made by the service or the CLI, stored hashed, shown once; the REST API refuses a
wrong, expired or revoked token at once, a read-only token's writes, another workspace's data and a
protected label without an admin (SQLite and PostgreSQL)."""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import pytest

from promptmgr.errors import PermissionDeniedError, ValidationError
from tests.api_helpers import API, api_error, bearer, make_token

pytest_plugins = ("tests.api_helpers",)  # the app, client and team fixtures


def _prompt(client, token, name="greet", content="Hi {{ name }}"):
    return client.post(f"{API}/prompts", json={"name": name, "content": content}, headers=bearer(token))


def test_the_secret_is_shown_once_and_stored_as_its_sha256(team):
    from sqlmodel import select

    from promptmgr.models_tokens import ApiToken

    ctx = team.ctx("alpha")
    made = team.services.api_tokens.create(ctx, "ci", team.users["editor"])
    secret = made["token"]
    assert secret.startswith("pm_") and len(secret) >= 40
    with team.services.db.session() as session:
        row = session.exec(select(ApiToken).where(ApiToken.name == "ci")).one()
        assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in repr(row.model_dump())
    listed = team.services.api_tokens.list(ctx)
    assert [t["name"] for t in listed] == ["ci"] and "token" not in listed[0]
    assert listed[0]["role"] == "editor" and listed[0]["status"] == "active"
    assert listed[0]["expires_at"] > datetime.now(timezone.utc) + timedelta(days=89)


def test_a_token_role_is_never_above_its_creator_or_its_member(team):
    from promptmgr.context import TenantContext

    ctx = team.ctx("alpha")
    with pytest.raises(PermissionDeniedError):
        team.services.api_tokens.create(ctx, "up", team.users["viewer"], role="editor")
    admin_ctx = TenantContext(ctx.tenant_id, _user_id(team, "admin"), "admin")
    with pytest.raises(PermissionDeniedError):
        team.services.api_tokens.create(admin_ctx, "owner-token", team.users["owner"], role="owner")
    editor_ctx = TenantContext(ctx.tenant_id, _user_id(team, "editor"), "editor")
    with pytest.raises(PermissionDeniedError):  # managing tokens is an admin's action
        team.services.api_tokens.list(editor_ctx)
    with pytest.raises(ValidationError):
        team.services.api_tokens.create(ctx, "bad", team.users["editor"], expires="forever")
    assert team.services.api_tokens.list(ctx) == []


def _user_id(team, role):
    return next(m["user_id"] for m in team.services.accounts.members(team.ctx("alpha"))
                if m["email"] == team.users[role])


def test_wrong_and_malformed_tokens_are_refused(client, team):
    make_token(team)
    for headers in (bearer("pm_" + "x" * 43), bearer("not-a-token"), {"authorization": "Basic dXNlcjpwYXNz"}, {}):
        error = api_error(client.get(f"{API}/prompts", headers=headers), 401, "unauthenticated")
        assert "Traceback" not in error["message"]
    assert client.get(f"{API}/prompts", headers=bearer("pm_x")).headers["www-authenticate"].startswith("Bearer")


def test_an_expired_token_is_refused(client, team):
    from sqlmodel import select

    from promptmgr.models_tokens import ApiToken

    token = make_token(team, name="short", expires="1h")
    assert client.get(f"{API}/prompts", headers=bearer(token)).status_code == 200
    with team.services.db.session(write=True) as session:
        row = session.exec(select(ApiToken).where(ApiToken.name == "short")).one()
        row.expires_at = datetime.now(timezone.utc) - timedelta(seconds=1)
        session.add(row)
    api_error(client.get(f"{API}/prompts", headers=bearer(token)), 401, "unauthenticated")


def test_a_revoked_token_is_refused_at_once_and_both_are_audited(client, team):
    token = make_token(team, name="ci")
    assert _prompt(client, token).status_code == 201
    team.services.api_tokens.revoke(team.ctx("alpha"), "ci")
    api_error(client.get(f"{API}/prompts", headers=bearer(token)), 401, "unauthenticated")
    events = team.services.audit.list(team.ctx("alpha")).items
    by_action = {e.action: e for e in events}
    assert {"token.create", "token.revoke", "prompt.create"} <= set(by_action)
    assert by_action["prompt.create"].token_id is not None  # the write names the token that made it
    assert by_action["prompt.create"].actor == team.users["editor"]


def test_a_read_only_token_reads_but_cannot_write(client, team):
    writer, reader = make_token(team, "editor"), make_token(team, "editor", role="viewer")
    assert _prompt(client, writer).status_code == 201
    assert client.get(f"{API}/prompts/greet", headers=bearer(reader)).status_code == 200
    api_error(_prompt(client, reader, "other"), 403, "forbidden")
    api_error(client.delete(f"{API}/prompts/greet", headers=bearer(reader)), 403, "forbidden")
    assert [p["name"] for p in client.get(f"{API}/prompts", headers=bearer(reader)).json()["items"]] == ["greet"]


def test_a_demoted_member_demotes_their_tokens(client, team):
    token = make_token(team, "editor")
    team.services.accounts.set_role(team.ctx("alpha"), team.users["editor"], "viewer")
    api_error(_prompt(client, token), 403, "forbidden")
    team.services.accounts.remove_member(team.ctx("alpha"), team.users["editor"])
    api_error(client.get(f"{API}/prompts", headers=bearer(token)), 401, "unauthenticated")


def test_a_token_of_one_workspace_never_reads_another(client, team):
    beta_token = make_token(team, workspace="beta", user=team.both)  # a viewer in beta
    alpha_token = make_token(team, user=team.both)  # the same person, an editor in alpha
    assert _prompt(client, alpha_token, "alpha-secret").status_code == 201
    api_error(client.get(f"{API}/prompts/alpha-secret", headers=bearer(beta_token)), 404, "not_found")
    assert client.get(f"{API}/prompts", headers=bearer(beta_token)).json()["total"] == 0
    assert client.get(f"{API}/prompts?q=secret", headers=bearer(beta_token)).json()["items"] == []
    api_error(client.get(f"{API}/prompts/alpha-secret/versions", headers=bearer(beta_token)), 404, "not_found")


def test_a_protected_label_needs_an_admin_token(client, team):
    editor, admin = make_token(team, "editor"), make_token(team, "admin")
    assert _prompt(client, editor).status_code == 201
    api_error(client.put(f"{API}/prompts/greet/labels/production", headers=bearer(editor)), 403, "forbidden")
    assert client.put(f"{API}/prompts/greet/labels/staging", headers=bearer(editor)).json() == {"staging": 1}
    assert client.put(f"{API}/prompts/greet/labels/production", headers=bearer(admin)).json()["production"] == 1
    api_error(client.delete(f"{API}/prompts/greet/labels/production", headers=bearer(editor)), 403, "forbidden")
    # The workspace's own list of protected labels applies to tokens too.
    team.services.accounts.update_settings(team.ctx("alpha"), protected_labels=["staging"])
    api_error(client.delete(f"{API}/prompts/greet/labels/staging", headers=bearer(editor)), 403, "forbidden")
    assert client.put(f"{API}/prompts/greet/labels/production", headers=bearer(editor)).status_code == 200


@pytest.fixture
def tokens_cli(cli):
    assert cli("admin", "create-workspace", "acme", "--name", "Acme").code == 0
    assert cli("admin", "create-user", "dev@example.com", "--workspace", "acme", "--role", "editor",
               input="a long enough password 1\n").code == 0
    return cli


def test_cli_creates_lists_and_revokes_tokens(tokens_cli, cli_env):
    from promptmgr.cli import common

    made = tokens_cli("tokens", "create", "deploy", "--user", "dev@example.com", "--workspace", "acme", "--role",
                      "viewer", "--expires", "30d", "--json")
    assert made.code == 0, made.err
    data = made.json()
    assert data["name"] == "deploy" and data["token"].startswith("pm_") and data["role"] == "viewer"
    services = common.services()
    assert services.api_tokens.authenticate(data["token"]).role == "viewer"
    listed = tokens_cli("tokens", "list", "--json").json()
    assert [(t["name"], t["workspace"], t["status"]) for t in listed] == [("deploy", "acme", "active")]
    assert data["token"] not in tokens_cli("tokens", "list", "--json").out
    assert "deploy" in tokens_cli("tokens", "list").out
    assert tokens_cli("tokens", "revoke", "deploy").code == 0
    assert tokens_cli("tokens", "list", "--json").json()[0]["status"] == "revoked"
    from promptmgr.errors import AuthenticationError

    with pytest.raises(AuthenticationError):
        services.api_tokens.authenticate(data["token"])
    missing = tokens_cli("tokens", "revoke", "nope")
    assert missing.code == 1 and "nope" in missing.err
    above = tokens_cli("tokens", "create", "x", "--user", "dev@example.com", "--workspace", "acme", "--role", "admin")
    assert above.code == 1 and "Traceback" not in above.err
