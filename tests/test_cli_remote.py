"""`promptmgr prompts ...` in remote mode (PROMPTMGR_SERVER + PROMPTMGR_TOKEN, or --server/--token):
the same output, text and --json, and the same exit codes and error lines as the local CLI.

The server (a live uvicorn, tests/live_server.py) serves the very database the local CLI uses, with a
token of the local library's own user: any difference in output is the remote path's doing."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from tests.conftest import ROOT
from tests.live_server import LiveServer
from tests.test_cli_prompts import seed

CHAT = [{"role": "system", "content": "You help {{ name }}."}, {"role": "user", "content": ["{{ question }}"]}]


@dataclass
class Remote:
    live: LiveServer
    token: str
    services: object


@contextmanager
def environment(**values):
    """Set (or, for None, remove) variables for one CLI run; the settings are read again."""
    from promptmgr.config import get_settings

    saved = {k: os.environ.get(k) for k in values}
    try:
        for key, value in values.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
        get_settings.cache_clear()
        yield
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
        get_settings.cache_clear()


@pytest.fixture
def remote(cli, tmp_path, db_url):
    from sqlmodel import select

    from promptmgr.bootstrap import build_services
    from promptmgr.models import User
    from tests.web_fixtures import multi_settings

    seed(cli, "greet", "Hello {{ name }}!", "--category", "demo", "--tag", "a", "--tag", "b", "--title", "Greeter",
         "-m", "first")
    assert cli("prompts", "edit", "greet", "--content", "Hello {{ name }}, welcome!", "-m", "second").code == 0
    assert cli("prompts", "label", "greet", "production", "--version", "1").code == 0
    seed(cli, "typed", "{{ n }} items", "--var-spec", "n:integer:3", "--category", "demo")
    path = tmp_path / "chat.json"
    path.write_text(json.dumps(CHAT), encoding="utf-8")
    assert cli("prompts", "add", "chat", "--chat", "--file", str(path), "--tag", "a").code == 0
    for twin in ("w-local", "w-remote"):
        seed(cli, twin, "Draft {{ x }}")
        assert cli("prompts", "edit", twin, "--content", "Second {{ x }}").code == 0
    # The same database served in hosted mode, with a token of the local library's own user.
    services = build_services(multi_settings(tmp_path / "server-home", db_url))
    with services.db.session(write=True) as session:
        user = session.exec(select(User).where(User.username == "local")).one()
        user.email = "local@example.com"
        session.add(user)
    made = services.api_tokens.create(services.accounts.operator_context("local"), "cli", "local@example.com")
    live = LiveServer(services)
    yield Remote(live, made["token"], services)
    live.stop()
    services.db.dispose()


def local(cli, *args):
    with environment(PROMPTMGR_SERVER=None, PROMPTMGR_TOKEN=None):
        return cli(*args)


def over_env(cli, remote, *args, **extra):
    with environment(PROMPTMGR_SERVER=remote.live.url, PROMPTMGR_TOKEN=remote.token, **extra):
        return cli(*args)


def over_options(cli, remote, *args):
    assert args[0] == "prompts"
    with environment(PROMPTMGR_SERVER=None, PROMPTMGR_TOKEN=None):
        return cli("prompts", "--server", remote.live.url, "--token", remote.token, *args[1:])


def outcome(result):
    return result.code, result.out, result.err


READS = [
    ("prompts", "list"), ("prompts", "list", "--json"), ("prompts", "list", "--category", "demo", "--sort", "name"),
    ("prompts", "list", "--limit", "1", "--json"), ("prompts", "list", "--tag", "a", "--kind", "chat"),
    ("prompts", "list", "--offset", "50"), ("prompts", "search", "hello"), ("prompts", "search", "items", "--json"),
    ("prompts", "show", "greet"), ("prompts", "show", "greet", "--json"),
    ("prompts", "show", "greet", "--label", "production"), ("prompts", "show", "greet", "--version", "1", "--json"),
    ("prompts", "show", "chat"), ("prompts", "show", "typed", "--json"),
    ("prompts", "history", "greet"), ("prompts", "history", "greet", "--json"), ("prompts", "diff", "greet", "1", "2"),
    ("prompts", "diff", "greet", "2", "2"),
    ("prompts", "render", "greet", "--var", "name=Ada"), ("prompts", "render", "greet", "--label", "production",
                                                          "--var", "name=Ada", "--json"),
    ("prompts", "render", "typed"), ("prompts", "render", "typed", "--var", "n=7", "--json"),
    ("prompts", "render", "chat", "--var", "name=Ada", "--var", "question=Why?"),
    ("prompts", "render", "chat", "--var", "name=Ada", "--var", "question=Why?", "--json"),
    ("categories",), ("categories", "--json"), ("tags",), ("tags", "--json"),
]
ERRORS = [
    ("prompts", "show", "nope"), ("prompts", "show", "greet", "--version", "9"),
    ("prompts", "show", "greet", "--label", "staging"), ("prompts", "render", "greet"),
    ("prompts", "render", "typed", "--var", "n=many"), ("prompts", "diff", "greet", "1", "9"),
    ("prompts", "history", "nope", "--json"), ("prompts", "show", "greet", "--version", "1", "--label", "x"),
    ("prompts", "rm", "greet"), ("prompts", "rm", "nope"), ("prompts", "list", "--limit", "0"),
    ("prompts", "label", "nope", "staging"), ("prompts", "restore", "greet", "7"),
    ("prompts", "show", ""), ("prompts", "show", ".."), ("prompts", "history", "a/b"), ("prompts", "show", "x?y#z"),
]


def test_reads_print_the_same_as_local(cli, remote):
    for args in READS:
        expected = outcome(local(cli, *args))
        assert expected[0] == 0, (args, expected)
        assert outcome(over_env(cli, remote, *args)) == expected, args
        if args[0] == "prompts":
            assert outcome(over_options(cli, remote, *args)) == expected, args
    # Every one of them went to the server.
    assert len(remote.live.log) >= 2 * len(READS) - 4


def test_errors_print_the_same_line_with_the_same_exit_code(cli, remote):
    for args in ERRORS:
        expected = outcome(local(cli, *args))
        assert expected[0] == 1 and expected[2].startswith("Error: "), (args, expected)
        assert outcome(over_env(cli, remote, *args)) == expected, args
    # In the caller's language too (the server answers in the language the CLI sends).
    with environment(PROMPTMGR_LOCALE="de"):
        expected = outcome(local(cli, "prompts", "render", "greet"))
        assert "name" in expected[2] and expected[2] != outcome(local(cli, "prompts", "show", "nope"))[2]
        assert outcome(over_env(cli, remote, "prompts", "render", "greet")) == expected


def twin_outputs(cli, remote, *args, json_out=False):
    """The same write on twin prompts, locally on w-local and remotely on w-remote."""
    here = local(cli, *[a.replace("NAME", "w-local") for a in args])
    there = over_env(cli, remote, *[a.replace("NAME", "w-remote") for a in args])
    return outcome(here), tuple(x.replace("w-remote", "w-local") if isinstance(x, str) else x
                                for x in outcome(there))


def test_writes_print_the_same_and_land_on_the_server(cli, remote):
    for args in [
        ("prompts", "edit", "NAME", "--content", "Third {{ x }} {{ y }}", "-m", "third"),
        ("prompts", "edit", "NAME", "--title", "Titled", "--tag", "t1", "--category", "cat"),
        ("prompts", "edit", "NAME", "--content", "stale", "--base-version", "1"),  # a conflict: exit 1
        ("prompts", "edit", "NAME"),  # nothing to change
        ("prompts", "label", "NAME", "staging", "--version", "2"),
        ("prompts", "label", "NAME", "staging", "--remove"),
        ("prompts", "restore", "NAME", "1"),
        ("prompts", "diff", "NAME", "1", "4"),
        ("prompts", "history", "NAME"),
        ("prompts", "rm", "NAME", "--yes"),
        ("prompts", "add", "NAME", "--content", "Anew {{ z }}", "--public", "--var-spec", "z:number:1.5"),
        ("prompts", "add", "NAME", "--content", "again"),  # a duplicate: exit 1
        ("prompts", "render", "NAME", "--var", "z=2"),
    ]:
        here, there = twin_outputs(cli, remote, *args)
        assert there == here, args
    shown = {name: local(cli, "prompts", "show", name, "--json").json() for name in ("w-local", "w-remote")}
    assert shown["w-remote"]["content"] == "Anew {{ z }}" and shown["w-remote"]["visibility"] == "public"
    same = {k: v for k, v in shown["w-local"].items() if not k.endswith("_at") and k != "name"}
    assert {k: v for k, v in shown["w-remote"].items() if not k.endswith("_at") and k != "name"} == same
    # The remote writes were the server's: its audit log names the token's user.
    assert any(e["method"] == "PATCH" and e["path"].endswith("/prompts/w-remote") for e in remote.live.log)


def refused_line():
    from promptmgr.i18n import t

    return 1, "", f"Error: {t('client.cli.local_only', 'en')}\n"


def test_commands_not_routed_to_the_api_refuse_in_remote_mode(cli, remote, tmp_path):
    exported, target = tmp_path / "library.json", tmp_path / "out.json"
    assert local(cli, "export", str(exported)).code == 0  # locally it works
    before = len(remote.live.log)
    refused = over_env(cli, remote, "export", str(target))
    assert outcome(refused) == refused_line()
    assert not target.exists()
    for args in (("runs", "list"), ("datasets", "list"), ("import", str(exported))):
        assert outcome(over_env(cli, remote, *args)) == refused_line(), args
    assert len(remote.live.log) == before  # refused before anything was asked of the server


def test_remote_mode_needs_a_token_and_an_http_address(cli, remote):
    from promptmgr.i18n import t

    with environment(PROMPTMGR_SERVER=None, PROMPTMGR_TOKEN=None):
        no_token = cli("prompts", "--server", remote.live.url, "list")
    assert outcome(no_token) == (1, "", f"Error: {t('client.cli.token_required', 'en', origin='--server')}\n")
    with environment(PROMPTMGR_SERVER=remote.live.url, PROMPTMGR_TOKEN=None):
        assert "PROMPTMGR_SERVER" in cli("prompts", "list").err
    bad = over_env(cli, remote, "prompts", "--server", "ftp://example.org", "list")
    assert bad.code == 1 and "ftp://example.org" in bad.err
    wrong = over_env(cli, remote, "prompts", "--token", "pm_wrong", "list")
    assert outcome(wrong) == (1, "", f"Error: {t('api.tokens.invalid', 'en')}\n")


def test_a_server_that_is_down_is_one_error_line(cli, remote):
    url = remote.live.url
    remote.live.stop()
    down = over_env(cli, remote, "prompts", "list")
    assert down.code == 1 and down.out == "" and len(down.err.splitlines()) == 1
    assert down.err.startswith(f"Error: Cannot reach the promptmgr server at {url}")


def test_a_real_process_reads_the_server_from_the_environment(cli, remote, cli_env):
    expected = local(cli, "prompts", "list", "--json")
    env = {**cli_env, "PROMPTMGR_SERVER": remote.live.url, "PROMPTMGR_TOKEN": remote.token,
           "DATABASE_URL": "sqlite:////nonexistent/never-opened.db"}  # remote mode never opens a database
    done = subprocess.run([sys.executable, "-m", "promptmgr", "prompts", "list", "--json"], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == outcome(expected)
