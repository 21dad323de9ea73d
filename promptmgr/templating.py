"""`{{ variable }}` templates: extraction, linting and sandboxed rendering (jinja2).

The sandbox refuses access to Python internals (attributes starting with "_", unsafe callables)
and the environment has no loader, so templates cannot read files or include other templates."""
from __future__ import annotations

import json
import re
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable

from .errors import TemplateError, ValidationError

VARIABLE_TYPES = ("string", "text", "integer", "number", "boolean", "list")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class LintIssue:
    kind: str  # "syntax" | "undeclared" | "unused"
    message_key: str
    params: dict
    line: int | None = None


@lru_cache(maxsize=1)
def _env():
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    # Immutable: a template cannot mutate the lists/dicts it is given either.
    return ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
    )


def _parse(text: str):
    from jinja2 import TemplateSyntaxError

    try:
        return _env().parse(text)
    except TemplateSyntaxError as exc:
        raise TemplateError("errors.template_syntax", line=exc.lineno, detail=exc.message) from None


def texts_of(content: str | None, messages: list | None) -> list[str]:
    """Every template text of a prompt: its content, or each text part of its chat messages."""
    if messages is None:
        return [content or ""]
    return [
        part.get("text", "")
        for message in messages
        for part in message.get("content", [])
        if part.get("type") == "text"
    ]


def extract_variables(text: str) -> list[str]:
    """Names the template reads from its context, in order of first appearance."""
    from jinja2 import meta

    names = meta.find_undeclared_variables(_parse(text))
    return sorted(names, key=lambda name: _first_position(text, name))


def _first_position(text: str, name: str) -> int:
    match = re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", text)
    return match.start() if match else len(text)


def extract_all(texts: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for text in texts:
        for name in extract_variables(text):
            seen.setdefault(name)
    return list(seen)


def normalize_declarations(variables: list[dict] | None) -> list[dict]:
    """Validate declared variables and fill defaults; bad declarations are a ValidationError."""
    result, seen = [], set()
    for raw in variables or []:
        name = str(raw.get("name", "")).strip()
        if not _NAME_RE.match(name):
            raise ValidationError("errors.bad_variable_name", name=name)
        if name in seen:
            raise ValidationError("errors.duplicate_variable", name=name)
        seen.add(name)
        var_type = raw.get("type") or "string"
        if var_type not in VARIABLE_TYPES:
            raise ValidationError("errors.bad_variable_type", name=name, type=var_type,
                                  allowed=", ".join(VARIABLE_TYPES))
        default = raw.get("default")
        required = raw.get("required")
        result.append({
            "name": name,
            "type": var_type,
            "required": bool(default is None) if required is None else bool(required),
            "default": default,
            "description": str(raw.get("description") or ""),
        })
    return result


def lint(texts: list[str], declared: list[dict] | None = None) -> list[LintIssue]:
    """Syntax errors with line numbers, variables used but not declared, declared but unused.

    With no declarations at all, variables are implicitly declared and only syntax is checked."""
    issues, used = [], []
    for text in texts:
        try:
            used.extend(extract_variables(text))
        except TemplateError as exc:
            issues.append(LintIssue("syntax", exc.message_key, exc.params, exc.params.get("line")))
    if not declared:
        return issues
    declared_names = [v["name"] for v in declared]
    for name in dict.fromkeys(used):
        if name not in declared_names:
            issues.append(LintIssue("undeclared", "lint.undeclared", {"name": name}))
    for name in declared_names:
        if name not in used:
            issues.append(LintIssue("unused", "lint.unused", {"name": name}))
    return issues


def coerce(value: Any, var_type: str, name: str) -> Any:
    """Values arrive as strings from the CLI and forms; convert them to the declared type."""
    if not isinstance(value, str) or var_type in ("string", "text"):
        return value
    try:
        if var_type == "integer":
            return int(value)
        if var_type == "number":
            return float(value)
        if var_type == "boolean":
            lowered = value.strip().lower()
            if lowered in ("true", "yes", "1", "on"):
                return True
            if lowered in ("false", "no", "0", "off", ""):
                return False
            raise ValueError(value)
        if var_type == "list":
            stripped = value.strip()
            if stripped.startswith("["):
                return list(json.loads(stripped))
            return [item.strip() for item in stripped.split(",") if item.strip()]
    except (ValueError, json.JSONDecodeError):
        raise ValidationError("errors.bad_variable_value", name=name, type=var_type, value=value) from None
    return value


def resolve_values(texts: list[str], declared: list[dict] | None, values: dict | None) -> dict:
    """The context for rendering: given values (coerced), then declared defaults.

    A variable the template uses with no value and no default is an error naming it."""
    values = dict(values or {})
    specs = {v["name"]: v for v in normalize_declarations(declared)}
    context = {}
    for name in extract_all(texts):
        spec = specs.get(name)
        if name in values and values[name] is not None:
            context[name] = coerce(values[name], spec["type"], name) if spec else values[name]
        elif spec and spec["default"] is not None:
            context[name] = spec["default"]
        elif spec and not spec["required"]:
            context[name] = ""
        else:
            raise ValidationError("errors.missing_variable", name=name)
    return context


@contextmanager
def jinja_errors(unsafe_key: str = "errors.template_unsafe", render_key: str = "errors.template_render"):
    """Jinja's failures while rendering, as a TemplateError with the caller's message keys."""
    from jinja2 import TemplateError as JinjaTemplateError
    from jinja2.sandbox import SecurityError

    try:
        yield
    except SecurityError as exc:  # a subclass of jinja's TemplateError: caught first
        raise TemplateError(unsafe_key, detail=str(exc)) from None
    except (JinjaTemplateError, TypeError, ValueError, ArithmeticError, OverflowError) as exc:
        raise TemplateError(render_key, detail=str(exc)) from None


def render_text(text: str, context: dict) -> str:
    template = _env().from_string(_parse(text))
    with jinja_errors():
        return template.render(context)


def render(content: str | None, messages: list | None, declared: list[dict] | None,
           values: dict | None) -> tuple[str | None, list | None]:
    """Render a text prompt or every text part of a chat prompt."""
    context = resolve_values(texts_of(content, messages), declared, values)
    if messages is None:
        return render_text(content or "", context), None
    rendered = []
    for message in messages:
        parts = []
        for part in message.get("content", []):
            if part.get("type") == "text":
                part = {**part, "text": render_text(part.get("text", ""), context)}
            parts.append(part)
        rendered.append({**message, "content": parts})
    return None, rendered
