"""`promptmgr prompts ...` end to end (in-process, on SQLite and PostgreSQL), plus a few real subprocesses."""
from __future__ import annotations

import json
import sys


def one_error_line(result, *fragments: str) -> None:
    """A user error: exit 1, exactly one line on stderr naming the problem, no traceback."""
    assert result.code == 1, (result.out, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in result.err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def seed(cli, name="greet", content="Hello {{ name }}!", *extra):
    result = cli("prompts", "add", name, "--content", content, *extra)
    assert result.code == 0, result.err
    return result


def seed_many(count: int, prefix: str = "p", **fields) -> None:
    """Many prompts in one import (quicker than `count` CLI calls)."""
    from promptmgr.cli import common

    document = {"format": "promptmgr-library", "prompts": [
        {"name": f"{prefix}{i:03d}", "title": f"Prompt {i}", **fields,
         "versions": [{"content": f"Body number {i}"}]} for i in range(count)]}
    common.services().transfer.import_(common.context(), document)


# --- add ---------------------------------------------------------------------------------
def test_add_with_all_fields_then_show_json(cli):
    result = cli("prompts", "add", "summarize", "--content", "Summarize {{ text }} in {{ n }} words",
                 "--title", "Summarizer", "--description", "Short summaries", "--category", "Writing",
                 "--tag", "summary", "--tag", "Short", "--enhancement", "--public", "-m", "first")
    assert result.code == 0, result.err
    assert "summarize" in result.out and "1" in result.out
    shown = cli("prompts", "show", "summarize", "--json").json()
    assert shown["name"] == "summarize" and shown["version"] == 1
    assert shown["content"] == "Summarize {{ text }} in {{ n }} words"
    assert shown["title"] == "Summarizer" and shown["description"] == "Short summaries"
    assert shown["category"] == "writing" and shown["tags"] == ["summary", "short"]
    assert shown["is_enhancement"] is True and shown["visibility"] == "public"
    assert [v["name"] for v in shown["variables"]] == ["text", "n"]
    assert shown["version_message"] == "first" and shown["labels"] == {}


def test_add_from_file_and_from_stdin(cli, tmp_path):
    path = tmp_path / "prompt.txt"
    path.write_text("From a file: {{ x }}\nsecond line\n", encoding="utf-8")
    assert cli("prompts", "add", "from-file", "--file", str(path)).code == 0
    assert cli("prompts", "show", "from-file", "--json").json()["content"] == "From a file: {{ x }}\nsecond line\n"
    assert cli("prompts", "add", "from-stdin", "--content", "-", input="piped {{ y }}").code == 0
    assert cli("prompts", "show", "from-stdin", "--json").json()["content"] == "piped {{ y }}"
    assert cli("prompts", "add", "file-stdin", "--file", "-", input="also piped").code == 0
    assert cli("prompts", "show", "file-stdin", "--json").json()["content"] == "also piped"


def test_add_json_output_is_the_prompt(cli):
    data = cli("prompts", "add", "j", "--content", "hi", "--json").json()
    assert data["name"] == "j" and data["version"] == 1 and data["content"] == "hi"


def test_add_errors_are_one_line(cli, tmp_path):
    seed(cli)
    one_error_line(cli("prompts", "add", "greet", "--content", "again"), "greet", "already exists")
    one_error_line(cli("prompts", "add", "both", "--content", "a", "--file", "b"), "--content", "--file")
    one_error_line(cli("prompts", "add", "none"), "--content")
    one_error_line(cli("prompts", "add", "Bad Name", "--content", "x"), "name")
    one_error_line(cli("prompts", "add", "empty", "--content", "   "), "empty")
    one_error_line(cli("prompts", "add", "missing", "--file", str(tmp_path / "nope.txt")), "nope.txt")
    one_error_line(cli("prompts", "add", "broken", "--content", "{% if x %}never closed"), "line")
    binary = tmp_path / "blob.bin"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    one_error_line(cli("prompts", "add", "blob", "--file", str(binary)), "blob.bin")
    names = [p["name"] for p in cli("prompts", "list", "--json").json()]
    assert names == ["greet"]


def test_chat_prompt_from_yaml_and_json_files(cli, tmp_path):
    yaml_file = tmp_path / "chat.yaml"
    yaml_file.write_text(
        "messages:\n"
        "  - role: system\n    content: You are {{ tone }}.\n"
        "  - role: user\n    content:\n      - Explain {{ topic }}\n"
        "      - {type: image, url: 'https://example.com/a.png'}\n", encoding="utf-8")
    assert cli("prompts", "add", "chatty", "--chat", "--file", str(yaml_file)).code == 0
    shown = cli("prompts", "show", "chatty", "--json").json()
    assert shown["kind"] == "chat"
    assert shown["messages"] == [
        {"role": "system", "content": [{"type": "text", "text": "You are {{ tone }}."}]},
        {"role": "user", "content": [{"type": "text", "text": "Explain {{ topic }}"},
                                     {"type": "image", "url": "https://example.com/a.png"}]},
    ]
    rendered = cli("prompts", "render", "chatty", "--var", "tone=kind", "--var", "topic=tides")
    assert rendered.code == 0, rendered.err
    assert rendered.out.startswith("[system]\nYou are kind.\n\n[user]\nExplain tides\n")

    # edit infers chat from the prompt's kind and reads JSON by extension
    json_file = tmp_path / "chat2.json"
    json_file.write_text(json.dumps([{"role": "user", "content": "Only {{ topic }}"}]), encoding="utf-8")
    assert cli("prompts", "edit", "chatty", "--file", str(json_file)).code == 0
    assert cli("prompts", "show", "chatty", "--json").json()["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Only {{ topic }}"}]}]
    one_error_line(cli("prompts", "edit", "chatty", "--content", "plain text"), "chat")
    piped = cli("prompts", "edit", "chatty", "--content", "-", "--json",
                input="- {role: assistant, content: 'Sure about {{ topic }}'}\n").json()
    assert piped["version"] == 3 and piped["messages"][0]["role"] == "assistant"
    json_file.write_text(json.dumps({"not": "messages"}), encoding="utf-8")
    one_error_line(cli("prompts", "add", "bad-chat", "--chat", "--file", str(json_file)), "messages")
    json_file.write_text("[{broken", encoding="utf-8")
    one_error_line(cli("prompts", "add", "bad-chat", "--chat", "--file", str(json_file)), "chat2.json")
    json_file.write_text(json.dumps([{"role": "robot", "content": "x"}]), encoding="utf-8")
    one_error_line(cli("prompts", "add", "bad-chat", "--chat", "--file", str(json_file)), "role")
    assert cli("prompts", "show", "bad-chat").code == 1


