"""Checks (evaluation/checks.py): every type, negation, weights and thresholds, parse errors, promptfoo
interop, hostile regexes and expressions ending with their bounded error, model-graded checks through
a stand-in judge (the real one, over HTTP, is in tests/test_judges.py)."""
from __future__ import annotations

import asyncio
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptmgr import config
from promptmgr.errors import ValidationError
from promptmgr.evaluation import check_types
from promptmgr.evaluation.checks import (PROMPTFOO_UNSUPPORTED, CheckInput, CheckSpec, evaluate, from_promptfoo,
                                         is_model_graded, parse_check, parse_checks, registry, to_promptfoo,
                                         validate)
from promptmgr.evaluation.judges import parse_verdict
from promptmgr.i18n import SUPPORTED_LOCALES
from promptmgr.llm.types import LLMResult


def run(specs, output="", *, expected=None, vars=None, cost=None, latency_ms=None, threshold=None, judge=None):
    specs = [parse_check(s) if isinstance(s, str) else s for s in specs]
    data = CheckInput(output=output, expected=expected, vars=vars or {}, cost=cost, latency_ms=latency_ms)
    return asyncio.run(evaluate(specs, data, threshold=threshold, judge=judge))


def one(spec, output="", **kwargs):
    return run([spec], output, **kwargs).results[0]


# -- every type -----------------------------------------------------------------------------------
CASES = [
    # (check, output, extra, passes)
    ("equals:Paris", "Paris", {}, True),
    ("equals:Paris", "Paris ", {}, False),
    ("equals", "Paris", {"expected": "Paris"}, True),
    ("contains:Paris", "I love Paris.", {}, True),
    ("contains:paris", "I love Paris.", {}, False),
    ("icontains:paris", "I love PARIS.", {}, True),
    ("contains", "The answer is 42.", {"expected": "42"}, True),
    ("contains:{{ city }}", "Lyon is big", {"vars": {"city": "Lyon"}}, True),
    ("contains-any:red,green", "a green apple", {}, True),
    ("contains-any:red,green", "a blue apple", {}, False),
    ("contains-all:red, green", "red and green", {}, True),
    ("contains-all:red,green", "red only", {}, False),
    ("icontains-any:RED,blue", "Red", {}, True),
    ("icontains-all:RED,Green", "red GREEN", {}, True),
    ("starts-with:Yes", "Yes, of course", {}, True),
    ("starts-with:Yes", " Yes", {}, False),
    (r"regex:^\d+$", "12345", {}, True),
    (r"regex:^\d+$", "12a45", {}, False),
    ("is-json", '{"a": 1}', {}, True),
    ("is-json", "{a: 1}", {}, False),
    ('is-json:{"type": "object", "required": ["a"]}', '{"a": 1}', {}, True),
    ('is-json:{"type": "object", "required": ["a"]}', '{"b": 1}', {}, False),
    ("contains-json", 'Here: {"a": [1, 2]} done', {}, True),
    ("contains-json", "no json {here", {}, False),
    ('contains-json:{"type": "object", "required": ["b"]}', '{"a": 1} and {"b": 2}', {}, True),
    ("levenshtein:Paris", "Pariss", {}, True),
    ("levenshtein:Paris", "Marseille", {}, False),
    ("rouge-n:the cat sat on the mat", "the cat sat on a mat", {}, True),   # 5/6 = 0.83
    ("rouge-n:the cat sat on the mat", "a dog", {}, False),
    ("word-count:2-3", "one two three", {}, True),
    ("word-count:2-3", "one two three four", {}, False),
    ("word-count:4", "one two three four", {}, True),
    ("word-count:-1", "one two", {}, False),
    ("word-count:2-", "one two three", {}, True),
    ("cost:0.01", "x", {"cost": 0.005}, True),
    ("cost:0.01", "x", {"cost": 0.02}, False),
    ("latency:500", "x", {"latency_ms": 499.0}, True),
    ("latency:500", "x", {"latency_ms": 501.0}, False),
    ("expr:output | length < 5", "1234", {}, True),
    ("expr:output | length < 5", "12345", {}, False),
    ("expr:vars.n * 2 == output | int", "8", {"vars": {"n": 4}}, True),
    ("expr:expected in output", "the answer is 7", {"expected": "7"}, True),
]


