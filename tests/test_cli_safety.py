"""The CLI in front of hostile data and broken databases (issue 7 items 13, 16, 17, 18): stored control
characters are shown escaped, every failure is one translated line without internals, the data folder
is private, and processes starting at once on a fresh folder all see the whole starter library."""
from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

ATTACKS = {
    "clipboard": "\x1b]52;c;cm0gLXJmIH4=\x07",
    "clear": "\x1b[2J\x1b[H",
    "link": "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\",
    "carriage_return": "safe\rEVIL",
    "csi8": "\x9b31m",
    "bell": "\x07",
}


def one_error_line(result, *fragments: str) -> str:
    assert result.code == 1, (result.out, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.err
    assert "Traceback" not in result.err and "SELECT" not in result.err and "INSERT" not in result.err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def _raw_controls(text: str) -> list[str]:
    return [ch for ch in text if (ord(ch) < 32 and ch not in "\n\t") or 0x7f <= ord(ch) <= 0x9f]


# --- item 13: terminal output ---------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_stored_control_characters_are_escaped_in_human_output(cli, name):
    attack = ATTACKS[name]
    assert cli("prompts", "add", "evil", "--content", f"before {attack} after {{{{ v }}}}").code == 0
    for args in (("prompts", "show", "evil"), ("prompts", "render", "evil", "--var", f"v={attack}"),
                 ("prompts", "history", "evil")):
        result = cli(*args)
        assert result.code == 0, result.err
        assert _raw_controls(result.out) == [], (args, result.out)
    shown = cli("prompts", "show", "evil").out
    assert "before " in shown and " after" in shown and "\\x" in shown  # visible, escaped


def test_json_output_escapes_every_control_character(cli):
    text = "a" + "".join(ATTACKS.values()) + "\u202e b"
    assert cli("prompts", "add", "evil", "--content", text).code == 0
    out = cli("prompts", "show", "evil", "--json").out
    assert _raw_controls(out) == [] and "\u202e" not in out
    assert json.loads(out)["content"] == text  # still the exact text once parsed


def test_diff_and_error_messages_are_escaped(cli):
    assert cli("prompts", "add", "evil", "--content", "one").code == 0
    assert cli("prompts", "edit", "evil", "--content", "two \x1b[2J").code == 0
    assert _raw_controls(cli("prompts", "diff", "evil", "1", "2").out) == []
    missing = cli("prompts", "show", "ghost\x1b[2J")
    assert _raw_controls(missing.err) == [] and "ghost" in missing.err


def test_newlines_and_tabs_are_kept(cli):
    assert cli("prompts", "add", "plain", "--content", "line one\n\tindented\r\nwindows").code == 0
    assert cli("prompts", "render", "plain").out == "line one\n\tindented\nwindows\n"  # jinja's newlines
    assert cli("prompts", "show", "plain").out.endswith("line one\n\tindented\r\nwindows\n")


# --- item 16: errors never show internals -------------------------------------------------
@pytest.mark.parametrize("option", ["--offset", "--limit"])
def test_huge_offsets_and_limits_are_one_line(cli, option):
    result = cli("prompts", "list", option, "9223372036854775808")
    one_error_line(result, option.strip("-"))
    assert "OverflowError" not in result.err


def test_huge_offset_within_bounds_is_an_empty_page(cli):
    result = cli("prompts", "list", "--offset", "1000000000000")
    assert result.code == 0 and "Traceback" not in result.err


def test_nul_byte_in_import_is_one_line_and_nothing_is_written(cli, tmp_path):
    path = tmp_path / "nul.json"
    path.write_text(json.dumps({"format": "promptmgr-library", "prompts": [
        {"name": "ok", "versions": [{"content": "fine"}]},
        {"name": "bad", "versions": [{"content": "nul\x00here"}]}]}), encoding="utf-8")
    line = one_error_line(cli("import", str(path)), "#2", "NUL")
    assert "fine" not in line
    assert cli("prompts", "list", "--json").json() == []


def test_template_errors_are_one_line(cli):
    assert cli("prompts", "add", "num", "--content", "{{ 10**5000 }}").code == 0
    one_error_line(cli("prompts", "render", "num"), "4096")
    assert cli("prompts", "add", "rec", "--content", "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}").code == 0
    one_error_line(cli("prompts", "render", "rec"), "macro")


def test_deep_metadata_in_import_is_one_line(cli, tmp_path):
    deep: dict = {}
    node = deep
    for _ in range(200):
        node["k"] = {}
        node = node["k"]
    path = tmp_path / "deep.json"
    path.write_text(json.dumps({"format": "promptmgr-library", "prompts": [
        {"name": "d", "metadata": deep, "versions": [{"content": "x"}]}]}), encoding="utf-8")
    one_error_line(cli("import", str(path)), "10")


def _run(home: Path, *args: str, db_url: str | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PROMPTMGR_HOME": str(home), "PROMPTMGR_LOCALE": "en"}
    env.pop("DATABASE_URL", None)
    if db_url:
        env["DATABASE_URL"] = db_url
    return subprocess.Popen([sys.executable, "-m", "promptmgr", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT) if timeout == 0 else \
        subprocess.run([sys.executable, "-m", "promptmgr", *args], capture_output=True, text=True, env=env,
                       cwd=ROOT, timeout=timeout)


def test_corrupted_database_is_one_line_naming_the_file(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "promptmgr.db").write_bytes(b"this is not a database at all" * 100)
    result = _run(home, "prompts", "list")
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert str(home / "promptmgr.db") in lines[0] and "damaged" in lines[0] and "import" in lines[0]


def test_database_from_a_newer_version_is_one_line(tmp_path):
    home = tmp_path / "home"
    assert _run(home, "prompts", "list").returncode == 0
    with sqlite3.connect(home / "promptmgr.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    result = _run(home, "prompts", "list")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "newer version of promptmgr" in lines[0] and "Can't locate" not in result.stderr


@pytest.mark.postgres
def test_database_from_a_newer_version_on_postgres(pg_url):
    from sqlalchemy import create_engine, text

    from promptmgr.db import Database
    from promptmgr.errors import DatabaseUnavailableError

    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    try:
        with pytest.raises(DatabaseUnavailableError) as err:
            Database(pg_url).upgrade()
        assert err.value.message_key == "db.newer"
    finally:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
        engine.dispose()


# --- item 17 (part): a private data folder -------------------------------------------------
def test_data_folder_is_0700_and_database_files_0600(tmp_path):
    home = tmp_path / "fresh" / "data"
    assert _run(home, "prompts", "add", "x", "--content", "hello").returncode == 0
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "promptmgr.db").stat().st_mode) == 0o600
    # SQLite gives -wal/-shm the database file's mode; check them while a connection holds them open.
    with sqlite3.connect(home / "promptmgr.db") as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("SELECT count(*) FROM prompt").fetchone()
        for suffix in ("-wal", "-shm"):
            extra = home / f"promptmgr.db{suffix}"
            if extra.exists():
                assert stat.S_IMODE(extra.stat().st_mode) == 0o600, suffix


def test_an_existing_loose_database_file_is_tightened(tmp_path):
    home = tmp_path / "home"
    assert _run(home, "prompts", "list").returncode == 0
    os.chmod(home / "promptmgr.db", 0o644)
    assert _run(home, "prompts", "list").returncode == 0
    assert stat.S_IMODE((home / "promptmgr.db").stat().st_mode) == 0o600


# --- item 18: the first start is atomic ---------------------------------------------------
def _starter_names() -> set[str]:
    import yaml

    data = yaml.safe_load((ROOT / "data" / "starter_library.yaml").read_text(encoding="utf-8"))
    return {p["name"] for p in data["prompts"]}


def _fresh_starts(home: Path, db_url: str | None, count: int = 5) -> None:
    env = {**os.environ, "PROMPTMGR_HOME": str(home), "PROMPTMGR_LOCALE": "en", "PROMPTMGR_LOAD_STARTER": "true"}
    env.pop("DATABASE_URL", None)
    if db_url:
        env["DATABASE_URL"] = db_url
    procs = [subprocess.Popen([sys.executable, "-m", "promptmgr", "prompts", "list", "--json", "--limit", "1000"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
             for _ in range(count)]
    expected = _starter_names()
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
        assert {p["name"] for p in json.loads(out)} == expected, err


def test_processes_starting_at_once_all_see_the_starter_library(tmp_path):
    _fresh_starts(tmp_path / "home", None)


@pytest.mark.postgres
def test_processes_starting_at_once_on_postgres(pg_url, tmp_path):
    from tests.conftest import _truncate

    _truncate(pg_url)
    _fresh_starts(tmp_path / "home", pg_url)
