"""`promptmgr admin ...`: operator commands for hosted mode; passwords come from standard input."""
from __future__ import annotations

import pytest

PASSWORD = "a long unusual passphrase"


@pytest.fixture
def admin_cli(cli, monkeypatch):
    monkeypatch.setenv("PROMPTMGR_ARGON2_MEMORY_KIB", "64")  # cheap hashes in tests
    monkeypatch.setenv("PROMPTMGR_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("PROMPTMGR_SECRET_KEY", "cli-test-secret-key-0123456789")
    return cli


def test_create_workspace_user_role_and_list(admin_cli):
    cli = admin_cli
    made = cli("admin", "create-workspace", "team", "--name", "The Team", "--json")
    assert made.code == 0, made.err
    assert made.json()["slug"] == "team"
    created = cli("admin", "create-user", "Ada@Example.org", "--workspace", "team", "--role", "admin",
                  input=PASSWORD + "\n")
    assert created.code == 0, created.err
    assert "ada@example.org" in created.out and PASSWORD not in created.out + created.err
    assert cli("admin", "create-user", "bob@example.org", "--workspace", "team", "--role", "viewer",
               input=PASSWORD + "\n").code == 0
    assert cli("admin", "set-role", "bob@example.org", "--workspace", "team", "--role", "editor").code == 0

    listed = cli("admin", "users", "--workspace", "team", "--json")
    assert listed.code == 0, listed.err
    rows = listed.json()
    assert [{k: r[k] for k in ("email", "workspace", "role")} for r in rows] == [
        {"email": "ada@example.org", "workspace": "team", "role": "admin"},
        {"email": "bob@example.org", "workspace": "team", "role": "editor"}]
    everyone = cli("admin", "users", "--json").json()  # every workspace, the local one included
    assert {(r["email"], r["workspace"]) for r in everyone} >= {("ada@example.org", "team"),
                                                                 ("bob@example.org", "team")}
    human = cli("admin", "users", "--workspace", "team")
    assert "EMAIL" in human.out and "bob@example.org" in human.out

    from promptmgr.cli.common import services

    assert services().auth.login("ada@example.org", PASSWORD).session.context.role == "admin"


def test_passwords_are_never_arguments_and_bad_input_is_one_line(admin_cli):
    cli = admin_cli
    cli("admin", "create-workspace", "team", "--name", "Team")
    as_option = cli("admin", "create-user", "x@example.org", "--workspace", "team", "--password", PASSWORD)
    assert as_option.code != 0
    weak = cli("admin", "create-user", "x@example.org", "--workspace", "team", input="short\n")
    assert weak.code == 1 and "at least 10 characters" in weak.err and "Traceback" not in weak.err
    missing = cli("admin", "create-user", "x@example.org", "--workspace", "team", input="")
    assert missing.code == 1 and "needs a password" in missing.err
    unknown = cli("admin", "set-role", "x@example.org", "--workspace", "nowhere", "--role", "editor")
    assert unknown.code == 1 and "nowhere" in unknown.err
    bad_role = cli("admin", "create-user", "x@example.org", "--workspace", "team", "--role", "god",
                   input=PASSWORD + "\n")
    assert bad_role.code == 1 and "god" in bad_role.err