@pytest.mark.parametrize("text,output,extra,passes", CASES)
def test_every_type_and_its_negation(text, output, extra, passes):
    result = one(text, output, **extra)
    assert result.error_key is None, result.explain()
    assert result.passed is passes
    assert result.score == (1.0 if passes else 0.0) or parse_check(text).type == "rouge-n"
    negated = one("not-" + text, output, **extra)
    assert negated.passed is (not passes)
    assert negated.score == pytest.approx(1.0 - result.score)
    assert negated.name == "not-" + result.name


def test_every_registered_type_has_a_case():
    covered = {parse_check(text).type for text, *_ in CASES} | {"llm-rubric", "factuality"}
    assert covered == set(registry)
    assert {name for name in registry if is_model_graded(name)} == {"llm-rubric", "factuality"}


def test_scores_of_graded_types():
    assert one("rouge-n:the cat sat on the mat", "the cat sat on a mat").score == pytest.approx(5 / 6)
    low = parse_check("rouge-n:the cat sat on the mat")
    assert one(CheckSpec("rouge-n", low.value, threshold=0.9), "the cat sat on a mat").passed is False
    assert one(CheckSpec("levenshtein", "Paris", threshold=1), "Pariss").passed is True
    assert one(CheckSpec("levenshtein", "Paris", threshold=1), "Parisss").passed is False
    assert one("expr:0.25", "x").score == 0.25 and one("expr:0.25", "x").passed is True
    assert one(CheckSpec("expr", "0.25", threshold=0.5), "x").passed is False
    assert one("expr:0", "x").passed is False


# -- cell verdicts: weights and thresholds ------------------------------------------------------------
def test_every_check_must_pass_without_a_threshold():
    verdict = run(["contains:a", "contains:b", "contains:z"], "ab")
    assert verdict.passed is False and verdict.score == pytest.approx(2 / 3) and not verdict.errored
    assert run(["contains:a", "contains:b"], "ab").passed is True


def test_weighted_score_against_the_test_threshold():
    specs = [CheckSpec("contains", "a", weight=3), CheckSpec("contains", "z", weight=1)]
    assert run(specs, "abc").score == pytest.approx(0.75)
    assert run(specs, "abc", threshold=0.7).passed is True
    assert run(specs, "abc", threshold=0.8).passed is False
    assert run(specs, "abc").passed is False  # no threshold: every check must pass


def test_a_zero_weight_check_does_not_count_in_the_score_but_must_pass():
    specs = [CheckSpec("contains", "a"), CheckSpec("contains", "z", weight=0)]
    verdict = run(specs, "abc")
    assert verdict.score == 1.0 and verdict.passed is False
    assert run(specs, "abc", threshold=1.0).passed is True


def test_no_checks_pass():
    verdict = run([], "anything")
    assert verdict.passed is True and verdict.score == 1.0 and verdict.results == []


def test_stored_dict_specs_evaluate_like_parsed_ones():
    stored = [parse_check(t).to_dict() for t in ("contains:a", "not-regex:^z", "word-count:1-")]
    data = CheckInput(output="abc")
    verdict = asyncio.run(evaluate(stored, data))
    assert verdict.passed is True and [r.name for r in verdict.results] == ["contains:a", "not-regex:^z",
                                                                              "word-count:1-"]
    assert parse_checks(stored + ["icontains:B"])[-1] == parse_check("icontains:B")


def test_a_broken_stored_spec_is_an_error_for_that_check_not_a_crash():
    data = CheckInput(output="abc")
    verdict = asyncio.run(evaluate([{"type": "nope"}, {"type": "regex", "value": "("}, {"type": "contains",
                                                                                        "value": "a"}], data))
    assert [r.error_key for r in verdict.results] == ["evaluation.unknown_type", "evaluation.bad_regex", None]
    assert verdict.errored and verdict.passed is False


