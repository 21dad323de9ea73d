"""The deterministic check types: how each reads its value and judges one output.

Each type has `normalize(value) -> value` (from CLI text, a stored dict or a promptfoo assertion;
raises ValidationError) and `run(spec, data) -> Observed` (raises PromptMgrError for a check that
cannot decide, which evaluate() turns into CheckResult.error_key). A reason states the observed fact
(`contains_no`), so it stays true when the check is negated. Everything expensive is bounded:
regexes run with a timeout in the `regex` module, expressions in promptmgr's jinja sandbox with the
template limits; the JSON types (evaluation/check_json.py) bound their scans and schema patterns."""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ..errors import PromptMgrError, ValidationError
from .spec import CheckSpec

REGEX_SECONDS = 1.0         # one regex search on one output (a catastrophic pattern ends here)
MAX_LIST_ITEMS = 200        # contains-any / contains-all
LEVENSHTEIN_DEFAULT = 5     # promptfoo's default maximum distance
ROUGE_DEFAULT = 0.75        # promptfoo's default ROUGE threshold
_WORDS = re.compile(r"\w+", re.UNICODE)
_RANGE = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")


@dataclass
class Observed:
    """What a check saw: the base outcome before negation, and the fact as a message key."""

    passed: bool
    score: float
    key: str
    params: dict = field(default_factory=dict)


