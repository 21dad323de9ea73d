"""The JSON check types: is-json and contains-json, with an optional JSON Schema.

A schema is user input too: its `pattern` and `patternProperties` run through the regex module with
the same timeout as the regex check, and the scan for JSON inside a text tries a bounded number of
start positions (a text of 100,000 `[` would otherwise cost quadratic time)."""
from __future__ import annotations

import json
from functools import lru_cache

from ..errors import PromptMgrError, ValidationError
from .check_types import Observed, loads_json, compiled_regex, search, short
from .spec import CheckSpec

MAX_JSON_STARTS = 200       # contains-json: positions tried as the start of a JSON value
MAX_JSON_SCAN = 200_000     # contains-json: characters of the output scanned for JSON


def schema_value(value):
    """None (any JSON), a schema object or boolean, or its JSON/YAML text."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            if value.lstrip().startswith(("{", "[")):  # meant as JSON: its error says what is wrong
                raise ValidationError("evaluation.bad_schema", detail=short(str(exc), 200)) from None
            from ..services.transfer import safe_yaml_load

            try:
                value = safe_yaml_load(value)
            except ValidationError:
                raise
            except Exception as exc:  # noqa: BLE001  (yaml's errors: the text is neither JSON nor YAML)
                raise ValidationError("evaluation.bad_schema", detail=short(" ".join(str(exc).split()), 200)) from None
    if not isinstance(value, (dict, bool)):
        raise ValidationError("evaluation.bad_schema", detail=short(value))
    schema_validator(json.dumps(value, sort_keys=True))
    return value


def _timed_pattern(validator, pattern, instance, schema):
    from jsonschema.exceptions import ValidationError as SchemaError

    if isinstance(instance, str) and not search(pattern, instance):
        yield SchemaError(f"{short(instance)!r} does not match {short(pattern)!r}")


def _timed_pattern_properties(validator, properties, instance, schema):
    if not isinstance(instance, dict):
        return
    for pattern, subschema in properties.items():
        for key, item in instance.items():
            if search(pattern, key):
                yield from validator.descend(item, subschema, path=key, schema_path=pattern)


@lru_cache(maxsize=128)
def schema_validator(schema_json: str):
    """A JSON Schema validator (the schema's own draft, else 2020-12) whose `pattern` and
    `patternProperties` run through the regex module with a timeout: a schema is user input too."""
    from jsonschema import validators
    from jsonschema.exceptions import SchemaError

    schema = json.loads(schema_json)
    base = validators.validator_for(schema, default=validators.Draft202012Validator)
    try:
        base.check_schema(schema)
        if isinstance(schema, dict):
            for pattern in _schema_patterns(schema):
                compiled_regex(pattern)
    except SchemaError as exc:
        raise ValidationError("evaluation.bad_schema", detail=short(exc.message, 200)) from None
    except RecursionError:
        raise ValidationError("evaluation.bad_schema", detail="nesting") from None
    timed = validators.extend(base, {"pattern": _timed_pattern, "patternProperties": _timed_pattern_properties})
    return timed(schema)


def _schema_patterns(schema) -> list[str]:
    found, stack = [], [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("pattern"), str):
                found.append(item["pattern"])
            if isinstance(item.get("patternProperties"), dict):
                found.extend(item["patternProperties"])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _schema_errors(schema, instance) -> str | None:
    if schema is None:
        return None
    try:
        error = next(iter(schema_validator(json.dumps(schema, sort_keys=True)).iter_errors(instance)), None)
    except RecursionError:
        raise PromptMgrError("evaluation.json_too_deep") from None
    return None if error is None else short(error.message, 200)


def run_is_json(spec: CheckSpec, data) -> Observed:
    value, error = loads_json(data.output)
    if error is not None:
        return Observed(False, 0.0, "evaluation.reason.json_no", {"detail": error})
    problem = _schema_errors(spec.value, value)
    if problem:
        return Observed(False, 0.0, "evaluation.reason.schema_no", {"detail": problem})
    return Observed(True, 1.0, "evaluation.reason.json_yes")


def json_values(text: str, openers: str = "{[") -> list:
    """The JSON values starting with one of `openers` (objects and arrays by default) found in a
    text, left to right (bounded: see MAX_JSON_*)."""
    decoder, found, tries = json.JSONDecoder(), [], 0
    text = text[:MAX_JSON_SCAN]
    index = 0
    while tries < MAX_JSON_STARTS:
        starts = [p for p in (text.find(opener, index) for opener in openers) if p >= 0]
        if not starts:
            break
        start = min(starts)
        tries += 1
        try:
            value, end = decoder.raw_decode(text, start)
        except (ValueError, RecursionError):
            index = start + 1
            continue
        found.append(value)
        index = end
    return found


def run_contains_json(spec: CheckSpec, data) -> Observed:
    values = json_values(data.output)
    if not values:
        return Observed(False, 0.0, "evaluation.reason.contains_json_no")
    problem = None
    for value in values:
        problem = _schema_errors(spec.value, value)
        if problem is None:
            return Observed(True, 1.0, "evaluation.reason.contains_json_yes")
    return Observed(False, 0.0, "evaluation.reason.schema_no", {"detail": problem})