@pytest.mark.parametrize("bad", ["x", -1, 1.5, float("nan")])
def test_a_bad_test_threshold_is_refused(bad):
    with pytest.raises(ValidationError) as err:
        run(["contains:a"], "a", threshold=bad)
    assert err.value.message_key == "evaluation.bad_threshold"


# -- errors a check reports -------------------------------------------------------------------------
@pytest.mark.parametrize("text,extra,key", [
    ("equals", {}, "evaluation.no_reference"),
    ("levenshtein", {}, "evaluation.no_reference"),
    ("cost:1", {}, "evaluation.no_cost"),
    ("latency:1", {}, "evaluation.no_latency"),
    ("expr:missing_name > 1", {}, "evaluation.expr_failed"),
    ("contains:{{ nope }}", {}, "errors.template_render"),
    ("llm-rubric:polite", {}, "evaluation.no_judge"),
])
def test_a_check_that_cannot_decide_is_an_error_not_a_failure(text, extra, key):
    result = one(text, "output", **extra)
    assert (result.passed, result.score, result.error_key) == (None, 0.0, key)
    assert not result.explain("en").startswith("evaluation.")


# -- parsing ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,key", [
    ("", "evaluation.check_empty"),
    ("not-", "evaluation.check_empty"),
    ("nope:x", "evaluation.unknown_type"),
    ("regex:(", "evaluation.bad_regex"),
    ("regex", "evaluation.value_required"),
    ("cost:cheap", "evaluation.bad_number"),
    ("cost:-1", "evaluation.bad_number"),
    ("latency:inf", "evaluation.bad_number"),
    ("cost", "evaluation.value_required"),
    ("word-count:50-10", "evaluation.bad_word_count"),
    ("word-count:lots", "evaluation.bad_word_count"),
    ("word-count:-", "evaluation.bad_word_count"),
    ("word-count", "evaluation.value_required"),
    ("is-json:{bad", "evaluation.bad_schema"),
    ('is-json:{"type": 5}', "evaluation.bad_schema"),
    ('is-json:{"pattern": "("}', "evaluation.bad_schema"),
    ("is-json:7", "evaluation.bad_schema"),
    ("expr:output |", "evaluation.bad_expr"),
    ("expr:1 2", "evaluation.bad_expr"),
    ("expr:" + "(" * 3000 + "1" + ")" * 3000, "limits.template_nesting"),
    ("llm-rubric", "evaluation.value_required"),
    ("contains-any:,,", "evaluation.bad_list"),
    ("contains:" + "x" * 10_001, "evaluation.check_too_long"),
])
def test_parse_errors_have_clear_keys(text, key):
    with pytest.raises(ValidationError) as err:
        parse_check(text)
    assert err.value.message_key == key
    assert not err.value.translate("en").startswith("evaluation.")


def test_an_unknown_type_names_the_known_ones():
    with pytest.raises(ValidationError) as err:
        parse_check("containz:x")
    assert err.value.params["type"] == "containz"
    assert set(err.value.params["known"].split(", ")) == set(registry)


def test_parsing_normalizes_values():
    assert parse_check("Contains:Paris: France") == CheckSpec("contains", "Paris: France")
    assert parse_check("not-ICONTAINS:sorry") == CheckSpec("icontains", "sorry", negate=True)
    assert parse_check("contains-any: a , b,,c").value == ["a", "b", "c"]
    assert parse_check("word-count:10-50").value == "10-50"
    assert validate(CheckSpec("word-count", {"min": 10})).value == "10-"
    assert parse_check("cost:0.01").value == 0.01 and parse_check("latency:500").value == 500
    assert parse_check('is-json:{"type":"object"}').value == {"type": "object"}
    assert parse_check("is-json:type: object").value == {"type": "object"}  # YAML, as promptfoo reads it
    assert parse_check("equals").value is None  # compared with the row's expected output


