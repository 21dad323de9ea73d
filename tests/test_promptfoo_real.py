"""Our export run by promptfoo itself, against the fake OpenAI-compatible server: promptfoo reads it,
calls the same endpoint and reaches the same verdicts (and the same exit code) as `promptmgr eval`.

Needs the promptfoo CLI (`npm install promptfoo` in a scratch folder, ~1.4 GB): PROMPTFOO_BIN names
it, else `promptfoo` on PATH. Without it the test is skipped, saying so."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

PROMPTFOO = os.environ.get("PROMPTFOO_BIN") or shutil.which("promptfoo")
pytestmark = pytest.mark.skipif(not PROMPTFOO, reason="promptfoo is not installed (set PROMPTFOO_BIN)")


def _promptfoo_env(folder: Path) -> dict:
    """Offline: no telemetry, no update check, no sharing; every non-loopback request refused."""
    env = {**os.environ, "PROMPTFOO_DISABLE_TELEMETRY": "1", "PROMPTFOO_DISABLE_UPDATE": "1",
           "PROMPTFOO_DISABLE_SHARING": "1", "PROMPTFOO_DISABLE_REMOTE_GENERATION": "1",
           "PROMPTFOO_CONFIG_DIR": str(folder / ".promptfoo"), "PROMPTFOO_CACHE_PATH": str(folder / ".cache"),
           "OPENAI_API_KEY": "dummy", "NO_UPDATE_NOTIFIER": "1", "npm_config_update_notifier": "false"}
    proxy = "http://127.0.0.1:9"
    env.update({"HTTPS_PROXY": proxy, "HTTP_PROXY": proxy, "https_proxy": proxy, "http_proxy": proxy,
                "NO_PROXY": "127.0.0.1,localhost,::1", "no_proxy": "127.0.0.1,localhost,::1"})
    return env


def _run_promptfoo(folder: Path) -> tuple[int, dict]:
    proc = subprocess.run([PROMPTFOO, "eval", "-c", "promptfooconfig.yaml", "-o", "out.json", "--no-cache",
                           "--no-progress-bar"], cwd=folder, env=_promptfoo_env(folder), capture_output=True,
                          text=True, timeout=300)
    assert (folder / "out.json").exists(), proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.returncode, json.loads((folder / "out.json").read_text(encoding="utf-8"))


def _config(folder: Path, base_url: str, failing: bool) -> Path:
    folder.mkdir(parents=True)
    (folder / "formal.txt").write_text("Please name the capital of {{ country }}.", encoding="utf-8")
    (folder / "tests.csv").write_text(f"country,__expected\nItaly,contains: {'Rome' if failing else 'Italy'}\n",
                                      encoding="utf-8")
    path = folder / "promptfooconfig.yaml"
    path.write_text(textwrap.dedent(f"""
        description: Capital cities
        prompts: ["Capital of {{{{country}}}}?", "file://formal.txt"]
        providers:
          - id: openai:chat:fake-model
            config: {{apiBaseUrl: "{base_url}", temperature: 0}}
        defaultTest:
          assert:
            - {{type: icontains, value: echo}}
            - {{type: not-contains, value: sorry}}
            - {{type: regex, value: "^echo: "}}
            - {{type: word-count, value: {{min: 2, max: 40}}}}
        tests:
          - {{vars: {{country: France}}, assert: [{{type: contains, value: France}}]}}
          - {{vars: {{country: Japan}}, assert: [{{type: contains, value: Japan}}]}}
          - file://tests.csv
        """).lstrip(), encoding="utf-8")
    return path


@pytest.mark.parametrize("failing", [False, True])
def test_promptfoo_runs_our_export_with_the_verdicts_of_our_eval(cli, fake_llm, tmp_path, failing):
    assert cli("providers", "add", "fake", "--base-url", fake_llm.base_url).code == 0
    source = _config(tmp_path / "source", fake_llm.base_url, failing)
    ours = cli("eval", str(source), "--name", "ours", "--json")
    assert ours.code == (100 if failing else 0), ours.err
    exported = tmp_path / "exported"
    exported.mkdir()
    assert cli("experiments", "export", "ours", "--format", "promptfoo", "--output",
               str(exported / "promptfooconfig.yaml")).code == 0
    before = len(fake_llm.chat_requests)
    code, output = _run_promptfoo(exported)
    assert code == (100 if failing else 0)
    assert len(fake_llm.chat_requests) - before == 6  # promptfoo called the same endpoint, 2 prompts x 3 tests
    theirs = sorted((r["vars"]["country"], r["prompt"]["label"], r["success"]) for r in output["results"]["results"])
    mine = sorted((r["vars"]["country"], r["prompt"]["label"], r["success"]) for r in (
        json.loads(line) for line in cli("experiments", "results", "ours", "--format", "jsonl").out.splitlines()))
    assert theirs == mine
    assert [country for country, _, ok in mine if not ok] == (["Italy", "Italy"] if failing else [])
