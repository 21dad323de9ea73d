"""`promptmgr models` and `promptmgr tokens`: what can be called, and what a call would cost.

Neither command contacts the network: models come from litellm's bundled price map, tokens are
counted with the encodings shipped next to litellm or the embedded model's own tokenizer."""
from __future__ import annotations

from typing import Annotated, Optional

import typer

from .common import context, echo, emit, parse_pairs, services, t

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
_HUMAN_LIMIT = 40


def register(app: typer.Typer) -> None:
    app.command("models")(models)
    app.command("tokens")(tokens)


# --- shared formatting (also used by cli/runs.py, cli/providers.py and cli/enhance.py) ------
def aligned(rows: list[list[str]]) -> str:
    """Columns padded to their widest cell; the last column is left free."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join([*(cell.ljust(w) for cell, w in zip(row, widths)), row[-1]]).rstrip()
                     for row in rows)


def money(value: float | None) -> str:
    if value is None:
        return t("cli_llm.unknown")
    if value == 0:
        return "$0"
    if value < 0.000001:
        return "<$0.000001"
    return f"${value:.6f}".rstrip("0") if value < 0.01 else f"${value:.4f}"


def per_1k(value: float | None) -> str:
    return t("cli_llm.unknown") if value is None else money(value * 1000)


# --- models ------------------------------------------------------------------------------
def models(
    search: Annotated[Optional[str], typer.Option(
        "--search", "-s", help="Only known models whose name or provider contains this text.")] = None,
    show_all: Annotated[bool, typer.Option("--all", help=f"List every known model (default: the first "
                                                         f"{_HUMAN_LIMIT}; --json always lists all).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Known models with context windows and prices, your providers, price overrides and the default model.

    Works offline: nothing is contacted. Address a configured provider's models as NAME/MODEL,
    the built-in model as local/smollm2, and any other litellm model by its name (keys from the
    environment, e.g. OPENAI_API_KEY)."""
    overview = services().providers.overview(context(), search=search)
    emit(overview, as_json, lambda o: _models_text(o, None if show_all else _HUMAN_LIMIT))


def _models_text(o, limit: int | None) -> str:
    lines = [t("cli_llm.models.default", model=o.default_model, source=t(f"cli_llm.models.source_{o.default_source}"))
             if o.default_model else t("cli_llm.models.no_default")]
    lines.append(t("cli_llm.models.local_ready" if o.local_available else "cli_llm.models.local_missing",
                   model=o.local_model))
    lines.append("")
    if o.providers:
        lines.append(t("cli_llm.models.providers_header"))
        lines += [f"  {p.name}/MODEL  ->  {p.base_url}  ({p.kind})" for p in o.providers]
    else:
        lines.append(t("cli_llm.models.no_providers"))
    if o.prices:
        lines += ["", t("cli_llm.models.prices_header")]
        lines += ["  " + t("cli_llm.models.price_line", model=p.model, input=per_1k(p.input_cost_per_token),
                           output=per_1k(p.output_cost_per_token), context=p.context_window or "-")
                  for p in o.prices]
    lines += ["", t("cli_llm.models.known_header", total=o.known_total)]
    shown = o.known if limit is None else o.known[:limit]
    if shown:
        # Callable models come first (the service orders them); the others name the key they lack.
        header = [t(f"cli_llm.models.col_{c}") for c in ("model", "provider", "context", "input", "output")]
        rows = [[m.name, m.provider or "-", str(m.context_window or "-"), per_1k(m.input_cost_per_token),
                 per_1k(m.output_cost_per_token) + ("" if m.ready else f"  ({_needs(m)})")] for m in shown]
        lines.append(aligned([header, *rows]))
    if len(shown) < o.known_total:
        lines.append(t("cli_llm.models.more", count=o.known_total - len(shown)))
    return "\n".join(lines)


def _needs(m) -> str:
    if m.missing_keys:
        return t("providers.needs_key", env=" / ".join(m.missing_keys))
    return t("providers.needs_credentials", provider=m.provider or "?")


# --- tokens ------------------------------------------------------------------------------
def tokens(
    text: Annotated[Optional[str], typer.Argument(help="The text to count ('-' reads standard input).")] = None,
    file: Annotated[Optional[str], typer.Option("--file", "-f", help="Count the text of this file.")] = None,
    prompt: Annotated[Optional[str], typer.Option("--prompt", "-p", help="Count a stored prompt, rendered.")] = None,
    version: Annotated[Optional[int], typer.Option("--version", "-v", help="The prompt version.")] = None,
    label: Annotated[Optional[str], typer.Option("--label", "-l", help="The prompt label.")] = None,
    var: Annotated[Optional[list[str]], typer.Option(
        "--var", help="A variable value for --prompt, as KEY=VALUE (repeatable).")] = None,
    model: Annotated[Optional[str], typer.Option(
        "--model", "-m", help="Count and price for this model (default: your default model).")] = None,
    output_tokens: Annotated[int, typer.Option(
        "--output-tokens", help="Expected answer length, added to the cost and the context check.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Count tokens of a text, a file or a prompt, with the cost and whether it fits the model's context.

    Exact for OpenAI models and the built-in model; labelled as an estimate otherwise."""
    from ..errors import ValidationError

    given = [name for name, value in (("TEXT", text), ("--file", file), ("--prompt", prompt)) if value is not None]
    if len(given) != 1:
        raise ValidationError("cli_llm.tokens.one_input")
    if file is not None:
        from .prompts import read_input

        text = read_input(file)
    elif text == "-":
        import sys

        text = sys.stdin.read()
    estimate = services().testing.estimate(
        context(), text if prompt is None else None, model, prompt_name=prompt, version=version, label=label,
        variables=parse_pairs(var or [], "--var"), output_tokens=output_tokens)
    if estimate.warning:
        echo(t("cli_llm.warning", message=estimate.warning), err=True)
    emit(estimate, as_json, _tokens_text)


def _tokens_text(e) -> str:
    parts = [t("cli_llm.tokens.count" if e.exact else "cli_llm.tokens.count_estimate", tokens=e.tokens,
               method=e.method)]
    if not e.rendered:
        parts.append(t("cli_llm.tokens.unrendered"))
    if e.model:
        parts.append(t("cli_llm.tokens.model", model=e.model))
        parts.append(t("cli_llm.tokens.cost", cost=money(e.cost), output=e.output_tokens))
        if e.context_window:
            parts.append(t("cli_llm.tokens.fits" if e.fits else "cli_llm.tokens.does_not_fit",
                           context=e.context_window))
    return "\n".join(parts)