@pytest.mark.parametrize("field,value,key", [("weight", -1, "evaluation.bad_weight"),
                                             ("weight", "heavy", "evaluation.bad_weight"),
                                             ("threshold", "high", "evaluation.bad_threshold"),
                                             ("metric", "", "evaluation.bad_metric")])
def test_weights_thresholds_and_metrics_are_validated(field, value, key):
    with pytest.raises(ValidationError) as err:
        validate(CheckSpec("contains", "a", **{field: value}))
    assert err.value.message_key == key


def test_too_many_checks_are_refused():
    with pytest.raises(ValidationError) as err:
        parse_checks(["contains:a"] * 51)
    assert err.value.message_key == "evaluation.too_many_checks"


# -- promptfoo ------------------------------------------------------------------------------------
PROMPTFOO = [
    {"type": "equals", "value": "Paris"},
    {"type": "contains", "value": "Paris", "weight": 2.0, "metric": "city"},
    {"type": "not-icontains", "value": "sorry"},
    {"type": "contains-any", "value": ["a", "b"]},
    {"type": "contains-all", "value": ["a", "b"]},
    {"type": "icontains-any", "value": ["a", "b"]},
    {"type": "icontains-all", "value": ["a", "b"]},
    {"type": "starts-with", "value": "Yes"},
    {"type": "regex", "value": r"^\d+$"},
    {"type": "is-json"},
    {"type": "is-json", "value": {"type": "object", "required": ["a"]}},
    {"type": "contains-json", "value": {"type": "array"}},
    {"type": "levenshtein", "value": "Paris", "threshold": 2},
    {"type": "rouge-n", "value": "the cat", "threshold": 0.5},
    {"type": "word-count", "value": {"min": 10, "max": 50}},
    {"type": "word-count", "value": 42},
    {"type": "word-count", "value": {"max": 50}},
    {"type": "cost", "threshold": 0.01},
    {"type": "latency", "threshold": 500},
    {"type": "llm-rubric", "value": "Answers politely", "threshold": 0.8},
    {"type": "factuality", "value": "Paris is the capital of France"},
]


@pytest.mark.parametrize("assertion", PROMPTFOO, ids=lambda a: a["type"])
def test_promptfoo_assertions_round_trip(assertion):
    spec = from_promptfoo(assertion)
    assert to_promptfoo(spec) == assertion
    assert from_promptfoo(to_promptfoo(spec)) == spec


def test_promptfoo_cost_and_latency_limits_become_values():
    assert from_promptfoo({"type": "cost", "threshold": 0.01}) == CheckSpec("cost", 0.01)
    assert to_promptfoo(parse_check("latency:500")) == {"type": "latency", "threshold": 500}
    assert from_promptfoo({"type": "contains-any", "value": "a, b"}).value == ["a", "b"]


@pytest.mark.parametrize("name", PROMPTFOO_UNSUPPORTED + ("expr", "made-up"))
def test_unsupported_promptfoo_types_are_named(name):
    with pytest.raises(ValidationError) as err:
        from_promptfoo({"type": name, "value": "x"})
    assert err.value.message_key == "evaluation.unsupported" and err.value.params["type"] == name
    assert name in err.value.translate("en")


@pytest.mark.parametrize("assertion,option", [
    ({"type": "contains", "value": "a", "transform": "output.trim()"}, "transform"),
    ({"type": "contains", "value": "file://needle.txt"}, "file://"),
])
def test_promptfoo_options_promptmgr_cannot_honour_are_named(assertion, option):
    with pytest.raises(ValidationError) as err:
        from_promptfoo(assertion)
    assert err.value.message_key == "evaluation.unsupported_option" and err.value.params["option"] == option