# --- edit --------------------------------------------------------------------------------
def test_edit_content_makes_a_version_and_fields_do_not(cli):
    seed(cli, "greet", "Hello {{ name }}!", "--tag", "old", "--title", "T1", "--enhancement")
    result = cli("prompts", "edit", "greet", "--content", "Hi {{ name }}.", "-m", "shorter")
    assert result.code == 0 and "2" in result.out
    edited = cli("prompts", "edit", "greet", "--title", "T2", "--description", "D", "--category", "Greetings",
                 "--tag", "x", "--tag", "y", "--no-enhancement", "--public", "--json").json()
    assert edited["version"] == 2 and edited["latest_version"] == 2
    assert (edited["title"], edited["description"], edited["category"]) == ("T2", "D", "greetings")
    assert edited["tags"] == ["x", "y"] and edited["is_enhancement"] is False
    assert edited["visibility"] == "public" and edited["content"] == "Hi {{ name }}."
    assert edited["version_message"] == "shorter"
    cleared = cli("prompts", "edit", "greet", "--tag", "", "--private", "--json").json()
    assert cleared["tags"] == [] and cleared["visibility"] == "private"
    one_error_line(cli("prompts", "edit", "greet"), "Nothing to change")
    one_error_line(cli("prompts", "edit", "nope", "--content", "x"), "nope", "not found")
    one_error_line(cli("prompts", "edit", "greet", "--content", "x", "--file", "y"), "--content", "--file")


