"""The audit log on SQLite and PostgreSQL: every write records exactly one row in its own transaction
(a failed write leaves none), the log is append-only (no method changes a row and the database refuses
UPDATE and DELETE), reads are tenant-scoped and need an admin, and secrets never reach a row."""
from __future__ import annotations

import csv
import io
import itertools
import json
import string
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlmodel import select

from promptmgr.errors import ConflictError, PermissionDeniedError, ValidationError
from promptmgr.models_audit import AuditEvent
from promptmgr.repositories.audit import AuditRepository
from promptmgr.schemas import PromptCreate, PromptUpdate, parse
from promptmgr.services.audit import REDACTED, AuditService, is_secret_field, parse_since, redact

MODEL = "fake/model-a"


def _rows(services) -> list[AuditEvent]:
    """Every audit row of every tenant, oldest first (straight from the table)."""
    with services.db.session() as session:
        return list(session.exec(select(AuditEvent).order_by(AuditEvent.id)).all())


class Recorder:
    """Runs one write and returns the audit rows it added."""

    def __init__(self, services):
        self.services = services

    def __call__(self, write) -> list[AuditEvent]:
        seen = len(_rows(self.services))
        write()
        return _rows(self.services)[seen:]


def _csv(tmp_path, name: str, body: str):
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def test_every_write_records_exactly_one_row_with_its_action_and_target(services, ctx, fake_llm, tmp_path):
    s, who = services, ctx.with_origin("203.0.113.7", "pytest-agent/1.0")
    added = Recorder(s)
    doc = {"format": "promptmgr-library", "prompts": [{"name": "imported", "versions": [{"content": "x"}]}]}
    steps = [
        ("prompt.create", "prompt", "greet",
         lambda: s.library.create(who, parse(PromptCreate, {"name": "greet", "content": "Hi {{ who }}"}))),
        ("prompt.update", "prompt", "greet",
         lambda: s.library.update(who, "greet", parse(PromptUpdate, {"content": "Hello {{ who }}",
                                                                     "base_version": 1, "title": "Greeting"}))),
        ("prompt.restore", "prompt", "greet", lambda: s.library.restore(who, "greet", 1)),
        ("prompt.label_set", "prompt", "greet", lambda: s.library.set_label(who, "greet", "production", 2)),
        ("prompt.label_remove", "prompt", "greet", lambda: s.library.remove_label(who, "greet", "production")),
        ("library.import", "library", "", lambda: s.transfer.import_(who, doc)),
        ("prompt.delete", "prompt", "imported", lambda: s.library.delete(who, "imported")),
        ("provider.add", "provider", "fake",
         lambda: s.providers.add(who, "fake", fake_llm.base_url, api_key="sk-audit-secret-0123456789")),
        ("provider.add", "provider", "spare", lambda: s.providers.add(who, "spare", "http://127.0.0.1:9/v1")),
        ("provider.remove", "provider", "spare", lambda: s.providers.remove(who, "spare")),
        ("price.set", "model", MODEL, lambda: s.providers.set_price(who, MODEL, 0.1, 0.2, 4096)),
        ("price.remove", "model", MODEL, lambda: s.providers.remove_price(who, MODEL)),
        ("default_model.set", "user", str(ctx.user_id), lambda: s.providers.set_default_model(who, MODEL)),
        ("dataset.add", "dataset", "rows", lambda: s.datasets.add(who, "rows", _csv(tmp_path, "a.csv", "who\nAda\n"))),
        ("dataset.version", "dataset", "rows",
         lambda: s.datasets.add(who, "rows", _csv(tmp_path, "b.csv", "who\nAda\nBob\n"))),
        ("dataset.add", "dataset", "spare-rows",
         lambda: s.datasets.add(who, "spare-rows", _csv(tmp_path, "c.csv", "who\nx\n"))),
        ("dataset.remove", "dataset", "spare-rows", lambda: s.datasets.remove(who, "spare-rows")),
        ("experiment.create", "experiment", "ab",
         lambda: s.experiments.create(who, "ab", dataset="rows", prompts=["greet"], models=[MODEL])),
        ("experiment.run", "experiment", "ab", lambda: s.experiment_runs.run(who, "ab")),
        ("experiment.resume", "experiment", "ab", lambda: s.experiment_runs.resume(who, "ab")),
        ("experiment.create", "experiment", "cd",
         lambda: s.experiments.create(who, "cd", dataset="rows", prompts=["greet"], models=[MODEL])),
        ("experiment.cancel", "experiment", "cd", lambda: s.experiment_runs.cancel(who, "cd")),
        ("experiment.remove", "experiment", "cd", lambda: s.experiments.remove(who, "cd")),
    ]
    for action, target_type, target, write in steps:
        rows = added(write)
        assert [(r.action, r.target_type, r.target) for r in rows] == [(action, target_type, target)], action
        row = rows[0]
        assert (row.tenant_id, row.actor_id, row.actor) == (ctx.tenant_id, ctx.user_id, "local")
        assert (row.address, row.user_agent) == ("203.0.113.7", "pytest-agent/1.0")
        assert row.created_at is not None
    # Hosted mode's writes record through the accounts services' hook (actor and workspace, no request).
    rows = added(lambda: s.accounts.update_settings(who, name="Team", protected_labels=["production", "release"]))
    assert [(r.action, r.target_type, r.target, r.tenant_id, r.actor) for r in rows] == [
        ("workspace.settings", "workspace", "local", ctx.tenant_id, "local")]
    assert rows[0].after["protected_labels"] == ["production", "release"]
    rows = added(lambda: s.accounts.invite(who, "ada@example.org", "editor"))
    assert [(r.action, r.target, r.after) for r in rows] == [("member.invited", "ada@example.org", {"role": "editor"})]
    # Labelling a finished cell of the experiment that ran.
    with s.db.session() as session:
        cell_id = session.exec(text("SELECT id FROM experiment_cell WHERE status = 'done' ORDER BY id")).first()[0]
    rows = added(lambda: s.results.label(who, "ab", cell_id, True, score=1.0, comment="good"))
    assert [(r.action, r.target) for r in rows] == [("experiment.label_cell", f"ab#{cell_id}")]
    assert rows[0].after == {"pass": True, "score": 1.0, "comment": "good"}
    # What changed is recorded, before and after.
    events = {e.action: e for e in s.audit.list(ctx, {"limit": 100}).items}
    assert events["prompt.update"].before == {"version": 1, "title": ""}
    assert events["prompt.update"].after == {"version": 2, "title": "Greeting"}
    assert events["prompt.label_set"].after == {"label": "production", "version": 2}
    assert events["library.import"].after["created"] == ["imported"]
    keys = {e.target: e.after["api_key"] for e in s.audit.list(ctx, {"action": "provider.add"}).items}
    assert keys == {"fake": REDACTED, "spare": None}  # whether a key was set, never the key


