"""`promptmgr categories|tags|export|import` (in-process on SQLite and PostgreSQL, one subprocess)."""
from __future__ import annotations

import json

import pytest
import yaml


def one_error_line(result, *fragments: str) -> None:
    """A user error: exit 1, exactly one line on stderr naming the problem, no traceback."""
    assert result.code == 1, (result.out, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in result.err, result.err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


SEED_DOCUMENT = {
    "format": "promptmgr-library", "format_version": 1,
    "prompts": [{
        "name": "ext-reviewer", "title": "Code reviewer", "description": "Reviews diffs", "category": "code",
        "tags": ["review", "code"], "is_enhancement": True, "visibility": "public", "kind": "text",
        "metadata": {"origin": "team", "stars": 3},
        "created_at": "2024-01-02T03:04:05.123456+00:00", "updated_at": "2024-02-03T04:05:06+00:00",
        "versions": [
            {"number": 1, "content": "Review {{ diff }}", "author": "alice", "message": "first",
             "created_at": "2024-01-02T03:04:05.123456+00:00"},
            {"number": 2, "content": "Review {{ diff }} in {{ lang }}", "author": "bob", "message": "lang",
             "variables": [{"name": "diff", "type": "text"},
                           {"name": "lang", "type": "string", "default": "Python", "description": "language"}],
             "created_at": "2024-02-03T04:05:06+00:00"},
        ],
        "labels": {"production": 1, "staging": 2},
    }],
}


def build_library(cli, tmp_path):
    """Text and chat prompts, several versions, declared variables, labels, other authors."""
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps(SEED_DOCUMENT), encoding="utf-8")
    assert cli("import", str(seed)).code == 0
    assert cli("prompts", "edit", "ext-reviewer", "--content", "Review {{ diff }} carefully", "-m", "local edit").code == 0
    assert cli("prompts", "add", "notes", "--content", "Note: {{ topic }}\nünïcödé ✓", "--category", "writing",
               "--tag", "review", "--var-spec", "topic:string:weather").code == 0
    assert cli("prompts", "label", "notes", "production").code == 0
    chat = tmp_path / "chat.yaml"
    chat.write_text("- role: system\n  content: Be {{ tone }}\n"
                    "- role: user\n  content:\n    - Look\n    - {type: image, url: 'data:image/png;base64,AAAA'}\n",
                    encoding="utf-8")
    assert cli("prompts", "add", "vision", "--chat", "--file", str(chat), "--category", "code").code == 0


def snapshot(cli, names):
    """Everything a round trip must keep: each prompt's fields and every version with its labels."""
    result = {}
    for name in names:
        shown = cli("prompts", "show", name, "--json").json()
        for volatile in ("name", "version_created_at", "owner", "used_variables"):
            shown.pop(volatile)
        result[name] = {"prompt": shown, "history": cli("prompts", "history", name, "--json").json()}
    return result


def all_names(cli):
    return sorted(p["name"] for p in cli("prompts", "list", "--json", "--limit", "1000").json())


# --- categories and tags -------------------------------------------------------------------
def test_categories_and_tags_with_counts(cli, tmp_path):
    assert cli("categories").out.strip() == "No categories yet."
    assert cli("tags", "--json").json() == []
    build_library(cli, tmp_path)
    assert cli("categories", "--json").json() == [{"name": "code", "count": 2}, {"name": "writing", "count": 1}]
    assert cli("tags", "--json").json() == [{"name": "review", "count": 2}, {"name": "code", "count": 1}]
    lines = cli("categories").out.splitlines()
    assert lines[0].split() == ["CATEGORY", "PROMPTS"] and lines[1].split() == ["code", "2"]
    assert cli("tags").out.splitlines()[1].split() == ["review", "2"]


# --- export --------------------------------------------------------------------------------
@pytest.mark.parametrize("ext", ["json", "yaml", "yml"])
def test_export_writes_the_format_of_the_extension(cli, tmp_path, ext):
    build_library(cli, tmp_path)
    target = tmp_path / "out" / f"library.{ext}"
    target.parent.mkdir()
    target.write_text("stale content", encoding="utf-8")
    result = cli("export", str(target))
    assert result.code == 0, result.err
    assert "3 prompts" in result.out and "5 versions" in result.out and str(target) in result.out
    text = target.read_text(encoding="utf-8")
    document = json.loads(text) if ext == "json" else yaml.safe_load(text)
    assert text.lstrip().startswith("{") == (ext == "json")
    assert document["format"] == "promptmgr-library"
    assert sorted(p["name"] for p in document["prompts"]) == ["ext-reviewer", "notes", "vision"]
    assert list(target.parent.iterdir()) == [target]  # the temporary file was renamed, none left behind
    data = cli("export", str(target), "--json").json()
    assert data == {"path": str(target), "format": "yaml" if ext != "json" else "json", "prompts": 3, "versions": 5}


def test_export_errors_write_nothing(cli, tmp_path):
    build_library(cli, tmp_path)
    one_error_line(cli("export", str(tmp_path / "library.txt")), "library.txt", ".json")
    assert not (tmp_path / "library.txt").exists()
    one_error_line(cli("export", str(tmp_path / "no-such-dir" / "library.json")), "no-such-dir")
    assert not (tmp_path / "no-such-dir").exists()


