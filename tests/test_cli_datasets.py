"""`promptmgr datasets ...` and `promptmgr experiments create/list/rm` end to end (in-process, on
SQLite and PostgreSQL): output, --json staying clean, exit codes and one-line errors."""
from __future__ import annotations

import json

from tests.test_cli_prompts import one_error_line

CSV = "question,__expected,__description\nCapital of France?,Paris,capital\n2+2?,4,sum\nSky colour?,blue,sky\n"


def _file(tmp_path, name="qa.csv", text=CSV):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_add_list_show_export_rm(cli, tmp_path):
    added = cli("datasets", "add", "qa", "--file", _file(tmp_path), "--description", "Capitals")
    assert added.code == 0, added.err
    assert "qa" in added.out and "3" in added.out
    again = cli("datasets", "add", "qa", "--file", _file(tmp_path, "v2.jsonl", '{"question": "new"}\n'), "--json")
    assert again.code == 0 and again.json()["version"] == 2 and again.json()["row_count"] == 1

    listed = cli("datasets", "list", "--json")
    assert [(d["name"], d["latest_version"], d["row_count"], d["description"]) for d in listed.json()] == [
        ("qa", 2, 1, "Capitals")]
    table = cli("datasets", "list")
    assert table.code == 0 and "qa" in table.out and "v2" in table.out

    shown = cli("datasets", "show", "qa", "--version", "1", "--limit", "2", "--json").json()
    assert (shown["version"], shown["row_count"], [v["number"] for v in shown["versions"]]) == (1, 3, [1, 2])
    assert [r["vars"] for r in shown["rows"]] == [{"question": "Capital of France?"}, {"question": "2+2?"}]
    assert shown["rows"][0]["expected"] == "Paris" and shown["rows"][0]["metadata"]["description"] == "capital"
    human = cli("datasets", "show", "qa", "--version", "1", "--limit", "1")
    assert human.code == 0 and "Capital of France?" in human.out and "2 more rows" in human.out

    out = tmp_path / "out.csv"
    exported = cli("datasets", "export", "qa", str(out), "--version", "1")
    assert exported.code == 0, exported.err
    assert "3" in exported.out and out.read_text(encoding="utf-8").startswith("question,__id,expected")

    assert cli("datasets", "rm", "qa", "--yes").code == 0
    assert cli("datasets", "list", "--json").json() == []
    assert "No datasets" in cli("datasets", "list").out


def test_errors_are_one_line(cli, tmp_path):
    one_error_line(cli("datasets", "add", "qa", "--file", str(tmp_path / "missing.csv")), "missing.csv")
    one_error_line(cli("datasets", "add", "qa", "--file", _file(tmp_path, "bad.csv", "a\n1\n2,3\n")), "Row 2")
    one_error_line(cli("datasets", "add", "qa", "--file", _file(tmp_path, "x.txt", "a\n")), ".csv")
    one_error_line(cli("datasets", "add", "Bad Name", "--file", _file(tmp_path)), "Bad Name")
    one_error_line(cli("datasets", "show", "nope"), "nope")
    one_error_line(cli("datasets", "export", "nope", str(tmp_path / "o.csv")), "nope")
    one_error_line(cli("datasets", "rm", "nope", "--yes"), "nope")
    assert cli("datasets", "add", "qa", "--file", _file(tmp_path)).code == 0
    one_error_line(cli("datasets", "show", "qa", "--version", "7"), "7")
    one_error_line(cli("datasets", "show", "qa", "--limit", "-1"), "--limit")
    one_error_line(cli("datasets", "export", "qa", str(tmp_path / "o.txt")), "o.txt")
    one_error_line(cli("datasets", "rm", "qa"), "--yes")  # not a terminal: no prompt, a clear refusal
    assert [d["name"] for d in cli("datasets", "list", "--json").json()] == ["qa"]


def _setup_experiment_world(cli, tmp_path):
    from promptmgr.cli import common

    assert cli("datasets", "add", "qa", "--file", _file(tmp_path)).code == 0
    assert cli("prompts", "add", "greet", "--content", "Answer: {{ question }}").code == 0
    assert cli("prompts", "label", "greet", "staging").code == 0
    assert cli("prompts", "edit", "greet", "--content", "Reply: {{ question }}").code == 0
    common.services().providers.add(common.context(), "fake", "http://127.0.0.1:9/v1")


