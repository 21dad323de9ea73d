"""Checks: one signature, one registry.

A check is a CheckSpec (evaluation/spec.py): `[not-]TYPE[:VALUE]` on the command line, a dict in
Experiment.checks, an `assert` entry in a promptfoo config. parse_check / validate / from_promptfoo
turn each into a normalized spec (regexes, schemas and expressions are compiled once, here, and then
come from a cache); evaluate() judges one output against a list of them and returns a Verdict.

Scoring follows promptfoo: each check gives pass and a score 0..1 (`not-` flips both); the cell's
score is the weight-averaged score; without a test threshold the cell passes when every check
passes, with one when the score reaches it. A check that cannot decide (a judge reply that is not
JSON, a provider failure, a regex past its time bound, a cost that is unknown) is a CheckResult with
error_key and passed None: never an exception, and it fails the cell (a cell with any such check
reports `errored`)."""
from __future__ import annotations

import asyncio
import json
import logging
import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable

from ..errors import PromptMgrError, ValidationError
from . import check_json as cj
from . import check_types as ct
from .judges import JUDGE_PROMPTS, Judge, parse_verdict
from .spec import MAX_CHECKS, NEGATION, CheckSpec, split_spec

__all__ = ["CheckInput", "CheckResult", "CheckType", "Verdict", "Judge", "JUDGE_PROMPTS", "registry",
           "is_model_graded", "parse_check", "validate", "from_promptfoo", "to_promptfoo", "evaluate",
           "PROMPTFOO_UNSUPPORTED", "parse_checks", "prepared"]

log = logging.getLogger(__name__)
MAX_METRIC_CHARS = 200


@dataclass(frozen=True)
class CheckType:
    name: str
    normalize: Callable[[Any], Any]          # the value as typed, stored or imported -> normalized value
    run: Callable | None = None              # (spec, CheckInput) -> Observed; None for model-graded types
    model_graded: bool = False
    heavy: bool = False                      # may take long on one output: runs off the event loop
    in_promptfoo: bool = True                # promptfoo has this assertion type under the same name


def _types() -> dict[str, CheckType]:
    text = ct.text_value
    types = [
        CheckType("equals", ct.equals_value, ct.run_equals),
        CheckType("contains", text("contains"), ct._contains(False)),
        CheckType("icontains", text("icontains"), ct._contains(True)),
        CheckType("contains-any", ct.list_value("contains-any"), ct._contains_many(False, False)),
        CheckType("contains-all", ct.list_value("contains-all"), ct._contains_many(True, False)),
        CheckType("icontains-any", ct.list_value("icontains-any"), ct._contains_many(False, True)),
        CheckType("icontains-all", ct.list_value("icontains-all"), ct._contains_many(True, True)),
        CheckType("starts-with", text("starts-with"), ct.run_starts_with),
        CheckType("regex", ct.regex_value, ct.run_regex, heavy=True),
        CheckType("is-json", cj.schema_value, cj.run_is_json, heavy=True),
        CheckType("contains-json", cj.schema_value, cj.run_contains_json, heavy=True),
        CheckType("levenshtein", text("levenshtein"), ct.run_levenshtein, heavy=True),
        CheckType("rouge-n", text("rouge-n"), ct.run_rouge),
        CheckType("word-count", ct.word_count_value, ct.run_word_count),
        CheckType("cost", ct.optional_number("cost"), ct.run_cost),
        CheckType("latency", ct.optional_number("latency"), ct.run_latency),
        CheckType("expr", ct.expr_value, ct.run_expr, heavy=True, in_promptfoo=False),
        CheckType("llm-rubric", ct.required_text("llm-rubric"), model_graded=True),
        CheckType("factuality", text("factuality"), model_graded=True),
    ]
    return {t.name: t for t in types}


registry: dict[str, CheckType] = _types()

# promptfoo assertion types promptmgr does not run (named in the import's one error message).
PROMPTFOO_UNSUPPORTED = ("javascript", "python", "ruby", "webhook", "similar", "classifier", "moderation",
                         "perplexity", "perplexity-score", "answer-relevance", "context-faithfulness",
                         "context-recall", "context-relevance", "model-graded-closedqa", "g-eval", "select-best",
                         "bleu", "gleu", "meteor", "is-sql", "contains-sql", "is-xml", "contains-xml",
                         "is-valid-openai-function-call", "is-valid-openai-tools-call", "assert-set")
_PROMPTFOO_KEYS = {"type", "value", "threshold", "weight", "metric", "provider"}