def test_bad_promptfoo_entries():
    for bad in ("contains", {"value": "x"}, {"type": 3}):
        with pytest.raises(ValidationError) as err:
            from_promptfoo(bad)
        assert err.value.message_key == "evaluation.bad_assertion"
    with pytest.raises(ValidationError) as err:
        from_promptfoo({"type": "regex", "value": "("})
    assert err.value.message_key == "evaluation.bad_regex"


def test_expr_has_no_promptfoo_form():
    with pytest.raises(ValidationError) as err:
        to_promptfoo(parse_check("expr:output | length < 200"))
    assert err.value.message_key == "evaluation.not_in_promptfoo"


# -- properties ---------------------------------------------------------------------------------
texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
needles = st.text(alphabet="abcABCéÉ ,", min_size=1, max_size=5).filter(lambda s: s.strip(" ,"))


@settings(max_examples=100)
@given(output=texts, needle=needles)
def test_contains_implies_icontains(output, needle):
    needle = needle.strip()
    contains, icontains = one(f"contains:{needle}", output), one(f"icontains:{needle}", output)
    assert contains.passed is (needle in output)
    if contains.passed:
        assert icontains.passed
    assert one(f"icontains:{needle.upper()}", output.lower()).passed is (needle.casefold() in output.casefold())


DETERMINISTIC = ["contains:a", "icontains:A", "starts-with:a", "regex:a+b", "is-json", "contains-json",
                 "levenshtein:abc", "rouge-n:a b c", "word-count:1-3", "expr:output | length > 3",
                 "contains-any:a,b", "contains-all:a,b", "equals:abc"]


@settings(max_examples=100)
@given(output=texts, text=st.sampled_from(DETERMINISTIC))
def test_negation_flips_pass_and_score(output, text):
    plain, negated = one(text, output), one("not-" + text, output)
    assert plain.error_key is None and negated.error_key is None
    assert negated.passed is (not plain.passed)
    assert negated.score == pytest.approx(1.0 - plain.score)
    assert 0.0 <= plain.score <= 1.0


@settings(max_examples=60)
@given(scores=st.lists(st.tuples(st.booleans(), st.floats(0, 10)), min_size=1, max_size=6),
       threshold=st.floats(0, 1))
def test_the_cell_score_is_the_weighted_mean(scores, threshold):
    specs = [CheckSpec("contains", "x" if hit else "y", weight=weight) for hit, weight in scores]
    verdict = run(specs, "x", threshold=threshold)
    total = sum(weight for _, weight in scores)
    expected = sum(weight for hit, weight in scores if hit) / total if total else float(all(h for h, _ in scores))
    assert verdict.score == pytest.approx(expected)
    assert verdict.passed is (verdict.score >= threshold)
    assert run(specs, "x").passed is all(hit for hit, _ in scores)


# -- hostile input ends with its bounded error ---------------------------------------------------------
@pytest.fixture
def quick_regex(monkeypatch):
    monkeypatch.setattr(check_types, "REGEX_SECONDS", 0.05)


@pytest.mark.parametrize("pattern,text", [(r"(a+)+$", "a" * 5000 + "b"), (r"(x+x+)+y", "x" * 5000),
                                          (r"(.*a){40}", "a" * 30 + "b" * 3000), (r"^(\w+\s?)*$", "a" * 5000 + "!")])
def test_catastrophic_regexes_end_with_a_timeout_error(quick_regex, pattern, text):
    result = one(f"regex:{pattern}", text)
    assert (result.passed, result.error_key) == (None, "evaluation.regex_timeout")
    assert "0.05" in result.explain("en")


def test_a_schema_pattern_is_bounded_too(quick_regex):
    schema = '{"type": "string", "pattern": "(a+)+$"}'
    assert one(f"is-json:{schema}", '"' + "a" * 5000 + 'b"').error_key == "evaluation.regex_timeout"
    props = '{"type": "object", "patternProperties": {"(a+)+$": {}}}'
    assert one(f"is-json:{props}", '{"' + "a" * 5000 + 'b": 1}').error_key == "evaluation.regex_timeout"
    assert one(f"is-json:{schema}", '"aaa"').passed is True