def test_a_failed_write_leaves_no_audit_row(services, ctx, monkeypatch, tmp_path):
    s = services
    s.library.create(ctx, parse(PromptCreate, {"name": "greet", "content": "Hi"}))
    added = Recorder(s)
    # Failing before the change: a stale edit, an empty dataset file, a bad setting.
    with pytest.raises(ConflictError):
        added(lambda: s.library.update(ctx, "greet", parse(PromptUpdate, {"content": "x", "base_version": 7})))
    with pytest.raises(ValidationError):
        s.datasets.add(ctx, "empty", _csv(tmp_path, "e.csv", "who\n"))
    with pytest.raises(ValidationError):
        s.accounts.update_settings(ctx, require_mfa="sometimes")
    assert added(lambda: None) == [] and len(_rows(s)) == 1
    # Failing after the audit row was written, inside the same transaction: both roll back.
    from promptmgr.services.library import LibraryService

    def broken(*_args, **_kwargs):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(LibraryService, "_public", staticmethod(broken))
    with pytest.raises(RuntimeError):
        s.library.create(ctx, parse(PromptCreate, {"name": "lost", "content": "x"}))
    monkeypatch.undo()
    assert [r.action for r in _rows(s)] == ["prompt.create"]
    assert [p.name for p in s.library.list(ctx).items] == ["greet"]