def test_edit_with_stale_base_version_is_a_conflict(cli):
    seed(cli)
    assert cli("prompts", "edit", "greet", "--content", "v2").code == 0
    result = cli("prompts", "edit", "greet", "--content", "lost?", "--base-version", "1")
    one_error_line(result, "greet", "version 2", "version 1")
    history = cli("prompts", "history", "greet", "--json").json()
    assert [v["content"] for v in history] == ["Hello {{ name }}!", "v2"]
    assert cli("prompts", "edit", "greet", "--content", "v3", "--base-version", "2").code == 0


def test_edit_defaults_its_base_to_the_version_it_read(cli, monkeypatch):
    """Someone saving between the CLI's read and its write makes the edit a conflict, not a lost update."""
    from promptmgr.cli import common
    from promptmgr.schemas import PromptUpdate, parse

    seed(cli)
    library = common.services().library
    original_get = library.get

    calls = []

    def get_then_someone_else_saves(ctx, name, **kwargs):
        prompt = original_get(ctx, name, **kwargs)
        if not calls:  # only the CLI's first read races with the other writer
            calls.append(name)
            library.update(ctx, name, parse(PromptUpdate, {"content": "theirs", "base_version": prompt.version}))
        return prompt

    monkeypatch.setattr(library, "get", get_then_someone_else_saves)
    one_error_line(cli("prompts", "edit", "greet", "--content", "mine"), "changed by someone else")
    monkeypatch.undo()
    assert [v["content"] for v in cli("prompts", "history", "greet", "--json").json()] == ["Hello {{ name }}!", "theirs"]


def test_var_specs_declare_types_and_defaults(cli):
    result = cli("prompts", "add", "typed", "--content", "{{ who }} x{{ times * 2 }} {{ flag }}",
                 "--var-spec", "who:string", "--var-spec", "times:integer:3", "--var-spec", "flag:boolean:no")
    assert result.code == 0, result.err
    variables = cli("prompts", "show", "typed", "--json").json()["variables"]
    assert [(v["name"], v["type"], v["default"], v["required"]) for v in variables] == [
        ("who", "string", None, True), ("times", "integer", 3, False), ("flag", "boolean", False, False)]
    assert cli("prompts", "render", "typed", "--var", "who=Ann").out == "Ann x6 False\n"
    assert cli("prompts", "render", "typed", "--var", "who=Ann", "--var", "times=5").out == "Ann x10 False\n"
    one_error_line(cli("prompts", "render", "typed"), "who")
    one_error_line(cli("prompts", "render", "typed", "--var", "who=A", "--var", "times=many"), "times", "integer")
    one_error_line(cli("prompts", "add", "t2", "--content", "{{ a }}", "--var-spec", "a:colour"), "colour")
    one_error_line(cli("prompts", "add", "t3", "--content", "{{ a }}", "--var-spec", "a:integer:x"), "integer")
    one_error_line(cli("prompts", "add", "t4", "--content", "{{ a }}", "--var-spec", ":string"), "--var-spec")
    # edit --var-spec alone makes a new version with the same content and new declarations
    edited = cli("prompts", "edit", "typed", "--var-spec", "who:string:Bo", "--var-spec", "times:integer:1",
                 "--var-spec", "flag:boolean:yes", "--json").json()
    assert edited["version"] == 2 and edited["content"] == "{{ who }} x{{ times * 2 }} {{ flag }}"
    assert cli("prompts", "render", "typed").out == "Bo x2 True\n"


