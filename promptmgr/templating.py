"""`{{ variable }}` templates: extraction, linting and sandboxed rendering (jinja2).

The sandbox refuses access to Python internals (attributes starting with "_", unsafe callables)
and the environment has no loader, so templates cannot read files or include other templates.
promptmgr/sandbox.py bounds what a template may cost (numbers, sizes, loops, time), also while
parsing and extracting variables, so nothing done at save time or on reads can hang."""
from __future__ import annotations

import functools

import json
import re
from contextlib import contextmanager
from dataclasses import dataclass
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


def _env():
    from .sandbox import environment

    # Immutable: a template cannot mutate the lists/dicts it is given either; limited: see sandbox.py.
    return environment()


def limits():
    """The render limits from the active settings (output size and time)."""
    from .config import active_settings
    from .sandbox import Limits

    settings = active_settings()
    return Limits(max_bytes=settings.max_render_bytes, seconds=settings.render_seconds)


def _parse(text: str):
    from jinja2 import TemplateSyntaxError

    try:
        return _env().parse(text)
    except TemplateSyntaxError as exc:
        raise TemplateError("errors.template_syntax", line=exc.lineno, detail=exc.message) from None
    except RecursionError:  # thousands of nested brackets
        raise TemplateError("limits.template_nesting") from None
    except (ValueError, OverflowError, MemoryError) as exc:  # e.g. an integer literal too long to read
        raise TemplateError("limits.template_unreadable", detail=str(exc)) from None


def texts_of(content: str | None, messages: list | None) -> list[str]:
    """Every template text of a prompt: its content, or each text part of its chat messages."""
    from .schemas import as_messages

    if messages is None:
        return [content or ""]
    try:
        return [text for message in as_messages(messages) for text in message.texts()]
    except ValidationError:
        # A draft in the editor (a half-typed image URL...) is analysed before it can validate:
        # its text parts are still its templates.
        return [part.get("text") or "" for message in messages if isinstance(message, dict)
                for part in message.get("content") or [] if isinstance(part, dict) and part.get("type") == "text"]


# Reading a prompt (the REST API's hot path, the library) re-derives its variables each time: parsing
# and lexing were a third of a GET's CPU. Memoized for templates up to this size (bounds the memory).
_MEMO_BYTES, _MEMO_ENTRIES = 65_536, 512


def extract_variables(text: str) -> list[str]:
    """Names the template reads from its context, in order of first appearance."""
    if len(text) <= _MEMO_BYTES:
        return list(_extract_memoized(text))
    return _extract(text)


@functools.lru_cache(maxsize=_MEMO_ENTRIES)
def _extract_memoized(text: str) -> tuple[str, ...]:
    return tuple(_extract(text))


def _extract(text: str) -> list[str]:
    from jinja2 import meta

    tree = _parse(text)
    try:
        names = meta.find_undeclared_variables(tree)
    except RecursionError:
        raise TemplateError("limits.template_nesting") from None
    return sorted(names, key=_first_mentions(text).get)


def _first_mentions(text: str) -> dict[str, int]:
    """Each name's first mention among the template's tokens (not in plain text, not after a dot)."""
    first: dict[str, int] = {}
    previous = None
    for index, (_, kind, value) in enumerate(_env().lex(text)):
        if kind == "name" and previous != "dot":
            first.setdefault(value, index)
        previous = "dot" if kind == "dot" else kind
    return first


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
    specs = {v["name"]: v for v in normalize_declarations(declared)}
    return context_of(extract_all(texts), specs, values)


def context_of(names, specs: dict[str, dict], values: dict | None) -> dict:
    """resolve_values() once the variable names and their normalized declarations are known
    (the experiment runner extracts them once per variant, not once per row)."""
    values = values or {}
    context = {}
    for name in names:
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

    from .sandbox import LimitExceeded

    try:
        yield
    except LimitExceeded as exc:
        raise TemplateError(exc.key, **exc.params) from None
    except RecursionError:  # a macro calling itself
        raise TemplateError("limits.template_recursion") from None
    except MemoryError:
        raise TemplateError("limits.template_output", limit=limits().max_bytes) from None
    except SecurityError as exc:  # a subclass of jinja's TemplateError: caught first
        raise TemplateError(unsafe_key, detail=str(exc)) from None
    except (JinjaTemplateError, TypeError, ValueError, ArithmeticError, AttributeError, LookupError) as exc:
        raise TemplateError(render_key, detail=str(exc)) from None


def compile_template(text: str, syntax_key: str = "errors.template_syntax", keep_trailing_newline: bool = True):
    """A template ready to render within limits (see render_limited)."""
    from jinja2 import TemplateSyntaxError

    from .sandbox import environment, guard

    env = environment(keep_trailing_newline)
    try:
        return env.from_string(guard(env.parse(text)))
    except TemplateSyntaxError as exc:
        raise TemplateError(syntax_key, line=exc.lineno, detail=exc.message) from None
    except RecursionError:
        raise TemplateError("limits.template_nesting") from None
    except (ValueError, OverflowError, MemoryError) as exc:
        raise TemplateError("limits.template_unreadable", detail=str(exc)) from None


def render_limited(template, context: dict, unsafe_key: str = "errors.template_unsafe",
                   render_key: str = "errors.template_render") -> str:
    """Render with the active limits: output size (bytes), loop iterations and time."""
    from .sandbox import LimitExceeded, budget

    active = limits()
    chunks, size = [], 0
    with jinja_errors(unsafe_key, render_key), budget(active):
        for chunk in template.generate(context):
            size += len(chunk.encode("utf-8", "surrogatepass"))
            if size > active.max_bytes:
                raise LimitExceeded("limits.template_output", limit=active.max_bytes)
            chunks.append(chunk)
    return "".join(chunks)


def render_text(text: str, context: dict) -> str:
    return render_limited(compile_template(text), context)


def version_text(content: str, messages: list | None) -> str:
    """A version as plain text: for diffs, the search index and a rendered chat prompt's content.
    Here, not in the library service, so the Python client (promptmgr.client) renders exactly as the
    server does without importing the database layer."""
    from .schemas import as_messages

    if messages is None:
        return content
    return "\n\n".join(
        "\n".join([f"[{message.role}]", *(part.text or "" if part.type == "text" else f"[image: {part.url}]"
                                          for part in message.content)])
        for message in as_messages(messages))


def render(content: str | None, messages: list | None, declared: list[dict] | None,
           values: dict | None) -> tuple[str | None, list | None]:
    """Render a text prompt or every text part of a chat prompt."""
    from .schemas import as_messages

    context = resolve_values(texts_of(content, messages), declared, values)
    if messages is None:
        return render_text(content or "", context), None
    rendered = []
    for message in as_messages(messages):
        parts = [part.model_copy(update={"text": render_text(part.text or "", context)}) if part.type == "text"
                 else part for part in message.content]
        rendered.append(message.model_copy(update={"content": parts}).model_dump(exclude_none=True))
    return None, rendered
