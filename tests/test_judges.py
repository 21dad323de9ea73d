"""Judges over real HTTP to the fake OpenAI-compatible server, on SQLite and PostgreSQL: the judge prompt
comes from the caller's library (the shipped one when it has none), the call runs at temperature 0,
the verdict is parsed, and judge tokens and cost land in the Verdict."""
from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from promptmgr.errors import PermissionDeniedError, ValidationError
from promptmgr.evaluation.checks import CheckInput, evaluate, parse_check
from promptmgr.evaluation.judges import JUDGE_PROMPTS, library_judge
from promptmgr.schemas import PromptCreate, PromptUpdate, parse

MODEL = "fake/judge-model"


@pytest.fixture
def judged(services, ctx, fake_llm):
    services.providers.add(ctx, "fake", fake_llm.base_url, api_key="sk-judge-key-0123456789abcdef")
    services.providers.set_price(ctx, MODEL, input_per_1k=1.0, output_per_1k=2.0)
    services.gateway.backoff_base = 0.0
    return services


def _evaluate(services, ctx, checks, output, **data):
    judge = library_judge(services, ctx, MODEL)
    specs = [parse_check(text) for text in checks]
    return asyncio.run(evaluate(specs, CheckInput(output=output, **data), judge=judge))


def _prompt_text(request) -> str:
    return "\n".join(m["content"] for m in request["messages"])


def test_a_valid_verdict_with_the_judge_spend(judged, ctx, fake_llm):
    fake_llm.script(['{"reason": "It greets politely.", "pass": true, "score": 0.9}'])
    verdict = _evaluate(judged, ctx, ["llm-rubric:Answers politely", "contains:Hello"], "Hello, dear user!",
                        input="Greet the user")
    assert verdict.passed is True and not verdict.errored
    rubric = verdict.results[0]
    assert (rubric.passed, rubric.score, rubric.reason) == (True, 0.9, "It greets politely.")
    request = fake_llm.chat_requests[-1]
    assert request["model"] == "judge-model" and request["temperature"] == 0
    text = _prompt_text(request)
    assert "Answers politely" in text and "Hello, dear user!" in text and "Greet the user" in text
    # The fake counts words; the price is 1 USD per 1000 input tokens and 2 per 1000 output tokens.
    prompt_tokens, completion_tokens = len(text.split()), 8
    assert verdict.judge_tokens == rubric.tokens == prompt_tokens + completion_tokens
    assert verdict.judge_cost == pytest.approx(prompt_tokens * 0.001 + completion_tokens * 0.002)


def test_a_reply_that_is_not_json_is_a_check_error_and_still_costs(judged, ctx, fake_llm):
    fake_llm.script(["The answer looks fine to me."])
    verdict = _evaluate(judged, ctx, ["llm-rubric:Is correct", "contains:4"], "2 + 2 = 4")
    result = verdict.results[0]
    assert (result.passed, result.score, result.error_key) == (None, 0.0, "evaluation.judge_not_json")
    assert verdict.errored and verdict.passed is False
    assert verdict.results[1].passed is True
    assert verdict.judge_tokens > 0 and verdict.judge_cost > 0


def test_factuality_uses_the_expected_output(judged, ctx, fake_llm):
    fake_llm.script(['Here is my verdict: {"pass": false, "score": 0.1, "reason": "Lyon is not the capital"}'])
    verdict = _evaluate(judged, ctx, ["factuality"], "The capital is Lyon.", expected="Paris")
    assert (verdict.passed, verdict.results[0].reason) == (False, "Lyon is not the capital")
    text = _prompt_text(fake_llm.chat_requests[-1])
    assert "<reference>\nParis\n</reference>" in text and "The capital is Lyon." in text


def test_the_callers_library_prompt_is_used_when_it_exists(judged, ctx, fake_llm):
    judged.load_starter(ctx)
    assert {p.name for p in judged.library.list(ctx).items} >= set(JUDGE_PROMPTS.values())
    judged.library.update(ctx, "judge-llm-rubric", parse(PromptUpdate, {
        "content": "HOUSE RUBRIC {{ rubric }} / {{ output }}. Reply in JSON.", "base_version": 1}))
    fake_llm.script(['{"pass": true, "score": 1, "reason": "ok"}'])
    _evaluate(judged, ctx, ["llm-rubric:Be brief"], "Short.")
    assert _prompt_text(fake_llm.chat_requests[-1]) == "HOUSE RUBRIC Be brief / Short.. Reply in JSON."
    judge = library_judge(judged, ctx, MODEL)
    fake_llm.script(['{"pass": true}'])
    asyncio.run(evaluate([parse_check("llm-rubric:Be brief")], CheckInput(output="Short"), judge=judge))
    assert judge.versions == {"judge-llm-rubric": 2}


def test_a_repeated_judge_call_comes_from_the_cache(judged, ctx, fake_llm):
    fake_llm.script(['{"pass": true, "score": 1, "reason": "ok"}'])
    first = _evaluate(judged, ctx, ["llm-rubric:Be brief"], "Short.")
    again = _evaluate(judged, ctx, ["llm-rubric:Be brief"], "Short.")
    assert len(fake_llm.chat_requests) == 1
    assert first.judge_cost > 0 and again.judge_cost == 0.0 and again.passed is True


def test_a_provider_failure_is_a_check_error(judged, ctx, fake_llm):
    fake_llm.fail_next(400)
    verdict = _evaluate(judged, ctx, ["llm-rubric:x"], "y")
    result = verdict.results[0]
    assert result.passed is None and result.error_key and result.error_key != "evaluation.judge_not_json"
    assert verdict.errored and verdict.judge_cost == 0.0


def test_a_judge_needs_a_model_and_the_right_to_run_experiments(services, ctx, fake_llm):
    with pytest.raises(ValidationError) as err:
        library_judge(services, ctx, "no such model!")
    assert err.value.message_key == "providers.bad_model"
    with pytest.raises(PermissionDeniedError):
        library_judge(services, replace(ctx, role="viewer"), MODEL)


def test_a_judge_prompt_of_ones_own_replaces_the_shipped_one(judged, ctx, fake_llm):
    judged.library.create(ctx, parse(PromptCreate, {
        "name": "judge-factuality", "content": "MINE {{ expected }} vs {{ output }}: JSON please"}))
    fake_llm.script(['{"pass": true}', '{"pass": true}'])
    _evaluate(judged, ctx, ["factuality:Paris"], "Paris!")
    assert _prompt_text(fake_llm.chat_requests[-1]) == "MINE Paris vs Paris!: JSON please"
    _evaluate(judged, ctx, ["llm-rubric:Be brief"], "Paris!")  # no library rubric prompt: the shipped one
    assert "You are a strict, impartial grader" in _prompt_text(fake_llm.chat_requests[-1])
    judge = library_judge(judged, ctx, MODEL)
    fake_llm.script(['{"pass": true}', '{"pass": true}'])
    asyncio.run(evaluate([parse_check("llm-rubric:Be brief"), parse_check("factuality:Paris")],
                         CheckInput(output="Paris?"), judge=judge))
    assert judge.versions == {"judge-llm-rubric": None, "judge-factuality": 1}