def short(text: Any, limit: int = 80) -> str:
    text = text if isinstance(text, str) else json.dumps(text, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- values ----------------------------------------------------------------------------------------
def text_value(type_: str):
    def normalize(value):
        if value is None or value == "":
            return None  # compare with the row's expected output
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValidationError("evaluation.bad_value", type=type_, value=short(value))
        return str(value)

    return normalize


def equals_value(value):
    if isinstance(value, (dict, list)):  # promptfoo: an object value is compared as JSON
        return value
    return text_value("equals")(value)


def required_text(type_: str):
    def normalize(value):
        if value is None or (isinstance(value, str) and not value.strip()):
            raise ValidationError("evaluation.value_required", type=type_)
        return text_value(type_)(value)

    return normalize


def list_value(type_: str):
    def normalize(value):
        if isinstance(value, str):
            items = [item.strip() for item in value.split(",")]
        elif isinstance(value, (list, tuple)) and all(isinstance(i, (str, int, float)) and not isinstance(i, bool)
                                                      for i in value):
            items = [str(item) for item in value]
        else:
            raise ValidationError("evaluation.bad_list", type=type_)
        items = [item for item in items if item]
        if not items or len(items) > MAX_LIST_ITEMS:
            raise ValidationError("evaluation.bad_list", type=type_)
        return items

    return normalize


def number_value(type_: str, integer: bool = False):
    def normalize(value):
        if isinstance(value, bool):
            raise ValidationError("evaluation.bad_number", type=type_, value=short(value))
        try:
            number = float(value.strip()) if isinstance(value, str) else float(value)
        except (TypeError, ValueError, OverflowError):
            raise ValidationError("evaluation.bad_number", type=type_, value=short(value)) from None
        if not math.isfinite(number) or number < 0 or (integer and not number.is_integer()):
            raise ValidationError("evaluation.bad_number", type=type_, value=short(value))
        return int(number) if integer or number.is_integer() else number

    return normalize


def optional_number(type_: str):
    inner = number_value(type_)
    return lambda value: None if value is None or value == "" else inner(value)


def word_count_value(value):
    """`42`, `10-50`, `10-`, `-50` or {"min": 10, "max": 50} (promptfoo's form) -> the canonical text
    (`42`, `10-50`, `10-`, `-50`), which names the check readably in reports."""
    low, high = word_count_range(value)
    if low == high:
        return str(low)
    return f"{'' if low is None else low}-{'' if high is None else high}"


@lru_cache(maxsize=256)
def _word_count_bounds(text: str) -> tuple[int | None, int | None]:
    return word_count_range(text)


def word_count_range(value) -> tuple[int | None, int | None]:
    count = number_value("word-count", integer=True)
    if isinstance(value, dict):
        unknown = set(value) - {"min", "max"}
        low, high = value.get("min"), value.get("max")
        if unknown or (low is None and high is None):
            raise ValidationError("evaluation.bad_word_count", value=short(value))
        low, high = (None if v is None else count(v) for v in (low, high))
    elif isinstance(value, str) and _RANGE.match(value):
        low_text, high_text = _RANGE.match(value).groups()
        if not low_text and not high_text:
            raise ValidationError("evaluation.bad_word_count", value=short(value))
        low, high = (count(v) if v else None for v in (low_text, high_text))
    elif value is not None and value != "":
        try:
            low = high = count(value)
        except ValidationError:
            raise ValidationError("evaluation.bad_word_count", value=short(value)) from None
    else:
        raise ValidationError("evaluation.value_required", type="word-count")
    if low is not None and high is not None and low > high:
        raise ValidationError("evaluation.bad_word_count", value=short(value))
    return low, high


def regex_value(value):
    if not isinstance(value, str) or not value:
        raise ValidationError("evaluation.value_required", type="regex")
    compiled_regex(value)
    return value


@lru_cache(maxsize=512)
def compiled_regex(pattern: str):
    """Compiled once per pattern (parse time, then from this cache)."""
    import regex

    try:
        return regex.compile(pattern)
    except (regex.error, ValueError, OverflowError, RecursionError) as exc:
        raise ValidationError("evaluation.bad_regex", detail=short(str(exc), 200)) from None


def search(pattern: str, text: str):
    try:
        return compiled_regex(pattern).search(text, timeout=REGEX_SECONDS)
    except TimeoutError:
        raise PromptMgrError("evaluation.regex_timeout", seconds=REGEX_SECONDS) from None


def loads_json(text: str):
    try:
        return json.loads(text), None
    except RecursionError:
        return None, "nesting"
    except ValueError as exc:
        return None, short(str(exc), 120)


# -- text comparisons ------------------------------------------------------------------------------
def reference(spec: CheckSpec, data) -> str:
    """The check's value (templated with the row's variables), else the row's expected output."""
    value = spec.value
    if value is None:
        if data.expected is None:
            raise PromptMgrError("evaluation.no_reference", type=spec.type)
        return str(data.expected)
    return render_value(value, data) if isinstance(value, str) else value


def render_value(value: str, data) -> str:
    """promptfoo renders assertion values with the test's variables (`value: "{{ answer }}"`)."""
    if "{{" not in value and "{%" not in value:
        return value
    from .. import templating

    return templating.render_limited(_compiled_template(value), template_context(data))


@lru_cache(maxsize=512)
def _compiled_template(text: str):
    from .. import templating

    return templating.compile_template(text)


def template_context(data) -> dict:
    return {**(data.vars or {}), "vars": data.vars or {}, "output": data.output, "expected": data.expected}


def run_equals(spec, data) -> Observed:
    expected = reference(spec, data)
    if isinstance(expected, (dict, list)):
        actual, _ = loads_json(data.output)
        same = actual == expected
    else:
        same = data.output == expected
    return Observed(same, float(same), "evaluation.reason.equal_yes" if same else "evaluation.reason.equal_no")


def _contains(case_blind: bool):
    def run(spec, data) -> Observed:
        wanted = reference(spec, data)
        needle, output = (wanted.casefold(), data.output.casefold()) if case_blind else (wanted, data.output)
        found = needle in output
        key = "evaluation.reason.contains_yes" if found else "evaluation.reason.contains_no"
        return Observed(found, float(found), key, {"value": short(wanted)})

    return run


def _contains_many(want_all: bool, case_blind: bool):
    def run(spec, data) -> Observed:
        output = data.output.casefold() if case_blind else data.output
        items = [render_value(item, data) for item in spec.value]
        hits = [item for item in items if (item.casefold() if case_blind else item) in output]
        if want_all:
            missing = [item for item in items if item not in hits]
            passed = not missing
            key = "evaluation.reason.contains_all_yes" if passed else "evaluation.reason.contains_all_no"
            return Observed(passed, float(passed), key, {"values": short(", ".join(missing or items))})
        passed = bool(hits)
        key = "evaluation.reason.contains_any_yes" if passed else "evaluation.reason.contains_any_no"
        return Observed(passed, float(passed), key, {"values": short(", ".join(hits or items))})

    return run


def run_starts_with(spec, data) -> Observed:
    prefix = reference(spec, data)
    found = data.output.startswith(prefix)
    return Observed(found, float(found), "evaluation.reason.starts_yes" if found else "evaluation.reason.starts_no",
                    {"value": short(prefix)})


def run_regex(spec, data) -> Observed:
    found = search(spec.value, data.output) is not None
    return Observed(found, float(found), "evaluation.reason.regex_yes" if found else "evaluation.reason.regex_no",
                    {"pattern": short(spec.value)})


def run_levenshtein(spec, data) -> Observed:
    from rapidfuzz.distance import Levenshtein

    limit = LEVENSHTEIN_DEFAULT if spec.threshold is None else spec.threshold
    limit = number_value("levenshtein", integer=True)(limit)
    # score_cutoff lets rapidfuzz stop early: distances past the limit come back as limit + 1
    distance = Levenshtein.distance(data.output, reference(spec, data), score_cutoff=limit)
    passed = distance <= limit
    shown = str(distance) if passed else f"> {limit}"
    return Observed(passed, float(passed), "evaluation.reason.levenshtein", {"distance": shown, "max": limit})


def _ngrams(text: str, n: int) -> dict[tuple, int]:
    words = [w.casefold() for w in _WORDS.findall(text)]
    counts: dict[tuple, int] = {}
    for i in range(len(words) - n + 1):
        gram = tuple(words[i:i + n])
        counts[gram] = counts.get(gram, 0) + 1
    return counts


def rouge_n(candidate: str, ref: str, n: int = 1) -> float:
    """ROUGE-N recall: the share of the reference's n-grams (with repeats) found in the candidate."""
    want, have = _ngrams(ref, n), _ngrams(candidate, n)
    total = sum(want.values())
    if total == 0:
        return 0.0
    return sum(min(count, have.get(gram, 0)) for gram, count in want.items()) / total


def run_rouge(spec, data) -> Observed:
    threshold = ROUGE_DEFAULT if spec.threshold is None else float(spec.threshold)
    score = rouge_n(data.output, reference(spec, data))
    return Observed(score >= threshold, score, "evaluation.reason.rouge",
                    {"score": f"{score:.2f}", "threshold": threshold})


def run_word_count(spec, data) -> Observed:
    count = len(data.output.split())
    low, high = _word_count_bounds(spec.value)
    passed = (low is None or count >= low) and (high is None or count <= high)
    return Observed(passed, float(passed), "evaluation.reason.word_count",
                    {"count": count, "min": 0 if low is None else low, "max": "∞" if high is None else high})


def _limit(spec: CheckSpec, type_: str):
    limit = spec.value if spec.value is not None else spec.threshold
    if limit is None:
        raise PromptMgrError("evaluation.value_required", type=type_)
    return number_value(type_)(limit)


def run_cost(spec, data) -> Observed:
    limit = _limit(spec, "cost")
    if data.cost is None:
        raise PromptMgrError("evaluation.no_cost")
    passed = data.cost <= limit
    return Observed(passed, float(passed), "evaluation.reason.cost", {"cost": f"{data.cost:.6g}", "limit": limit})


def run_latency(spec, data) -> Observed:
    limit = _limit(spec, "latency")
    if data.latency_ms is None:
        raise PromptMgrError("evaluation.no_latency")
    passed = data.latency_ms <= limit
    return Observed(passed, float(passed), "evaluation.reason.latency",
                    {"latency": round(data.latency_ms), "limit": limit})


# -- expr: a Jinja expression in the sandbox ---------------------------------------------------------
def expr_value(value):
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("evaluation.value_required", type="expr")
    compiled_expr(value)
    return value


@lru_cache(maxsize=256)
def compiled_expr(source: str):
    """`output | length < 200`, compiled once, with the sandbox's guards (loops, `~`) in place."""
    from jinja2 import TemplateSyntaxError, nodes
    from jinja2.environment import TemplateExpression
    from jinja2.parser import Parser

    from ..sandbox import environment, guard

    env = environment()
    try:
        parser = Parser(env, source, state="variable")
        expression = parser.parse_expression()
        if not parser.stream.eos:
            raise TemplateSyntaxError("unexpected text after the expression", parser.stream.current.lineno)
        body = [nodes.Assign(nodes.Name("result", "store"), expression, lineno=1)]
        template = env.from_string(guard(nodes.Template(body, lineno=1)))
    except TemplateSyntaxError as exc:
        raise ValidationError("evaluation.bad_expr", detail=short(exc.message or "", 200)) from None
    except RecursionError:
        raise ValidationError("limits.template_nesting") from None
    except (ValueError, OverflowError, MemoryError) as exc:
        raise ValidationError("limits.template_unreadable", detail=short(str(exc), 200)) from None
    return TemplateExpression(template, undefined_to_none=False)


def run_expr(spec, data) -> Observed:
    from .. import templating
    from ..sandbox import budget, finalize

    expression = compiled_expr(spec.value)
    context = {"output": data.output, "expected": data.expected, "vars": data.vars or {}, "cost": data.cost,
               "latency_ms": data.latency_ms}
    with templating.jinja_errors(render_key="evaluation.expr_failed"), budget(templating.limits()):
        result = expression(**context)
        finalize(result)  # a container result is size-checked like printed template output
        truthy = bool(result)
    if isinstance(result, (int, float)) and not isinstance(result, bool):
        try:
            number = float(result)
        except OverflowError:  # a big integer: past any score
            number = math.inf if result > 0 else -math.inf
        score = 0.0 if math.isnan(number) else min(max(number, 0.0), 1.0)
        passed = score >= spec.threshold if spec.threshold is not None else number > 0
    else:
        passed, score = truthy, float(truthy)
    return Observed(passed, score, "evaluation.reason.expr", {"result": short(result, 60)})
