"""/api/v1 analytics, export and import over HTTP (SQLite and PostgreSQL): the analytics are the numbers
`promptmgr stats --json` prints for the same workspace, a viewer may read them and never another
workspace's; a library exported from one workspace imports into another as it was (every version,
label and field), with the conflict policies and their policy (overwrite needs an admin); a bad or
oversized document writes nothing."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tests.api_helpers import API, api_error, bearer, make_token
from tests.test_analytics import seed
from tests.test_cli_stats import NOW, RUNS
from tests.web_fixtures import PASSWORD

pytest_plugins = ("tests.api_helpers",)


# --- analytics ---------------------------------------------------------------------------------


def _cli_stats(team, monkeypatch, capsys, **options) -> dict:
    """`promptmgr stats --json` as the alpha workspace's owner (the CLI's own command and output)."""
    from promptmgr.cli import stats

    monkeypatch.setattr(stats, "services", lambda: team.services)
    monkeypatch.setattr(stats, "context", lambda: team.ctx("alpha"))
    capsys.readouterr()
    stats.stats(**{"since": None, "until": None, "by": "model", "limit": 20, "as_json": True, **options})
    return json.loads(capsys.readouterr().out)


def test_analytics_are_the_numbers_of_promptmgr_stats(client, team, monkeypatch, capsys):
    seed(team.services, team.ctx("alpha"), RUNS)
    viewer = bearer(make_token(team, "viewer"))  # reading analytics is a viewer's action in the policy
    everything = client.get(f"{API}/analytics", headers=viewer)
    assert everything.status_code == 200, everything.text
    data = everything.json()
    assert (data["totals"]["calls"], data["totals"]["tokens"], data["totals"]["cost"]) == (4, 192, 2.5)
    for by, key in (("model", "models"), ("prompt", "prompts"), ("day", "timeline")):
        cli = _cli_stats(team, monkeypatch, capsys, by=by)
        assert data["totals"] == cli["totals"], by
        assert data[key] == cli["rows"], by
    since = (NOW - timedelta(days=7)).date().isoformat()
    weekly = client.get(f"{API}/analytics?since={since}&bucket=week&top=1", headers=viewer).json()
    cli = _cli_stats(team, monkeypatch, capsys, by="week", since=since)
    assert weekly["totals"] == cli["totals"] and weekly["timeline"] == cli["rows"] and weekly["totals"]["calls"] == 3
    assert weekly["prompts"] == _cli_stats(team, monkeypatch, capsys, by="prompt", since=since, limit=1)["rows"]
    assert weekly["period"]["since"].startswith(since) and weekly["bucket"] == "week"
    # Another workspace's reader sees none of it.
    beta = bearer(make_token(team, workspace="beta", user=team.both))
    assert client.get(f"{API}/analytics", headers=beta).json()["totals"]["calls"] == 0


def test_analytics_refuse_bad_periods(client, team):
    viewer = bearer(make_token(team, "viewer"))
    error = api_error(client.get(f"{API}/analytics?since=yesterday-ish", headers=viewer), 422, "invalid")
    assert "since" in error["message"]
    api_error(client.get(f"{API}/analytics?since=2026-02-01&until=2026-01-01", headers=viewer), 422, "invalid")
    api_error(client.get(f"{API}/analytics?bucket=month", headers=viewer), 422, "invalid")
    api_error(client.get(f"{API}/analytics?top=0", headers=viewer), 422, "invalid")


# --- export and import --------------------------------------------------------------------------
def _library(client, editor):
    made = [
        client.post(f"{API}/prompts", json={"name": "greet", "content": "Hi {{ name }}", "category": "demo",
                                            "tags": ["a", "b"], "title": "Greeting"}, headers=editor),
        client.patch(f"{API}/prompts/greet", json={"content": "Hello {{ name }}!", "base_version": 1}, headers=editor),
        client.put(f"{API}/prompts/greet/labels/staging", json={"version": 1}, headers=editor),
        client.post(f"{API}/prompts", json={"name": "chat", "kind": "chat", "messages": [
            {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
            {"role": "user", "content": [{"type": "text", "text": "{{ question }}"}]}]}, headers=editor)]
    assert [r.status_code for r in made] == [201, 200, 200, 201], [r.text for r in made]


def _shape(document: dict) -> list:
    """What an import must keep: every prompt's fields, versions and labels (not the times of the copy)."""
    return sorted(({k: v for k, v in p.items() if k not in ("created_at", "updated_at")} | {
        "versions": [{k: v for k, v in version.items() if k != "created_at"} for version in p["versions"]]}
        for p in document["prompts"]), key=lambda p: p["name"])


