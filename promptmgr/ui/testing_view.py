"""What the Testing and Builder tabs show, as plain functions: choices for the pickers, costs,
run statistics, the run history table and a run's details. No Gradio components here."""
from __future__ import annotations

import json
import math
import os

from ..errors import ValidationError
from ..schemas import PromptQuery
from .common import UI, text

SEARCH_LIMIT = 50
# The run id comes first: a clicked row names its run itself (a row's position or its other
# values did not reliably identify it once the table was refreshed).
HISTORY_HEADERS = ("id", "time", "version", "model", "tokens", "cost", "latency", "cached", "output")
# Hosted providers whose well-known models are offered (litellm's map holds thousands; the
# field also accepts any model string typed by hand), with the variable that holds their key.
POPULAR_PROVIDERS = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY",
                     "mistral": "MISTRAL_API_KEY", "gemini": "GEMINI_API_KEY"}


def _needs_key(model) -> bool:
    # The providers service says which models lack their key variable; else check it here.
    if getattr(model, "missing_keys", None) is not None:
        return not model.ready and bool(model.missing_keys)
    variable = POPULAR_PROVIDERS.get(model.provider or "")
    return bool(variable) and not os.environ.get(variable)


def model_choices(ui: UI, ctx, extra: list[str] | tuple = ()) -> tuple[list[tuple[str, str]], str | None]:
    """(label, model) choices, usable ones first: the default model, the embedded model, models
    fetched from configured providers, models with a price; then well-known hosted models, those
    without a key last and labelled as needing one."""
    overview = ui.services.providers.overview(ctx)
    usable = [overview.default_model] if overview.default_model else []
    if overview.local_available:
        usable.append(overview.local_model)
    usable += list(extra) + [price.model for price in overview.prices]
    ready, keyless = [], []
    for model in overview.known:
        if model.provider in POPULAR_PROVIDERS:
            (keyless if _needs_key(model) else ready).append(model.name)
    names = list(dict.fromkeys([*usable, *ready]))
    seen = set(names)
    choices = [(name, name) for name in names]
    choices += [(text("ui_testing.needs_key", ctx.locale, model=name), name)
                for name in dict.fromkeys(keyless) if name not in seen]
    return choices, overview.default_model


def model_notice(ui: UI, ctx) -> str:
    """Which model runs by default, or how to get one when there is none (a hint, not an error).
    Once providers exist, the note says to choose one of their models, not to add one."""
    status = ui.services.providers.default_status(ctx)
    if status.source in ("local", None) and status.providers:
        return text(status.note_key, ctx.locale, **status.note_params)
    if status.model is None:
        return text("ui_testing.no_model", ctx.locale)
    if status.source == "local":
        return text("ui_testing.using_local", ctx.locale, model=status.model)
    return text("ui_testing.default_model", ctx.locale, model=status.model)


def search_prompts(ui: UI, ctx, query: str | None, **filters):
    """A page of prompts for a picker: the matches of the typed words (the last one as a prefix),
    or all prompts by name; `total` tells how many more a search would reach."""
    q = (query or "").strip() or None
    return ui.services.library.list(ctx, PromptQuery(q=q, limit=SEARCH_LIMIT, sort="relevance" if q else "name",
                                                     **filters))


def prompt_label(item) -> str:
    return f"{item.title} ({item.name})" if item.title else item.name


def picker_choices(ui: UI, ctx, query: str | None, current: str | None) -> tuple[list[tuple[str, str]], str]:
    """A search-backed prompt picker's choices for `query` (the chosen prompt stays a valid
    choice) and its matches note."""
    page = search_prompts(ui, ctx, query)
    found = [(prompt_label(item), item.name) for item in page.items]
    if current and current not in {name for _label, name in found}:
        found.insert(0, (current, current))
    return found, matches_note(ctx.locale, page)


def typed_query(evt) -> str | None:
    """What a keyup in a picker typed: None for an empty box and keys that type nothing (Escape,
    arrows, Enter), so the choices stay. Typing searches the whole library, not the loaded choices."""
    typed = (evt.input_value or "").strip()
    if not typed or (len(evt.key or "") > 1 and evt.key not in ("Backspace", "Delete")):
        return None
    return typed


def prompt_choices(ui: UI, ctx, query: str | None, **filters) -> list[tuple[str, str]]:
    return [(prompt_label(item), item.name) for item in search_prompts(ui, ctx, query, **filters).items]


def matches_note(locale: str, page) -> str:
    """'Showing 50 of 230 — type to narrow' when the picker does not hold every match."""
    if page.total > len(page.items):
        return text("ui_testing.more_matches", locale, shown=len(page.items), total=page.total)
    return ""