def test_contains_json_scans_a_bounded_number_of_starts():
    hostile = "[" * 100_000  # every start would scan to the end: quadratic without the cap
    assert one("contains-json", hostile).passed is False
    assert one("contains-json", "{" * 300 + '{"a": 1}').passed is False  # past MAX_JSON_STARTS
    assert one("is-json", "[" * 100_000 + "]" * 100_000).passed is False  # too deep: not valid JSON here


HOSTILE_EXPR = {
    "power": ("9**(9**9)", "limits.template_number"),
    "repeat": ("output * 10**8", "limits.template_output"),
    "range": ("range(10**7) | list | length", "limits.template_range"),
    "lipsum": ("lipsum(n=10**7)", "limits.template_lipsum"),
    "center": ("output | center(10**9)", "limits.template_argument"),
    "format": ("'{:>999999999}'.format(1)", "limits.template_output"),
    "join": ("range(1000) | join('x' * 999999)", "limits.template_output"),
    "internals": ("output.__class__.__mro__", "errors.template_unsafe"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_EXPR))
def test_hostile_expressions_end_with_their_limit(name):
    source, key = HOSTILE_EXPR[name]
    result = one("expr:" + source, "abc")
    assert result.passed is None
    assert result.error_key == key or (name == "internals" and result.error_key == "evaluation.expr_failed")


def test_a_slow_expression_ends_at_the_render_time_limit():
    previous = list(config._active)
    config.activate(config.Settings(render_seconds=1e-9))
    try:
        result = one("expr:range(10000) | map('string') | join | length > 0", "abc")
    finally:
        config._active[:] = previous
    assert result.error_key == "limits.template_time"
    assert one("expr:range(10000) | map('string') | join | length > 0", "abc").passed is True


def test_expressions_cannot_change_their_inputs():
    result = one("expr:vars.update({'a': 1}) or true", "x", vars={"b": 2})
    assert result.error_key in ("errors.template_unsafe", "evaluation.expr_failed")


# -- model-graded checks through a stand-in judge ----------------------------------------------------
class ScriptedJudge:
    def __init__(self, *replies: LLMResult):
        self.replies, self.calls = list(replies), []

    async def __call__(self, kind, variables):
        self.calls.append((kind, variables))
        return self.replies.pop(0)


def reply(text: str, cost: float | None = 0.002, error_key: str | None = None) -> LLMResult:
    return LLMResult(text=text, prompt_tokens=100, completion_tokens=20, cost=cost, latency_ms=5.0, model="judge",
                     error_code="server_error" if error_key else None, error_key=error_key)


def test_llm_rubric_verdicts_and_judge_spend():
    judge = ScriptedJudge(reply('{"pass": true, "score": 0.9, "reason": "polite"}'))
    verdict = run(["llm-rubric:Answers politely", "contains:Hello"], "Hello there", judge=judge)
    assert verdict.passed is True and verdict.score == pytest.approx(0.95)
    rubric = verdict.results[0]
    assert (rubric.passed, rubric.score, rubric.reason, rubric.tokens) == (True, 0.9, "polite", 120)
    assert (verdict.judge_cost, verdict.judge_tokens) == (0.002, 120)
    kind, variables = judge.calls[0]
    assert kind == "llm-rubric" and variables["rubric"] == "Answers politely" and variables["output"] == "Hello there"


def test_a_judge_reply_that_is_not_json_is_an_error_and_still_costs():
    judge = ScriptedJudge(reply("I think it is fine."))
    verdict = run(["llm-rubric:polite"], "hi", judge=judge)
    result = verdict.results[0]
    assert (result.passed, result.error_key) == (None, "evaluation.judge_not_json")
    assert "I think it is fine." in result.explain("en")
    assert verdict.errored and verdict.passed is False and verdict.judge_cost == 0.002