@pytest.fixture
def beta_editor(team):
    team.services.accounts.create_user(team.ctx("beta"), "beta-editor@example.com", PASSWORD, "editor")
    return bearer(make_token(team, workspace="beta", user="beta-editor@example.com"))


def test_a_library_exported_from_one_workspace_imports_into_another(client, team, beta_editor):
    editor = bearer(make_token(team, "editor"))
    _library(client, editor)
    exported = client.get(f"{API}/export", headers=bearer(make_token(team, "viewer")))
    assert exported.status_code == 200, exported.text
    document = exported.json()
    assert document["format"] == "promptmgr-library" and document == team.services.transfer.export(
        team.ctx("alpha")) | {"exported_at": document["exported_at"]}
    chat = next(p for p in document["prompts"] if p["name"] == "chat")
    assert "content" not in chat["versions"][0] and chat["versions"][0]["messages"][0]["content"][0]["text"] == "Be brief."
    assert client.get(f"{API}/export", headers=beta_editor).json()["prompts"] == []  # apart until imported
    report = client.post(f"{API}/import", json=document, headers=beta_editor)
    assert report.status_code == 200, report.text
    assert sorted(report.json()["created"]) == ["chat", "greet"]
    copied = client.get(f"{API}/export", headers=beta_editor).json()
    assert _shape(copied) == _shape(document)
    assert client.get(f"{API}/prompts/greet?label=staging", headers=beta_editor).json()["content"] == "Hi {{ name }}"
    # Again, by each conflict policy.
    assert sorted(client.post(f"{API}/import", json=document, headers=beta_editor).json()["skipped"]) == ["chat", "greet"]
    renamed = client.post(f"{API}/import?on_conflict=rename", json=document, headers=beta_editor).json()
    assert sorted(map(tuple, renamed["renamed"])) == [("chat", "chat-2"), ("greet", "greet-2")]
    api_error(client.post(f"{API}/import?on_conflict=overwrite", json=document, headers=beta_editor), 403, "forbidden")
    team.services.accounts.create_user(team.ctx("beta"), "beta-admin@example.com", PASSWORD, "admin")
    beta_admin = bearer(make_token(team, workspace="beta", user="beta-admin@example.com"))
    overwritten = client.post(f"{API}/import?on_conflict=overwrite", json=document, headers=beta_admin).json()
    assert sorted(overwritten["updated"]) == ["chat", "greet"]
    # The import is in the importing workspace's audit log, made by that token.
    events = team.services.audit.list(team.ctx("beta"), {"action": "library.import"}).items
    assert len(events) == 4 and all(e.token_id is not None for e in events)
    assert not team.services.audit.list(team.ctx("alpha"), {"action": "library.import"}).items


def test_a_bad_or_oversized_document_writes_nothing(client, team, beta_editor):
    api_error(client.post(f"{API}/import", json={"format": "other", "prompts": []}, headers=beta_editor), 422, "invalid")
    api_error(client.post(f"{API}/import", json={"format": "promptmgr-library", "format_version": 2, "prompts": []},
                       headers=beta_editor), 422, "invalid")
    bad = {"format": "promptmgr-library", "prompts": [
        {"name": "fine", "versions": [{"content": "ok"}]},
        {"name": "broken", "versions": [{"content": "{% if %}"}]}]}
    error = api_error(client.post(f"{API}/import", json=bad, headers=beta_editor), 422, "invalid")
    assert error["details"]["index"] == 2 and error["details"]["name"] == "broken"
    api_error(client.post(f"{API}/import?on_conflict=merge", json=bad, headers=beta_editor), 422, "invalid")
    huge = {"format": "promptmgr-library", "prompts": [
        {"name": "big", "versions": [{"content": "x" * (team.services.settings.api_max_body_kb * 1024)}]}]}
    api_error(client.post(f"{API}/import", json=huge, headers=beta_editor), 413, "too_large")
    assert client.get(f"{API}/export", headers=beta_editor).json()["prompts"] == []