def test_the_log_is_append_only(services, ctx):
    for cls in (AuditRepository, AuditService):
        writers = [name for name in dir(cls) if any(word in name.lower() for word in
                                                    ("update", "delete", "remove", "save", "edit", "clear", "purge"))]
        assert writers == [], f"{cls.__name__} must not change audit rows: {writers}"
    services.library.create(ctx, parse(PromptCreate, {"name": "greet", "content": "Hi"}))
    for statement in ("UPDATE audit_event SET actor = 'mallory'", "DELETE FROM audit_event"):
        with pytest.raises(Exception) as err:
            with services.db.session(write=True) as session:
                session.execute(text(statement))
        assert "append-only" in str(err.value)
    assert [(r.actor, r.action) for r in _rows(services)] == [("local", "prompt.create")]


def test_reading_needs_an_admin_and_sees_only_its_own_workspace(services, ctx):
    services.library.create(ctx, parse(PromptCreate, {"name": "mine", "content": "Hi"}))
    other, _ = services.admin.ensure_tenant("other", "Other team", "olga")
    services.library.create(other, parse(PromptCreate, {"name": "theirs", "content": "Hi"}))
    assert [e.target for e in services.audit.list(ctx).items] == ["mine"]
    assert [e.target for e in services.audit.list(other).items] == ["theirs"]
    assert "theirs" not in services.audit.export_csv(ctx)
    for role in ("viewer", "editor"):
        for read in (services.audit.list, services.audit.actions, services.audit.export_csv):
            with pytest.raises(PermissionDeniedError):
                read(replace(ctx, role=role))
    assert services.audit.list(replace(ctx, role="admin")).total == 1


def test_filters_paging_and_csv(services, ctx):
    for n in range(5):
        services.library.create(ctx, parse(PromptCreate, {"name": f"p{n}", "content": "Hi"}))
    services.library.set_label(ctx, "p3", "staging")
    audit = services.audit
    page = audit.list(ctx, {"limit": 2, "offset": 1})
    assert (page.total, [e.target for e in page.items]) == (6, ["p4", "p3"])
    assert [e.action for e in audit.list(ctx, {"action": "prompt.label_set"}).items] == ["prompt.label_set"]
    assert audit.list(ctx, {"action": "prompt"}).total == 6  # a group: every prompt.* action
    assert [e.target for e in audit.list(ctx, {"target": "P2"}).items] == ["p2"]
    assert audit.list(ctx, {"target": "prompt"}).total == 6  # a target type
    assert audit.list(ctx, {"actor": "LOC"}).total == 6 and audit.list(ctx, {"actor": "mallory"}).total == 0
    assert audit.list(ctx, {"since": datetime.now(timezone.utc) + timedelta(minutes=1)}).total == 0
    assert audit.list(ctx, {"since": parse_since("1h")}).total == 6
    assert audit.list(ctx, {"target": "100%_"}).total == 0  # LIKE wildcards are matched literally
    table = list(csv.DictReader(io.StringIO(audit.export_csv(ctx, {"action": "prompt.label_set"}))))
    assert [(r["actor"], r["action"], r["target"]) for r in table] == [("local", "prompt.label_set", "p3")]
    assert json.loads(table[0]["after"]) == {"label": "staging", "version": 1}
    assert audit.actions(ctx) == ["prompt.create", "prompt.label_set"]
    with pytest.raises(ValidationError):
        audit.list(ctx, {"limit": 10_000})


def test_parse_since():
    now = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)
    assert parse_since("1d", now) == now - timedelta(days=1)
    assert parse_since(" 30m ", now) == now - timedelta(minutes=30)
    assert parse_since("2w", now) == now - timedelta(weeks=2)
    assert parse_since("2026-12-01", now) == datetime(2026, 12, 1, tzinfo=timezone.utc)
    assert parse_since("", now) is None
    with pytest.raises(ValidationError) as err:
        parse_since("yesterday", now)
    assert "30m" in err.value.translate("en")