def test_a_failed_judge_call_is_an_error_for_that_check():
    verdict = run(["factuality"], "Paris", expected="Paris", judge=ScriptedJudge(reply("", None, "errors.provider")))
    assert verdict.results[0].error_key == "errors.provider" and verdict.judge_cost == 0.0


def test_negation_and_thresholds_of_model_graded_checks():
    ok = '{"pass": true, "score": 0.6, "reason": "ok"}'
    assert run(["not-llm-rubric:rude"], "x", judge=ScriptedJudge(reply(ok))).results[0].passed is False
    strict = CheckSpec("llm-rubric", "polite", threshold=0.8)
    assert run([strict], "x", judge=ScriptedJudge(reply(ok))).results[0].passed is False
    bare = '{"score": 0.7}'
    assert run(["llm-rubric:polite"], "x", judge=ScriptedJudge(reply(bare))).results[0].passed is True


def test_factuality_compares_with_the_expected_output():
    judge = ScriptedJudge(reply('{"pass": false, "score": 0, "reason": "wrong city"}'))
    result = run(["factuality"], "Lyon", expected="Paris", judge=judge).results[0]
    assert judge.calls[0] == ("factuality", {"output": "Lyon", "expected": "Paris", "input": ""})
    assert (result.passed, result.reason) == (False, "wrong city")


def test_judge_calls_of_one_cell_run_concurrently():
    started = []

    class SlowJudge:
        async def __call__(self, kind, variables):
            started.append(kind)
            await asyncio.sleep(0)
            assert len(started) == 2  # both calls began before either finished
            return reply('{"pass": true}')

    verdict = run(["llm-rubric:a", "factuality:b", "regex:x"], "x", judge=SlowJudge())
    assert verdict.passed is True and verdict.judge_tokens == 240


@pytest.mark.parametrize("text,passed,score,reason", [
    ('{"pass": true, "score": 0.8, "reason": "good"}', True, 0.8, "good"),
    ('Sure! ```json\n{"reason": "meh", "pass": false, "score": 0.2}\n```', False, 0.2, "meh"),
    ('Verdict: {"Pass": "yes", "Score": "1.5"} thanks', True, 1.0, ""),
    ('{"note": 1} then {"pass": false}', False, 0.0, ""),
    ('{"score": -3}', None, 0.0, ""),
])
def test_verdicts_are_read_robustly(text, passed, score, reason):
    verdict = parse_verdict(text)
    assert (verdict.passed, verdict.score, verdict.reason) == (passed, score, reason)


@pytest.mark.parametrize("text,key", [("no json at all", "evaluation.judge_not_json"),
                                      ('{"reason": "no decision"}', "evaluation.judge_not_json"),
                                      ("{broken", "evaluation.judge_not_json"),
                                      ('{"pass": "maybe"}', "evaluation.judge_bad_verdict"),
                                      ('{"score": "NaN"}', "evaluation.judge_bad_verdict")])
def test_unreadable_verdicts_are_errors(text, key):
    from promptmgr.errors import PromptMgrError

    with pytest.raises(PromptMgrError) as err:
        parse_verdict(text)
    assert err.value.message_key == key


# -- every reason reads as a sentence in every language --------------------------------------------
def test_reasons_are_translated_without_leftover_placeholders():
    checks = [text for text, *_ in CASES] + ["equals:{\"a\": 1}", "is-json:{\"type\": \"array\"}", "cost:1",
                                             "latency:1", "expr:nope > 1"]
    outputs = [run(checks, output, cost=None if output == "x" else 0.1, latency_ms=None if output == "x" else 10.0,
                   vars={"city": "Lyon", "n": 4}, expected="7") for output in dict.fromkeys(o for _, o, *_ in CASES)]
    results = [r for verdict in outputs for r in verdict.results]
    keys = {r.reason_key for r in results} | {r.error_key for r in results}
    assert len(keys) > 25
    for locale in SUPPORTED_LOCALES:
        for result in results:
            text = result.explain(locale)
            assert text and not re.search(r"%\{\w+\}", text) and not text.startswith("evaluation."), text