def is_model_graded(type_: str) -> bool:
    check_type = registry.get(type_)
    return bool(check_type and check_type.model_graded)


@dataclass
class CheckInput:
    output: str
    expected: str | None = None
    vars: dict = field(default_factory=dict)
    cost: float | None = None
    latency_ms: float | None = None
    input: str | None = None        # the rendered prompt, shown to judges


@dataclass
class CheckResult:
    name: str
    passed: bool | None             # None: the check could not decide (see error_key)
    score: float
    reason: str = ""                # free text (a judge's reason)
    error_key: str | None = None
    error_params: dict | None = None
    cost: float = 0.0               # judge calls
    tokens: int = 0
    reason_key: str | None = None   # the observed fact as a message key, for deterministic checks
    reason_params: dict | None = None

    def explain(self, locale: str | None = "en") -> str:
        """The reason or the error as a sentence in `locale`."""
        from ..i18n import t

        if self.error_key:
            return PromptMgrError(self.error_key, **(self.error_params or {})).translate(locale or "en")
        if self.reason_key:
            return t(self.reason_key, locale, **(self.reason_params or {}))
        return self.reason

    def to_dict(self) -> dict:
        """The form stored in Cell.scores."""
        return {"check": self.name, "pass": self.passed, "score": self.score, "reason": self.reason,
                "reason_key": self.reason_key, "reason_params": self.reason_params, "error": self.error_key,
                "error_params": self.error_params, "cost": self.cost, "tokens": self.tokens}


@dataclass
class Verdict:
    passed: bool
    score: float
    results: list[CheckResult]
    judge_cost: float = 0.0
    judge_tokens: int = 0

    @property
    def errored(self) -> bool:
        """Some check could not decide (its CheckResult has error_key)."""
        return any(result.error_key for result in self.results)


# -- specs -----------------------------------------------------------------------------------------
def _check_type(name: str) -> CheckType:
    check_type = registry.get(name)
    if check_type is None:
        raise ValidationError("evaluation.unknown_type", type=name, known=", ".join(sorted(registry)))
    return check_type