def test_experiments_create_list_rm(cli, tmp_path):
    _setup_experiment_world(cli, tmp_path)
    created = cli("experiments", "create", "ab", "--dataset", "qa", "--prompt", "greet", "--prompt", "greet:staging",
                  "--model", "fake/a", "--model", "fake/b", "--check", "contains:Paris", "--check",
                  "not-icontains:sorry", "--param", "temperature=0", "--repeats", "2", "--baseline",
                  "greet@1/fake/b", "--concurrency", "4", "--json")
    assert created.code == 0, created.err
    data = created.json()
    assert [v["name"] for v in data["variants"]] == ["greet@2/fake/a", "greet@2/fake/b", "greet@1/fake/a",
                                                    "greet@1/fake/b"]
    assert data["baseline"] == "greet@1/fake/b" and data["cells"]["total"] == 3 * 4 * 2
    assert data["variants"][2]["prompt_ref"] == ":staging" and data["variants"][0]["params"] == {"temperature": 0.0}
    assert [c["type"] for c in data["checks"]] == ["contains", "icontains"] and data["checks"][1]["negate"] is True
    assert data["concurrency"] == 4 and data["status"] == "draft"

    assert data["judge_model"] is None  # model-graded checks fall back to the default model

    judged = cli("experiments", "create", "judged", "--dataset", "qa", "--prompt", "greet", "--model", "fake/a",
                 "--check", "llm-rubric:Answers politely", "--judge-model", "fake/b", "--json")
    assert judged.code == 0 and judged.json()["judge_model"] == "fake/b", judged.err
    one_error_line(cli("experiments", "create", "badjudge", "--dataset", "qa", "--prompt", "greet", "--model",
                       "fake/a", "--judge-model", "nosuch/x"), "nosuch")
    assert cli("experiments", "rm", "judged", "--yes").code == 0

    human = cli("experiments", "create", "plain", "--dataset", "qa", "--prompt", "greet@1", "--model", "fake/a")
    assert human.code == 0 and "plain" in human.out and "greet@1/fake/a" in human.out

    listed = cli("experiments", "list", "--json").json()
    assert {e["name"] for e in listed} == {"ab", "plain"}
    table = cli("experiments", "list")
    assert "ab" in table.out and "0/24" in table.out

    one_error_line(cli("experiments", "rm", "ab"), "--yes")
    one_error_line(cli("datasets", "rm", "qa", "--yes"), "ab")  # in use
    assert cli("experiments", "rm", "ab", "--yes").code == 0
    assert cli("experiments", "rm", "plain", "--yes").code == 0
    assert cli("experiments", "list", "--json").json() == []
    assert cli("datasets", "rm", "qa", "--yes").code == 0


def test_experiments_create_errors(cli, tmp_path):
    _setup_experiment_world(cli, tmp_path)
    base = ["experiments", "create", "x", "--dataset", "qa", "--prompt", "greet", "--model", "fake/a"]
    one_error_line(cli(*base, "--baseline", "greet@9/fake/a"), "greet@9/fake/a", "greet@2/fake/a")
    one_error_line(cli(*base, "--repeats", "0"), "repeats")
    one_error_line(cli(*base, "--concurrency", "1000"), "concurrency")
    one_error_line(cli(*base, "--param", "temperature"), "--param")
    one_error_line(cli(*base, "--param", "warmth=3"), "warmth")
    one_error_line(cli("experiments", "create", "x", "--dataset", "nope", "--prompt", "greet", "--model", "fake/a"),
                   "nope")
    one_error_line(cli("experiments", "create", "x", "--dataset", "qa", "--prompt", "greet:prod", "--model",
                       "fake/a"), "greet:prod")
    one_error_line(cli("experiments", "rm", "nope", "--yes"), "nope")
    missing = cli("experiments", "create", "x", "--dataset", "qa", "--model", "fake/a")
    assert missing.code == 2 and "--prompt" in missing.err  # Typer's usage error for a required option
    assert cli("experiments", "list", "--json").json() == []


def test_json_output_is_clean(cli, tmp_path):
    assert cli("datasets", "add", "qa", "--file", _file(tmp_path)).code == 0
    for args in (("datasets", "list", "--json"), ("datasets", "show", "qa", "--json"),
                 ("experiments", "list", "--json")):
        result = cli(*args)
        assert result.code == 0 and result.err == ""
        json.loads(result.out)


def test_other_parts_register_their_experiments_commands(monkeypatch):
    """The runner's and results' modules add commands to the `experiments` group through register(app)."""
    import importlib
    import sys
    import types

    import typer

    fake = types.ModuleType("promptmgr.cli.experiments_run")

    def register(app: typer.Typer) -> None:
        app.command("estimate")(lambda: None)

    fake.register = register
    monkeypatch.setitem(sys.modules, "promptmgr.cli.experiments_run", fake)
    import promptmgr.cli.experiments as module

    reloaded = importlib.reload(module)
    try:
        names = [c.name or c.callback.__name__ for c in reloaded.app.registered_commands]
        assert {"create", "list", "rm", "estimate"} <= set(names)
    finally:
        monkeypatch.delitem(sys.modules, "promptmgr.cli.experiments_run")
        importlib.reload(module)