# --- import --------------------------------------------------------------------------------
def test_import_conflict_policies(cli, tmp_path):
    build_library(cli, tmp_path)
    path = tmp_path / "library.yaml"
    assert cli("export", str(path)).code == 0
    assert cli("prompts", "rm", "vision", "--yes").code == 0

    skipped = cli("import", str(path), "--json").json()  # skip is the default
    assert skipped["created"] == ["vision"] and sorted(skipped["skipped"]) == ["ext-reviewer", "notes"]
    assert skipped["counts"] == {"created": 1, "updated": 0, "renamed": 0, "skipped": 2}
    human = cli("import", str(path))
    assert human.out.strip() == "Imported: 0 created, 0 updated, 0 renamed, 3 skipped."

    renamed = cli("import", str(path), "--on-conflict", "rename")
    assert renamed.code == 0
    assert renamed.out.splitlines()[0] == "Imported: 0 created, 0 updated, 3 renamed, 0 skipped."
    assert "notes -> notes-2" in renamed.out
    assert all_names(cli) == ["ext-reviewer", "ext-reviewer-2", "notes", "notes-2", "vision", "vision-2"]

    cli("prompts", "edit", "notes", "--content", "changed {{ topic }}")
    overwritten = cli("import", str(path), "--on-conflict", "overwrite", "--json").json()
    assert sorted(overwritten["updated"]) == ["ext-reviewer", "notes", "vision"]
    notes = cli("prompts", "show", "notes", "--json").json()
    assert notes["version"] == 3 and notes["content"] == "Note: {{ topic }}\nünïcödé ✓"  # a new version, history kept
    one_error_line(cli("import", str(path), "--on-conflict", "merge"), "merge", "skip, overwrite, rename")


def test_import_bad_files_change_nothing(cli, tmp_path):
    build_library(cli, tmp_path)
    before = snapshot(cli, all_names(cli))
    broken = tmp_path / "broken.yaml"
    broken.write_text("format: promptmgr-library\nprompts: [\n  - name: x\n", encoding="utf-8")
    one_error_line(cli("import", str(broken)), "library file")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"something": "else"}), encoding="utf-8")
    one_error_line(cli("import", str(wrong)), "promptmgr-library")
    half_bad = tmp_path / "half.json"
    half_bad.write_text(json.dumps({"format": "promptmgr-library", "prompts": [
        {"name": "fine-one", "versions": [{"content": "ok"}]},
        {"name": "Bad Name", "versions": [{"content": "ok"}]},
    ]}), encoding="utf-8")
    one_error_line(cli("import", str(half_bad)), "#2", "Bad Name")
    bad_template = tmp_path / "template.json"
    bad_template.write_text(json.dumps({"format": "promptmgr-library", "prompts": [
        {"name": "fine-two", "versions": [{"content": "ok"}]},
        {"name": "broken-tpl", "versions": [{"content": "{% for x in %}"}]},
    ]}), encoding="utf-8")
    one_error_line(cli("import", str(bad_template)), "broken-tpl", "line 1")
    one_error_line(cli("import", str(tmp_path / "missing.json")), "missing.json")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00\x81garbage")
    one_error_line(cli("import", str(binary)), "binary.yaml")
    assert snapshot(cli, all_names(cli)) == before
    assert "fine-one" not in all_names(cli) and "fine-two" not in all_names(cli)


def test_import_reads_standard_input(cli, tmp_path):
    result = cli("import", "-", "--json", input=json.dumps(SEED_DOCUMENT))
    assert result.code == 0, result.err
    assert result.json()["created"] == ["ext-reviewer"]
    result = cli("import", "-", input=yaml.safe_dump(SEED_DOCUMENT))
    assert "1 skipped" in result.out


# --- round trip ----------------------------------------------------------------------------
@pytest.mark.parametrize("ext", ["json", "yaml"])
def test_export_import_round_trip_is_lossless(cli, tmp_path, ext):
    build_library(cli, tmp_path)
    names = all_names(cli)
    before = snapshot(cli, names)
    history = before["ext-reviewer"]["history"]
    assert [v["author"] for v in history] == ["alice", "bob", "local"]  # the fixture is what we think it is
    assert history[1]["variables"][1]["default"] == "Python" and history[0]["labels"] == ["production"]

    path = tmp_path / f"library.{ext}"
    assert cli("export", str(path)).code == 0
    first_export = path.read_text(encoding="utf-8")

    # into an emptied library: the same names come back with everything they had
    for name in names:
        assert cli("prompts", "rm", name, "--yes").code == 0
    assert all_names(cli) == []
    report = cli("import", str(path), "--json").json()
    assert sorted(report["created"]) == names
    assert snapshot(cli, names) == before

    # and the library exports to the same document again (only the export time differs)
    again = tmp_path / f"again.{ext}"
    assert cli("export", str(again)).code == 0
    load = json.loads if ext == "json" else yaml.safe_load
    first, second = load(first_export), load(again.read_text(encoding="utf-8"))
    first.pop("exported_at"), second.pop("exported_at")
    assert first == second

    # next to the originals, under new names, with --on-conflict rename
    report = cli("import", str(path), "--on-conflict", "rename", "--json").json()
    assert report["renamed"] == [[name, f"{name}-2"] for name in names]
    copies = snapshot(cli, [f"{name}-2" for name in names])
    assert {name.removesuffix("-2"): value for name, value in copies.items()} == before


# --- real subprocess -----------------------------------------------------------------------
def test_subprocess_import_of_a_bad_file_is_one_line(cli_subprocess, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("format: promptmgr-library\nprompts:\n  - name: ok\n    versions: [{content: ''}]\n",
                   encoding="utf-8")
    result = cli_subprocess("import", str(bad))
    one_error_line(result, "#1", "ok", "empty")
    listed = cli_subprocess("prompts", "list", "--json")
    assert listed.code == 0 and json.loads(listed.out) == []
    exported = cli_subprocess("export", str(tmp_path / "empty.json"))
    assert exported.code == 0 and "0 prompts" in exported.out