def _number(value: Any, key: str, minimum: float | None = None, maximum: float | None = None) -> float:
    if isinstance(value, bool):
        raise ValidationError(key, value=ct.short(value))
    try:
        number = float(value.strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValidationError(key, value=ct.short(value)) from None
    if not math.isfinite(number) or (minimum is not None and number < minimum) or \
            (maximum is not None and number > maximum):
        raise ValidationError(key, value=ct.short(value))
    return number


def validate(spec: CheckSpec) -> CheckSpec:
    """The spec with its value normalized (compiled and cached where it applies). Raises ValidationError."""
    if not isinstance(spec, CheckSpec):
        raise ValidationError("evaluation.check_empty")
    check_type = _check_type(str(spec.type).strip().lower())
    value = check_type.normalize(spec.value)
    threshold = None if spec.threshold is None else _number(spec.threshold, "evaluation.bad_threshold")
    if check_type.name == "levenshtein" and threshold is not None:
        threshold = ct.number_value("levenshtein", integer=True)(threshold)
    if check_type.name in ("cost", "latency") and value is None and threshold is None:
        raise ValidationError("evaluation.value_required", type=check_type.name)
    metric = spec.metric
    if metric is not None and (not isinstance(metric, str) or not metric.strip() or len(metric) > MAX_METRIC_CHARS):
        raise ValidationError("evaluation.bad_metric", max=MAX_METRIC_CHARS)
    return CheckSpec(type=check_type.name, value=value, negate=bool(spec.negate),
                     weight=_number(spec.weight, "evaluation.bad_weight", 0.0), threshold=threshold,
                     metric=metric.strip() if metric else None)


def parse_check(text: str) -> CheckSpec:
    """`[not-]TYPE[:VALUE]` (`contains:Paris`, `not-icontains:sorry`, `regex:^\\d+$`, `is-json`,
    `word-count:10-50`, `cost:0.01`, `expr:output | length < 200`) -> a normalized CheckSpec.
    Raises ValidationError: unknown type (naming the known ones), bad regex, number, schema, expression."""
    type_, negate, value = split_spec(text)
    _check_type(type_)
    return validate(CheckSpec(type=type_, value=value, negate=negate))


def parse_checks(items: list) -> list[CheckSpec]:
    """Several checks (texts, CheckSpecs or stored dicts), at most MAX_CHECKS. Raises ValidationError."""
    if len(items) > MAX_CHECKS:
        raise ValidationError("evaluation.too_many_checks", max=MAX_CHECKS)
    specs = []
    for item in items:
        if isinstance(item, str):
            specs.append(parse_check(item))
        elif isinstance(item, dict) and isinstance(item.get("type"), str):
            specs.append(validate(CheckSpec.from_dict(item)))
        else:
            specs.append(validate(item))
    return specs


def from_promptfoo(assertion: dict) -> CheckSpec:
    """One promptfoo `assert` entry -> a CheckSpec. Raises ValidationError("evaluation.unsupported",
    type=...) for a type promptmgr does not run, and for options it cannot honour."""
    if not isinstance(assertion, dict) or not isinstance(assertion.get("type"), str):
        raise ValidationError("evaluation.bad_assertion")
    raw = assertion["type"].strip()
    base = raw.lower()
    negate = base.startswith(NEGATION)
    base = base[len(NEGATION):] if negate else base
    check_type = registry.get(base)
    if check_type is None or not check_type.in_promptfoo:
        raise ValidationError("evaluation.unsupported", type=raw)
    extra = sorted(set(assertion) - _PROMPTFOO_KEYS)
    if extra:
        raise ValidationError("evaluation.unsupported_option", type=raw, option=", ".join(extra))
    value, threshold = assertion.get("value"), assertion.get("threshold")
    if isinstance(value, str) and value.startswith("file://"):
        raise ValidationError("evaluation.unsupported_option", type=raw, option="file://")
    if base in ("cost", "latency"):  # promptfoo puts their limit in `threshold`
        value, threshold = threshold if threshold is not None else value, None
    weight = assertion.get("weight")
    return validate(CheckSpec(type=base, value=value, negate=negate, weight=1.0 if weight is None else weight,
                              threshold=threshold, metric=assertion.get("metric")))


def to_promptfoo(spec: CheckSpec) -> dict:
    """A CheckSpec as a promptfoo `assert` entry. Raises ValidationError for a type promptfoo lacks (expr)."""
    spec = validate(spec)
    if not registry[spec.type].in_promptfoo:
        raise ValidationError("evaluation.not_in_promptfoo", type=spec.type)
    entry: dict[str, Any] = {"type": (NEGATION if spec.negate else "") + spec.type}
    if spec.type in ("cost", "latency"):
        entry["threshold"] = spec.value if spec.value is not None else spec.threshold
    elif spec.type == "word-count":  # promptfoo: a number, or {"min", "max"}
        low, high = ct.word_count_range(spec.value)
        entry["value"] = low if low == high else {k: v for k, v in (("min", low), ("max", high)) if v is not None}
    else:
        if spec.value is not None:
            entry["value"] = spec.value
        if spec.threshold is not None:
            entry["threshold"] = spec.threshold
    if spec.weight != 1.0:
        entry["weight"] = spec.weight
    if spec.metric:
        entry["metric"] = spec.metric
    return entry


# -- evaluation ----------------------------------------------------------------------------------
def _result(spec: CheckSpec, observed: ct.Observed) -> CheckResult:
    passed, score = observed.passed, observed.score
    if spec.negate:
        passed, score = not passed, 1.0 - score
    return CheckResult(spec.name, passed, score, reason_key=observed.key, reason_params=observed.params or None)


def _error(spec: CheckSpec, key: str, params: dict | None, **extra) -> CheckResult:
    return CheckResult(spec.name, None, 0.0, error_key=key, error_params=params or None, **extra)


@lru_cache(maxsize=1024)
def _validated(spec: CheckSpec) -> CheckSpec:
    return validate(spec)


@lru_cache(maxsize=1024)
def _validated_json(type_: str, value: str, negate: bool, weight, threshold, metric) -> CheckSpec:
    return validate(CheckSpec(type_, json.loads(value), negate, weight, threshold, metric))


def prepared(spec: CheckSpec) -> CheckSpec:
    """validate(spec), once per distinct spec: every cell of an experiment evaluates the same checks."""
    try:
        return _validated(spec)
    except TypeError:  # a list or schema value is not hashable: key the spec by its value's JSON
        value = json.dumps(spec.value, sort_keys=True, default=str)
        return _validated_json(spec.type, value, spec.negate, spec.weight, spec.threshold, spec.metric)


def _run(spec: CheckSpec, data: CheckInput) -> CheckResult:
    try:
        spec = prepared(spec)
        return _result(spec, registry[spec.type].run(spec, data))
    except PromptMgrError as exc:
        return _error(spec, exc.message_key, exc.params)
    except Exception as exc:  # noqa: BLE001  (a bug in one check must not abort an experiment)
        log.exception("check %s failed", spec.type)
        return _error(spec, "evaluation.check_failed", {"detail": ct.short(f"{type(exc).__name__}: {exc}", 200)})


def _run_all(items: list[tuple[int, CheckSpec]], data: CheckInput) -> list[tuple[int, CheckResult]]:
    return [(index, _run(spec, data)) for index, spec in items]


def _judge_variables(spec: CheckSpec, data: CheckInput) -> dict:
    if spec.type == "llm-rubric":
        return {"output": data.output, "rubric": ct.render_value(spec.value, data), "input": data.input or "",
                "expected": data.expected or ""}
    return {"output": data.output, "expected": ct.reference(spec, data), "input": data.input or ""}


async def _graded(spec: CheckSpec, data: CheckInput, judge: Judge | None) -> CheckResult:
    try:
        spec = prepared(spec)
        if judge is None:
            raise PromptMgrError("evaluation.no_judge", type=spec.type)
        variables = _judge_variables(spec, data)
        reply = await judge(spec.type, variables)
    except PromptMgrError as exc:
        return _error(spec, exc.message_key, exc.params)
    except Exception as exc:  # noqa: BLE001
        log.exception("judge for %s failed", spec.type)
        return _error(spec, "evaluation.check_failed", {"detail": ct.short(f"{type(exc).__name__}: {exc}", 200)})
    spent = {"cost": float(reply.cost or 0.0), "tokens": int(reply.prompt_tokens or 0) + int(reply.completion_tokens or 0)}
    if not reply.ok:
        return _error(spec, reply.error_key or "evaluation.judge_failed", dict(reply.error_params or {}), **spent)
    try:
        verdict = parse_verdict(reply.text)
    except PromptMgrError as exc:
        return _error(spec, exc.message_key, exc.params, **spent)
    passed, score = verdict.passed, verdict.score
    if passed is None:  # a bare score: it passes at the check's threshold, else at one half
        passed = score >= (0.5 if spec.threshold is None else spec.threshold)
    elif spec.threshold is not None:
        passed = passed and score >= spec.threshold
    if spec.negate:
        passed, score = not passed, 1.0 - score
    return CheckResult(spec.name, passed, score, reason=verdict.reason, **spent)


def _verdict(specs: list[CheckSpec], results: list[CheckResult], threshold: float | None) -> Verdict:
    weights = [max(float(spec.weight), 0.0) for spec in specs]
    total = sum(weights)
    all_pass = all(result.passed is True for result in results)
    score = (sum(w * r.score for w, r in zip(weights, results)) / total) if total > 0 else float(all_pass)
    passed = all_pass if threshold is None else score >= threshold
    return Verdict(passed=passed, score=score, results=results, judge_cost=sum(r.cost for r in results),
                   judge_tokens=sum(r.tokens for r in results))


async def evaluate(specs: list[CheckSpec], data: CheckInput, *, threshold: float | None = None,
                   judge: Judge | None = None) -> Verdict:
    """Judge one output against every check. Judge calls run concurrently; deterministic checks that may
    take long (regex, expr, JSON Schema, levenshtein) run in a worker thread so the event loop keeps
    serving other cells. Never raises for a check's failure (see CheckResult.error_key); raises
    ValidationError for a bad test threshold."""
    if threshold is not None:
        threshold = _number(threshold, "evaluation.bad_threshold", 0.0, 1.0)  # a score is 0..1
    specs = [CheckSpec.from_dict(s) if isinstance(s, dict) else s for s in specs]
    results: list[CheckResult | None] = [None] * len(specs)
    graded = [(i, s) for i, s in enumerate(specs) if is_model_graded(str(s.type).lower())]
    plain = [(i, s) for i, s in enumerate(specs) if not is_model_graded(str(s.type).lower())]
    tasks = [asyncio.ensure_future(_graded(spec, data, judge)) for _, spec in graded]
    try:
        heavy = any(registry.get(str(s.type).lower(), registry["equals"]).heavy for _, s in plain)
        done = await asyncio.to_thread(_run_all, plain, data) if heavy else _run_all(plain, data)
        for index, result in done:
            results[index] = result
        if tasks:
            for (index, _), result in zip(graded, await asyncio.gather(*tasks)):
                results[index] = result
    finally:
        for task in tasks:
            task.cancel()
    return _verdict(specs, results, threshold)