# --- show / list / search ----------------------------------------------------------------
def test_show_by_version_and_label_and_human_output(cli):
    seed(cli, "greet", "Hello {{ name }}!", "--title", "Greeter", "--tag", "hi")
    cli("prompts", "edit", "greet", "--content", "Second", "-m", "v2 note")
    assert cli("prompts", "label", "greet", "production", "--version", "1").code == 0
    assert cli("prompts", "show", "greet", "--version", "1", "--json").json()["content"] == "Hello {{ name }}!"
    by_label = cli("prompts", "show", "greet", "--label", "production", "--json").json()
    assert by_label["version"] == 1 and by_label["labels"] == {"production": 1}
    human = cli("prompts", "show", "greet")
    assert human.code == 0
    head, _, body = human.out.partition("\n\n")
    assert "greet" in head and "2" in head and "Greeter" in head and "production=v1" in head
    assert "v2 note" in head
    assert body == "Second\n"
    one_error_line(cli("prompts", "show", "greet", "--version", "1", "--label", "production"),
                   "--version", "--label")
    one_error_line(cli("prompts", "show", "greet", "--version", "9"), "greet@9")
    one_error_line(cli("prompts", "show", "greet", "--label", "staging"), "staging")
    one_error_line(cli("prompts", "show", "ghost"), "ghost", "not found")


def test_list_filters_table_and_json(cli):
    seed(cli, "alpha", "first text", "--category", "writing", "--tag", "x", "--title", "Alpha title")
    seed(cli, "beta", "second text", "--category", "code", "--tag", "y", "--enhancement", "--public")
    seed(cli, "gamma", "third text", "--category", "writing", "--tag", "x", "--tag", "y")
    table = cli("prompts", "list", "--sort", "name")
    assert table.code == 0
    lines = table.out.splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "CATEGORY", "TAGS", "TITLE"]
    assert lines[1].split() == ["alpha", "v1", "writing", "x", "Alpha", "title"]
    assert lines[1].index("v1") == lines[0].index("VERSION")  # aligned columns
    assert [line.split()[0] for line in lines[1:4]] == ["alpha", "beta", "gamma"]
    assert lines[-1] == "Showing 1–3 of 3"

    def names(*args):
        result = cli("prompts", "list", "--json", "--sort", "name", *args)
        assert result.code == 0, result.err
        return [p["name"] for p in result.json()]

    assert names("--category", "writing") == ["alpha", "gamma"]
    assert names("--tag", "y") == ["beta", "gamma"]
    assert names("--visibility", "public") == ["beta"]
    assert names("--enhancement") == ["beta"]
    assert names("--no-enhancement") == ["alpha", "gamma"]
    assert names("--limit", "1", "--offset", "1") == ["beta"]
    page = cli("prompts", "list", "--sort", "name", "--limit", "1", "--offset", "1")
    assert page.out.splitlines()[-1] == "Showing 2–2 of 3"
    item = cli("prompts", "list", "--json", "--category", "code").json()[0]
    assert {"name", "title", "category", "tags", "latest_version", "updated_at"} <= set(item)
    assert cli("prompts", "list", "--category", "none").out.strip() == "No prompts found."
    one_error_line(cli("prompts", "list", "--sort", "bogus"), "sort")
    one_error_line(cli("prompts", "list", "--limit", "0"), "limit")


def test_list_defaults_to_50_and_keeps_stdout_pure_json(cli):
    seed_many(55)
    result = cli("prompts", "list", "--json")
    assert result.code == 0
    assert len(result.json()) == 50  # stdout parses as one JSON array
    assert "Showing 1–50 of 55" in result.err
    human = cli("prompts", "list")
    assert human.out.splitlines()[-1] == "Showing 1–50 of 55"
    assert len(human.out.splitlines()) == 52
    assert len(cli("prompts", "list", "--json", "--limit", "60").json()) == 55


