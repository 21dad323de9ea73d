"""ExperimentRunService.estimate and the `experiments estimate/run/resume/cancel` commands (SQLite and
PostgreSQL): exact input tokens where a tokenizer exists, output tokens from max_tokens, past runs or
the stated default, judge calls; --json output stays clean."""
from __future__ import annotations

import json

import pytest

from promptmgr.llm import tokens
from tests.experiment_rows import make_experiment, make_prompt


@pytest.fixture
def lab(services, ctx, fake_llm):
    services.providers.add(ctx, "fake", fake_llm.base_url, api_key="sk-estimate-0123456789abcdef")
    make_prompt(services, ctx, "ask", "Question {{ i }}")
    return services


def test_estimate_counts_tokens_exactly_with_a_tokenizer_and_says_where_output_comes_from(lab, ctx):
    lab.providers.set_price(ctx, "fake/gpt-4o-mini", 1.0, 2.0)
    make_experiment(lab, ctx, "est", rows=3, variants=[("ask", "fake/gpt-4o-mini", {"max_tokens": 7}),
                                                       ("ask", "fake/other", {})],
                    checks=[{"type": "llm-rubric", "value": "polite"}, {"type": "contains", "value": "a"}])
    estimate = lab.experiment_runs.estimate(ctx, "est")
    first, second = estimate.variants
    expected = sum(tokens.count_messages([{"role": "user", "content": f"Question {i}"}], "openai/gpt-4o-mini").tokens
                   for i in range(3))
    assert (first.calls, first.input_tokens, first.input_exact) == (3, expected, True)
    assert (first.output_tokens, first.output_source) == (21, "max_tokens")
    assert first.cost == pytest.approx((expected * 1.0 + 21 * 2.0) / 1000)
    assert (second.output_source, second.output_tokens, second.cost) == ("default", 3 * 256, None)
    assert estimate.judge_calls == 6 and estimate.cost is None and "fake/other" in estimate.unknown_prices


def test_estimate_uses_the_mean_of_past_runs_and_only_counts_cells_not_done(lab, ctx, fake_llm):
    make_experiment(lab, ctx, "past", rows=4, variants=[("ask", "fake/m", {})])
    lab.experiment_runs.run(ctx, "past")  # the fake answers "echo: Question N": 3 words
    assert lab.experiment_runs.estimate(ctx, "past").calls == 0
    make_experiment(lab, ctx, "next", rows=2, variants=[("ask", "fake/m", {})])
    variant = lab.experiment_runs.estimate(ctx, "next").variants[0]
    assert (variant.output_source, variant.output_tokens) == ("history", 2 * 3)



def test_a_large_estimate_counts_an_even_sample_and_scales_it(lab, ctx, monkeypatch):
    from promptmgr.services import experiment_runs

    make_experiment(lab, ctx, "wide", rows=40, variants=[("ask", "fake/gpt-4o-mini", {})])
    exact = lab.experiment_runs.estimate(ctx, "wide").variants[0]
    assert exact.sampled_rows is None and exact.input_exact
    monkeypatch.setattr(experiment_runs, "ESTIMATE_SAMPLE", 10)
    sampled = lab.experiment_runs.estimate(ctx, "wide").variants[0]
    assert sampled.calls == 40 and sampled.sampled_rows == 10 and not sampled.input_exact
    # "Question 0".."Question 39": every 4th row is a fair sample of the token counts.
    assert abs(sampled.input_tokens - exact.input_tokens) <= 0.05 * exact.input_tokens


def test_cli_estimate_run_resume_and_cancel(cli, cli_env, fake_llm):
    from promptmgr.cli.common import context, services

    svc, ctx = services(), context()
    svc.providers.add(ctx, "fake", fake_llm.base_url)
    make_prompt(svc, ctx, "ask", "Question {{ i }}")
    make_experiment(svc, ctx, "cli-exp", rows=3, variants=[("ask", "fake/m1", {}), ("ask", "fake/m2", {})])
    result = cli("experiments", "estimate", "cli-exp", "--json")
    assert result.code == 0 and result.json()["calls"] == 6
    human = cli("experiments", "estimate", "cli-exp")
    assert human.code == 0 and "ask@1/fake/m1" in human.out and "256" in human.out
    result = cli("experiments", "run", "cli-exp", "--json", "--concurrency", "2")
    assert result.code == 0, result.err
    data = json.loads(result.out)  # nothing but the JSON on stdout
    assert (data["status"], data["done"], data["errors"], data["calls"]) == ("completed", 6, 0, 6)
    again = cli("experiments", "run", "cli-exp")
    assert again.code == 1 and "resume" in again.err
    resumed = cli("experiments", "resume", "cli-exp")
    assert resumed.code == 0 and "6/6" in resumed.out and fake_llm.chat_count == 6
    cancelled = cli("experiments", "cancel", "cli-exp")
    assert cancelled.code == 0 and "completed" in cancelled.out  # a finished experiment stays completed
    missing = cli("experiments", "run", "nope")
    assert missing.code == 1 and "nope" in missing.err
    bad = cli("experiments", "run", "cli-exp", "--max-cost", "-3")
    assert bad.code == 1 and "-3" in bad.err


def test_an_experiment_defined_from_the_command_line_runs_end_to_end(cli, cli_env, fake_llm, tmp_path):
    from promptmgr.cli.common import context, services

    svc, ctx = services(), context()
    svc.providers.add(ctx, "fake", fake_llm.base_url)
    make_prompt(svc, ctx, "capital", "Capital of {{ country }}?")
    data = tmp_path / "countries.csv"
    data.write_text("country,expected\nFrance,Paris\nJapan,Tokyo\n", encoding="utf-8")
    assert cli("datasets", "add", "countries", "--file", str(data)).code == 0
    created = cli("experiments", "create", "caps", "--dataset", "countries", "--prompt", "capital",
                  "--model", "fake/a", "--model", "fake/b", "--check", "contains:France")
    assert created.code == 0, created.err
    result = cli("experiments", "run", "caps", "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert (data["status"], data["done"], data["errors"]) == ("completed", 4, 0)
    assert sorted(fake_llm.user_texts()) == ["Capital of France?"] * 2 + ["Capital of Japan?"] * 2