def version_args(choice: str | None) -> dict:
    """'latest' / 'v3' / 'label:production' -> keyword arguments for library and testing calls."""
    if choice and choice.startswith("v") and choice[1:].isdigit():
        return {"version": int(choice[1:])}
    if choice and choice.startswith("label:"):
        return {"label": choice[len("label:"):]}
    return {}


def version_choices(locale: str, prompt) -> list[tuple[str, str]]:
    items = [(text("ui_testing.latest", locale, version=prompt.latest_version), "latest")]
    items += [(f"v{n}", f"v{n}") for n in range(prompt.latest_version, 0, -1)]
    items += [(text("ui_testing.label_choice", locale, label=label, version=number), f"label:{label}")
              for label, number in sorted(prompt.labels.items())]
    return items


def format_cost(locale: str, cost: float | None) -> str:
    """A cost in USD for people: 'free' for nothing, cents with two decimals, smaller amounts with
    three significant digits ($0.00042), never a row of zeros."""
    if cost is None:
        return text("ui_testing.cost_unknown", locale)
    if cost <= 0:
        return text("ui_testing.cost_free", locale)
    if cost >= 0.01:
        return f"${cost:,.2f}"
    decimals = 2 - math.floor(math.log10(cost))
    return "$" + f"{cost:.{decimals}f}".rstrip("0").rstrip(".")


def run_stats(locale: str, run) -> str:
    line = text("ui_testing.stats", locale, prompt_tokens=run.prompt_tokens, completion_tokens=run.completion_tokens,
                cost=format_cost(locale, run.cost), latency=f"{run.latency_ms:.0f}")
    if run.cached:
        line += " · " + text("ui_testing.cached", locale)
    if run.error_code == "cancelled":
        return text("ui_testing.stopped", locale) + "\n\n" + line
    if run.error:
        line += "\n\n⚠ " + run.error
    return line


def history_table(locale: str, runs) -> dict:
    rows = [[str(run.id), run.created_at.strftime("%Y-%m-%d %H:%M:%S"), f"v{run.version_number}" if run.version_number else "",
             run.model, f"{run.prompt_tokens} / {run.completion_tokens}",
             format_cost(locale, run.cost) if run.cost is not None else text("ui_testing.cost_unknown_short", locale),
             f"{run.latency_ms:.0f} ms", "✓" if run.cached else "",
             ("⚠ " + run.error) if run.error else run.output[:200]] for run in runs]
    return {"headers": [text(f"ui_testing.history_{h}", locale) for h in HISTORY_HEADERS], "data": rows}


def _content_text(content) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for part in content or []:
        if part.get("type") == "text":
            parts.append(part.get("text") or "")
        else:
            parts.append(f"[{(part.get('image_url') or {}).get('url') or part.get('url') or part.get('type')}]")
    return "\n".join(parts)


def messages_text(messages: list[dict]) -> str:
    """Rendered messages as readable text: a role line over each message."""
    return "\n\n".join(f"── {m.get('role', '?')} ──\n{_content_text(m.get('content'))}" for m in messages)


def run_summary(locale: str, run) -> str:
    """The head of a run's details: when, which version and model, parameters, variables, error."""
    version = f"v{run.version_number}" if run.version_number else "-"
    lines = [text("ui_testing.run_heading", locale, id=run.id, time=run.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                  name=run.prompt_name, version=version, model=run.model),
             run_stats(locale, run)]
    if run.error and run.error_code != "cancelled":
        lines[-1] = run_stats(locale, run.model_copy(update={"error": None}))  # the error once, on its own line
        lines.append(text("ui_testing.run_error", locale, error=run.error))
    params = json.dumps(run.params or {}, ensure_ascii=False, sort_keys=True)
    variables = json.dumps(run.variables or {}, ensure_ascii=False, sort_keys=True)
    lines.append(text("ui_testing.run_params", locale) + f"\n```json\n{params}\n```")
    lines.append(text("ui_testing.run_variables", locale) + f"\n```json\n{variables}\n```")
    return "\n\n".join(lines)


def collect_variables(names: list[str], values: list, extra: str | None) -> dict:
    """The form's values: filled slots by variable name, then the JSON box (which wins)."""
    result = {name: value for name, value in zip(names, values) if value not in (None, "")}
    if extra and extra.strip():
        try:
            parsed = json.loads(extra)
        except ValueError as exc:
            raise ValidationError("ui_testing.bad_json", detail=str(exc)) from None
        if not isinstance(parsed, dict):
            raise ValidationError("ui_testing.bad_json", detail="expected an object {\"name\": value}")
        result.update(parsed)
    return result