def test_search_ranks_and_filters(cli):
    seed(cli, "sql-helper", "Write a SQL query for {{ task }}", "--title", "SQL helper", "--category", "code")
    seed(cli, "poem", "Write a poem about databases and SQL", "--category", "writing")
    seed(cli, "recipe", "Cook a recipe", "--category", "food")
    results = cli("prompts", "search", "sql", "--json").json()
    assert [p["name"] for p in results] == ["sql-helper", "poem"]  # name/title matches rank first
    assert [p["name"] for p in cli("prompts", "search", "sql", "--category", "writing", "--json").json()] == ["poem"]
    assert [p["name"] for p in cli("prompts", "search", "write", "--limit", "1", "--json").json()] != []
    assert len(cli("prompts", "search", "write", "--limit", "1", "--json").json()) == 1
    assert [p["name"] for p in cli("prompts", "search", "sql", "--sort", "name", "--json").json()] == \
        ["poem", "sql-helper"]
    human = cli("prompts", "search", "recipe")
    assert "recipe" in human.out and human.out.splitlines()[-1] == "Showing 1–1 of 1"
    assert cli("prompts", "search", "zebra").out.strip() == "No prompts found."


# --- history / diff / restore / label ------------------------------------------------------
def test_history_diff_restore(cli):
    seed(cli, "greet", "line one\nline two")
    cli("prompts", "edit", "greet", "--content", "line one\nline 2", "-m", "second")
    cli("prompts", "label", "greet", "production", "--version", "1")
    history = cli("prompts", "history", "greet", "--json").json()
    assert [v["version"] for v in history] == [1, 2]
    assert history[1]["message"] == "second" and history[0]["author"] == "local"
    assert history[0]["labels"] == ["production"] and history[1]["labels"] == []
    assert history[0]["created_at"].startswith("20")
    human = cli("prompts", "history", "greet").out.splitlines()
    assert human[0].split()[:2] == ["VERSION", "CREATED"] and human[2].split()[0] == "v2"
    assert "production" in human[1]

    diff = cli("prompts", "diff", "greet", "1", "2")
    assert diff.code == 0
    assert diff.out.splitlines() == ["--- greet@v1", "+++ greet@v2", "@@ -1,2 +1,2 @@", " line one",
                                     "-line two", "+line 2"]
    assert "\x1b[" not in diff.out  # no color when stdout is not a terminal
    same = cli("prompts", "diff", "greet", "1", "1")
    assert same.code == 0 and same.out == "" and "No difference" in same.err
    one_error_line(cli("prompts", "diff", "greet", "1", "7"), "greet@7")

    restored = cli("prompts", "restore", "greet", "1")
    assert restored.code == 0 and "3" in restored.out
    assert cli("prompts", "show", "greet", "--json").json()["content"] == "line one\nline two"
    assert cli("prompts", "restore", "greet", "2", "--json").json()["version"] == 4
    one_error_line(cli("prompts", "restore", "greet", "1", "--base-version", "2"), "changed by someone else")
    one_error_line(cli("prompts", "restore", "greet", "99"), "greet@99")


def test_diff_is_colored_on_a_terminal(cli, monkeypatch):
    seed(cli, "greet", "old")
    cli("prompts", "edit", "greet", "--content", "new")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    out = cli("prompts", "diff", "greet", "1", "2").out
    assert "\x1b[31m-old" in out and "\x1b[32m+new" in out


def test_labels_set_move_and_remove(cli):
    seed(cli)
    cli("prompts", "edit", "greet", "--content", "v2 {{ name }}")
    result = cli("prompts", "label", "greet", "production")
    assert result.code == 0 and "production" in result.out and "2" in result.out
    moved = cli("prompts", "label", "greet", "production", "--version", "1", "--json").json()
    assert moved == {"name": "greet", "label": "production", "version": 1, "labels": {"production": 1}}
    assert cli("prompts", "render", "greet", "--label", "production", "--var", "name=X").out == "Hello X!\n"
    one_error_line(cli("prompts", "label", "greet", "bad label"), "bad label")
    one_error_line(cli("prompts", "label", "greet", "staging", "--version", "5"), "greet@5")
    removed = cli("prompts", "label", "greet", "production", "--remove", "--json").json()
    assert removed["labels"] == {} and removed["version"] is None
    one_error_line(cli("prompts", "label", "greet", "production", "--remove"), "production")
    one_error_line(cli("prompts", "label", "greet", "production", "--remove", "--version", "1"),
                   "--version", "--remove")


