"""`promptmgr stats` end to end (in-process, on SQLite and PostgreSQL): JSON shape, periods, groupings,
and bad input as one translated line with a non-zero exit code."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.test_analytics import seed
from tests.test_cli_prompts import one_error_line

NOW = datetime.now(timezone.utc)


# Three runs within the last week (two models, two prompts) and one thirty days ago (outside 7d).
RUNS = [
    {"model": "fake/a", "prompt_name": "greet", "prompt_tokens": 10, "completion_tokens": 5, "cost": 0.25,
     "latency_ms": 100.0, "created_at": NOW - timedelta(hours=1)},
    {"model": "fake/a", "prompt_name": "greet", "prompt_tokens": 20, "completion_tokens": 5, "cost": 0.25,
     "latency_ms": 300.0, "error_code": "timeout", "created_at": NOW - timedelta(days=2)},
    {"model": "fake/b", "prompt_name": "summarize", "prompt_tokens": 100, "completion_tokens": 50, "cost": 2.0,
     "latency_ms": 50.0, "cached": True, "created_at": NOW - timedelta(days=3)},
    {"model": "fake/old", "prompt_name": "ancient", "prompt_tokens": 1, "completion_tokens": 1, "cost": None,
     "latency_ms": 10.0, "created_at": NOW - timedelta(days=30)},
]


def seed_runs():
    from promptmgr.cli import common

    seed(common.services(), common.context(), RUNS)


def test_json_by_model_has_totals_rows_and_percentiles(cli):
    seed_runs()
    data = cli("stats", "--json").json()
    assert set(data) == {"since", "until", "by", "totals", "rows"}
    assert data["since"] is None and data["until"] is None and data["by"] == "model"
    totals = data["totals"]
    assert (totals["calls"], totals["tokens"], totals["errors"], totals["cached"], totals["unpriced"]) == (4, 192, 1, 1, 1)
    assert totals["cost"] == 2.5 and totals["cache_hit_rate"] == 0.25 and totals["error_rate"] == 0.25
    rows = {row["model"]: row for row in data["rows"]}
    assert list(rows) == ["fake/a", "fake/b", "fake/old"]  # most calls first
    assert rows["fake/a"]["calls"] == 2 and rows["fake/a"]["latency_p50_ms"] == 200.0
    assert rows["fake/a"]["latency_p95_ms"] == 290.0  # interpolated between 100 and 300
    assert rows["fake/b"]["latency_p50_ms"] is None  # its only call was cached


def test_since_keeps_only_recent_runs(cli):
    seed_runs()
    data = cli("stats", "--since", "7d", "--by", "prompt", "--json").json()
    assert datetime.fromisoformat(data["since"]) < NOW - timedelta(days=6)
    assert [(r["prompt"], r["calls"], r["cost"]) for r in data["rows"]] == [("summarize", 1, 2.0), ("greet", 2, 0.5)]
    assert data["totals"]["calls"] == 3
    yesterday = (NOW - timedelta(days=1)).date().isoformat()  # from its midnight: only the run of an hour ago
    assert cli("stats", "--since", yesterday, "--json").json()["totals"]["calls"] == 1
    assert cli("stats", "--since", "24h", "--json").json()["totals"]["calls"] == 1


def test_by_day_and_week_are_oldest_first(cli):
    seed_runs()
    days = cli("stats", "--by", "day", "--json").json()["rows"]
    assert [r["bucket"] for r in days] == sorted(r["bucket"] for r in days)
    assert sum(r["calls"] for r in days) == 4 and days[0]["bucket"] == (NOW - timedelta(days=30)).date().isoformat()
    weeks = cli("stats", "--by", "WEEK", "--json").json()["rows"]
    assert all(datetime.fromisoformat(r["bucket"]).weekday() == 0 for r in weeks)  # weeks start on Monday
    assert sum(r["calls"] for r in weeks) == 4


def test_human_output_is_a_table(cli):
    seed_runs()
    result = cli("stats", "--since", "7d")
    assert result.code == 0, result.err
    assert "3 calls" in result.out and "MODEL" in result.out and "P95 MS" in result.out
    assert "fake/a" in result.out and "fake/old" not in result.out
    prompts = cli("stats", "--by", "prompt").out
    assert "(no prompt)" not in prompts and "ancient" in prompts and "PROMPT" in prompts
    assert "1 calls have no known price" in prompts


def test_no_runs_says_so(cli):
    result = cli("stats")
    assert result.code == 0 and "No runs in this period." in result.out
    assert cli("stats", "--json").json()["rows"] == []


def test_bad_input_is_one_line_and_exit_1(cli):
    one_error_line(cli("stats", "--since", "yesterday"), "--since", "yesterday")
    one_error_line(cli("stats", "--since", "7y"), "7y")
    one_error_line(cli("stats", "--until", "nope"), "--until", "nope")
    one_error_line(cli("stats", "--since", "1d", "--until", "2d"), "period")
    one_error_line(cli("stats", "--by", "month"), "--by", "month")
    one_error_line(cli("stats", "--by", "prompt", "--limit", "0"), "100")


def test_translated_errors(cli, monkeypatch):
    monkeypatch.setenv("PROMPTMGR_LOCALE", "de")
    result = cli("stats", "--since", "gestern")
    assert result.code == 1 and "erwartet" in result.err and "gestern" in result.err


def test_stats_imports_neither_gradio_nor_litellm(cli_env):
    import json
    import subprocess
    import sys

    from tests.conftest import ROOT

    probe = ("import json, sys\nfrom promptmgr.cli import main\ntry:\n    main(['stats', '--json'])\n"
             "except SystemExit as exc:\n    assert not exc.code, exc.code\n"
             "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=cli_env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["totals"]["calls"] == 0
    top_level = {name.split(".")[0] for name in json.loads(proc.stderr.splitlines()[-1])}
    for heavy in ("gradio", "litellm", "babel", "pandas", "tiktoken"):
        assert heavy not in top_level, f"`stats` imports {heavy}"