def test_one_redaction_rule():
    for name in ("api_key", "apiKey", "password_hash", "mfa_secret", "refresh-token", "recovery_codes", "TOKEN",
                 "api_key_encrypted", "session_cookie"):
        assert is_secret_field(name), name
    for name in ("name", "base_url", "version", "label", "monkey", "tokenizer_name"):
        assert not is_secret_field(name), name
    value = {"name": "x", "api_key": "sk-123", "nested": [{"password": "hunter2", "empty_token": ""}],
             "url": "https://user:pa55w0rd@example.com/v1", "long": "y" * 2000}
    clean = redact(value)
    assert clean["api_key"] == REDACTED and clean["nested"][0] == {"password": REDACTED, "empty_token": None}
    assert "pa55w0rd" not in clean["url"] and len(clean["long"]) < 600
    assert "sk-123" not in json.dumps(clean) and "hunter2" not in json.dumps(clean)


_names = (f"k{n}" for n in itertools.count())


@settings(max_examples=15)
@given(key=st.text(alphabet=string.ascii_letters + string.digits + "-_.", min_size=8, max_size=80),
       password=st.text(alphabet=string.ascii_letters + string.digits, min_size=8, max_size=20))
def test_provider_keys_never_reach_the_audit_log(services, ctx, key, password):
    name = next(_names)
    url = f"http://user:{password}@127.0.0.1:9/v1?api_key={key}"
    services.providers.add(ctx, name, url, api_key=key)
    services.providers.remove(ctx, name)
    stored = json.dumps([(r.before, r.after, r.target, r.actor) for r in _rows(services)])
    exported = services.audit.export_csv(ctx)
    for secret in (key, password):
        assert secret not in stored and secret not in exported
    assert _rows(services)[-1].before["api_key"] == REDACTED


def test_account_events_never_store_a_password_or_link(services, ctx):
    member = services.accounts.create_user(ctx, "bob@example.org", "a long unusual passphrase", "editor")
    link = services.accounts.reset_link(ctx, member["user_id"])
    services.accounts.set_role(ctx, "bob@example.org", "viewer")
    stored = json.dumps([(r.action, r.target, r.before, r.after) for r in _rows(services)])
    assert "a long unusual passphrase" not in stored and link["token"] not in stored
    events = services.audit.list(ctx).items
    assert [(e.action, e.target) for e in events] == [("member.role", "bob@example.org"),
                                                        ("password.reset_link", "bob@example.org"),
                                                        ("member.added", "bob@example.org")]
    assert (events[0].before, events[0].after) == ({"role": "editor"}, {"role": "viewer"})


def test_cli_admin_audit(cli, cli_env):
    assert cli("prompts", "add", "from-cli", "--content", "Hi").code == 0
    result = cli("admin", "audit", "--json")
    assert result.code == 0, result.err
    events = result.json()
    assert [(e["action"], e["target"], e["actor"]) for e in events] == [("prompt.create", "from-cli", "local")]
    assert {"time", "actor", "action", "target"} <= set(events[0])
    assert events[0]["address"] == "local"  # the CLI's context says where a terminal write came from
    assert len(cli("admin", "audit", "--since", "1d", "--workspace", "local", "--json").json()) == 1
    assert cli("admin", "audit", "--since", "2026-01-01T00:00:00+00:00", "--action", "dataset", "--json").json() == []
    table = cli("admin", "audit", "--action", "prompt.create")
    assert table.code == 0 and "from-cli" in table.out and "ACTION" in table.out
    bad = cli("admin", "audit", "--since", "soon")
    assert bad.code == 1 and "30m" in bad.err
    missing = cli("admin", "audit", "--workspace", "nowhere")
    assert missing.code == 1 and "nowhere" in missing.err


def test_cli_admin_audit_in_hosted_mode_names_the_workspace(cli, cli_env, monkeypatch):
    from promptmgr.cli import common
    from promptmgr.config import get_settings
    from tests.accounts_helpers import SECRET

    monkeypatch.setenv("PROMPTMGR_MODE", "multi")
    monkeypatch.setenv("PROMPTMGR_SECRET_KEY", SECRET)
    get_settings.cache_clear()
    common.services.cache_clear()
    result = cli("admin", "audit")
    assert result.code == 1 and "--workspace" in result.err
    assert cli("admin", "create-workspace", "team", "--name", "Team").code == 0
    events = cli("admin", "audit", "--workspace", "team", "--json").json()
    assert [(e["action"], e["target"]) for e in events] == [("workspace.created", "team")]