# --- render ------------------------------------------------------------------------------
def test_render_vars_file_and_var_precedence(cli, tmp_path):
    seed(cli, "letter", "Dear {{ name }}, {% for i in items %}[{{ i }}]{% endfor %} from {{ sender }}")
    json_vars = tmp_path / "vars.json"
    json_vars.write_text(json.dumps({"name": "Ann", "items": [1, 2], "sender": "Bob"}), encoding="utf-8")
    assert cli("prompts", "render", "letter", "--vars-file", str(json_vars)).out == \
        "Dear Ann, [1][2] from Bob\n"
    yaml_vars = tmp_path / "vars.yaml"
    yaml_vars.write_text("name: Cy\nitems: [a]\nsender: Di\n", encoding="utf-8")
    result = cli("prompts", "render", "letter", "--vars-file", str(yaml_vars), "--var", "sender=Ed")
    assert result.out == "Dear Cy, [a] from Ed\n"
    data = cli("prompts", "render", "letter", "--vars-file", str(yaml_vars), "--json").json()
    assert data["content"] == "Dear Cy, [a] from Di" and data["version"] == 1
    one_error_line(cli("prompts", "render", "letter", "--vars-file", str(yaml_vars), "--var", "oops"), "oops")
    yaml_vars.write_text("- just\n- a list\n", encoding="utf-8")
    one_error_line(cli("prompts", "render", "letter", "--vars-file", str(yaml_vars)), "mapping")
    one_error_line(cli("prompts", "render", "letter", "--vars-file", str(tmp_path / "none.yaml")), "none.yaml")
    one_error_line(cli("prompts", "render", "letter", "--var", "name=A"), "items")
    seed(cli, "sneaky", "{{ ''.__class__.__mro__ }}")
    one_error_line(cli("prompts", "render", "sneaky"), "not allowed")


# --- rm ----------------------------------------------------------------------------------
def test_rm_needs_confirmation(cli, monkeypatch):
    from promptmgr.cli import common

    seed(cli, "keep")
    seed(cli, "drop")
    one_error_line(cli("prompts", "rm", "keep"), "--yes")  # no terminal, no --yes: refuse
    assert cli("prompts", "show", "keep").code == 0
    monkeypatch.setattr(common, "interactive", lambda: True)
    cancelled = cli("prompts", "rm", "keep", input="n\n")
    assert cancelled.code == 1 and "nothing was deleted" in cancelled.err
    assert cli("prompts", "show", "keep").code == 0
    confirmed = cli("prompts", "rm", "keep", input="y\n")
    assert confirmed.code == 0 and "Deleted 'keep'" in confirmed.out
    one_error_line(cli("prompts", "show", "keep"), "not found")
    assert cli("prompts", "rm", "drop", "--yes").code == 0
    assert cli("prompts", "list", "--json").json() == []
    one_error_line(cli("prompts", "rm", "drop", "--yes"), "drop", "not found")
    one_error_line(cli("prompts", "rm", "drop"), "drop", "not found")


# --- real subprocesses -------------------------------------------------------------------
def test_subprocess_errors_are_one_line_and_debug_shows_the_traceback(cli_subprocess):
    missing = cli_subprocess("prompts", "show", "ghost")
    one_error_line(missing, "ghost", "not found")
    debug = cli_subprocess("--debug", "prompts", "show", "ghost")
    assert debug.code != 0
    assert "Traceback" in debug.err and "NotFoundError" in debug.err
    added = cli_subprocess("prompts", "add", "piped", "--content", "-", input="from a pipe")
    assert added.code == 0, added.err
    duplicate = cli_subprocess("prompts", "add", "piped", "--content", "x")
    one_error_line(duplicate, "already exists")
    refused = cli_subprocess("prompts", "rm", "piped", input="y\n")  # stdin is a pipe, not a terminal
    one_error_line(refused, "--yes")
    shown = cli_subprocess("prompts", "show", "piped", "--json")
    assert shown.code == 0 and json.loads(shown.out)["content"] == "from a pipe"
