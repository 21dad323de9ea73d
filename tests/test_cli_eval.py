"""The CLI of experiment results: `eval` exit codes (0 / 100 / 1) against the fake OpenAI server,
`experiments show --json` shape, `results` to a file, `label`, `import` and `export`."""
from __future__ import annotations

import csv
import json
import textwrap
from pathlib import Path

import pytest
import yaml


def config(folder: Path, base_url: str, extra_test: str = "") -> Path:
    """Two tests the fake server passes (it answers "echo: <prompt>"), plus `extra_test`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "promptfooconfig.yaml"
    path.write_text(textwrap.dedent(f"""
        description: echo check
        prompts: ["Capital of {{{{country}}}}?"]
        providers:
          - id: openai:chat:fake-model
            config: {{apiBaseUrl: "{base_url}"}}
        tests:
          - {{vars: {{country: France}}, assert: [{{type: icontains, value: france}}]}}
          - {{vars: {{country: Peru}}, assert: [{{type: icontains, value: peru}}]}}
        {extra_test}
        """).lstrip(), encoding="utf-8")
    return path


@pytest.fixture
def fake_provider(cli, fake_llm):
    result = cli("providers", "add", "fake", "--base-url", fake_llm.base_url)
    assert result.code == 0, result.err
    return fake_llm


def test_eval_exits_0_when_every_cell_passes(cli, fake_provider, tmp_path):
    path = config(tmp_path / "ok", fake_provider.base_url)
    result = cli("eval", str(path), "--name", "ok-run", "--json")
    assert result.code == 0, result.err
    data = result.json()  # stdout is clean JSON (progress, if any, went to stderr)
    assert data["exit_code"] == 0 and data["failed"] == 0
    summary = data["summary"]
    assert summary["status"] == "completed" and summary["cells"]["total"] == 2 and summary["cells"]["done"] == 2
    assert summary["variants"][0]["pass_rate"] == 1.0
    assert len(fake_provider.chat_requests) == 2


def test_eval_exits_100_when_a_cell_fails_a_check(cli, fake_provider, tmp_path):
    path = config(tmp_path / "bad", fake_provider.base_url,
                  extra_test="  - {vars: {country: Chile}, assert: [{type: icontains, value: Santiago}]}")
    result = cli("eval", str(path))
    assert result.code == 100, result.err
    assert "VARIANT" in result.out  # the table, for a person
    assert "1 of 3" in result.err


def test_eval_exits_100_when_a_cell_errors(cli, fake_provider, tmp_path):
    fake_provider.fail_next(400, count=1)  # a client error: not retried, the cell errors
    result = cli("eval", str(config(tmp_path / "err", fake_provider.base_url)), "--json")
    assert result.code == 100, result.err
    assert result.json()["summary"]["cells"]["errors"] == 1


def test_eval_exits_1_on_a_bad_config_and_runs_nothing(cli, fake_provider, tmp_path):
    path = config(tmp_path / "unsupported", fake_provider.base_url,
                  extra_test="  - {vars: {country: Chile}, assert: [{type: javascript, value: 'true'}]}")
    result = cli("eval", str(path))
    assert result.code == 1
    assert "javascript" in result.err and result.out == ""
    assert fake_provider.chat_requests == []
    assert cli("experiments", "list", "--json").json() == []


def test_show_json_has_the_documented_shape(cli, fake_provider, tmp_path):
    assert cli("eval", str(config(tmp_path / "s", fake_provider.base_url)), "--name", "shape").code == 0
    shown = cli("experiments", "show", "shape", "--json").json()
    assert {"name", "status", "cells", "cost", "variants", "comparisons"} <= set(shown)
    assert {"total", "done", "errors"} <= set(shown["cells"])
    assert {"name", "prompt", "version", "model", "n", "passed", "pass_rate", "ci", "cost", "latency_p50_ms",
            "latency_p95_ms", "errors"} <= set(shown["variants"][0])
    human = cli("experiments", "show", "shape")
    assert human.code == 0 and "shape" in human.out and "100.0%" in human.out


def test_results_label_export_and_import_through_the_cli(cli, fake_provider, tmp_path):
    assert cli("eval", str(config(tmp_path / "r", fake_provider.base_url)), "--name", "cli-run").code == 0
    out = tmp_path / "results.csv"
    result = cli("experiments", "results", "cli-run", "--format", "csv", "--output", str(out))
    assert result.code == 0 and result.out == ""
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == 2 and rows[0]["output"].startswith("echo:")
    lines = cli("experiments", "results", "cli-run", "--format", "jsonl").out.splitlines()
    cell = json.loads(lines[0])["id"]
    labelled = cli("experiments", "label", "cli-run", "--cell", str(cell), "--fail", "--score", "0.2",
                   "--comment", "too curt", "--json")
    assert labelled.code == 0 and labelled.json()["pass"] is False and labelled.json()["score"] == 0.2
    assert cli("experiments", "label", "cli-run", "--cell", str(cell)).code == 1  # neither --pass nor --fail
    assert cli("experiments", "label", "cli-run", "--cell", str(cell), "--pass", "--score", "2").code == 1
    exported = tmp_path / "again" / "promptfooconfig.yaml"
    exported.parent.mkdir()
    assert cli("experiments", "export", "cli-run", "--format", "promptfoo", "--output", str(exported)).code == 0
    document = yaml.safe_load(exported.read_text(encoding="utf-8"))
    assert document["providers"][0]["id"] == "openai:chat:fake-model"
    imported = cli("experiments", "import", str(exported), "--name", "cli-copy", "--json")
    assert imported.code == 0, imported.err
    assert imported.json()["rows"] == 2 and all(not p["created"] for p in imported.json()["prompts"])
    assert cli("experiments", "import", str(exported), "--name", "cli-copy").code == 1  # the name is taken
