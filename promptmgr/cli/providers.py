"""`promptmgr providers ...`: model endpoints with stored, encrypted API keys; price overrides and
the default model.

API keys are never taken as command-line arguments (they would land in shell history and in
`ps` output): --api-key-stdin reads one line from standard input, or asks with hidden input."""
from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from .common import context, echo, emit, services, t
from .models import aligned, per_1k

app = typer.Typer(no_args_is_help=True, help="Model providers: OpenAI-compatible endpoints (Ollama, LM Studio, "
                                             "vLLM, llama.cpp server...), their keys, prices and the default model.")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _read_key() -> str | None:
    from ..errors import ValidationError

    if sys.stdin.isatty():
        key = typer.prompt(t("cli_llm.providers.key_prompt"), hide_input=True, default="", show_default=False)
    else:
        key = sys.stdin.readline()
    key = (key or "").strip()
    if not key:
        raise ValidationError("cli_llm.providers.empty_key")
    return key


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="A short name; its models are then addressed as NAME/MODEL.")],
    base_url: Annotated[str, typer.Option(
        "--base-url", help="The API base URL, e.g. http://127.0.0.1:11434/v1 (Ollama's OpenAI API) or "
                           "http://127.0.0.1:1234/v1 (LM Studio).")],
    kind: Annotated[str, typer.Option(
        "--kind", help="openai_compatible (default), ollama (native API, base URL without /v1), "
                       "lm_studio or vllm.")] = "openai_compatible",
    api_key_stdin: Annotated[bool, typer.Option(
        "--api-key-stdin", help="Read the API key from standard input (or ask for it, hidden, in a terminal). "
                                "It is stored encrypted and only ever shown masked.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Add a model provider. Nothing is contacted; check it with `promptmgr providers test NAME`."""
    api_key = _read_key() if api_key_stdin else None
    provider = services().providers.add(context(), name, base_url, kind=kind, api_key=api_key)
    emit(provider, as_json, lambda p: t("cli_llm.providers.added", name=p.name, url=p.base_url))


@app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """Configured providers; API keys appear masked only."""
    emit(services().providers.list(context()), as_json, _providers_text)


def _providers_text(items) -> str:
    if not items:
        return t("cli_llm.providers.none")
    header = [t(f"cli_llm.providers.col_{c}") for c in ("name", "kind", "key", "base_url")]
    rows = [[p.name, p.kind, _key_text(p), p.base_url] for p in items]
    return aligned([header, *rows])


def _key_text(p) -> str:
    if not p.has_key:
        return t("cli_llm.providers.no_key")
    return p.api_key_masked if p.key_readable else t("cli_llm.providers.key_unreadable")


@app.command("rm")
def rm(name: Annotated[str, typer.Argument(help="The provider to remove, with its stored key.")]) -> None:
    """Remove a provider and its stored API key."""
    services().providers.remove(context(), name)
    echo(t("cli_llm.providers.removed", name=name))


@app.command("test")
def test(
    name: Annotated[str, typer.Argument(help="The provider to check.")],
    as_json: JsonOpt = False,
) -> None:
    """Check that a provider answers (lists its models); exits 1 when it does not."""
    result = services().providers.test_connection(context(), name)
    if as_json:
        emit(result, True)
    elif result.ok:
        echo(t("cli_llm.providers.test_ok", name=name, ms=f"{result.latency_ms:.0f}",
                     count=len(result.models)))
        for model in result.models:
            echo(f"  {name}/{model}")
    if not result.ok:
        echo(t("cli.error", message=result.error), err=True)
        raise typer.Exit(1)


@app.command("price")
def price(
    model: Annotated[str, typer.Argument(help="The model as you type it, e.g. ollama/llama3.1 or local/smollm2.")],
    input_per_1k: Annotated[float, typer.Option("--input", help="USD per 1000 prompt tokens.")] = 0.0,
    output_per_1k: Annotated[float, typer.Option("--output", help="USD per 1000 completion tokens.")] = 0.0,
    context_window: Annotated[Optional[int], typer.Option(
        "--context-window", help="The model's context window in tokens.")] = None,
    remove: Annotated[bool, typer.Option("--remove", help="Remove the override instead.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Set (or --remove) the price and context window used for a model's cost and fit checks."""
    if remove:
        services().providers.remove_price(context(), model)
        echo(t("cli_llm.providers.price_removed", model=model))
        return
    saved = services().providers.set_price(context(), model, input_per_1k, output_per_1k, context_window)
    emit(saved, as_json, lambda p: t("cli_llm.models.price_line", model=p.model, input=per_1k(p.input_cost_per_token),
                                     output=per_1k(p.output_cost_per_token), context=p.context_window or "-"))


@app.command("default")
def default(
    model: Annotated[Optional[str], typer.Argument(help="The model to use when none is given.")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Forget your default model.")] = False,
) -> None:
    """Show or set the model used when a command gets no --model."""
    providers = services().providers
    ctx = context()
    if clear or model:
        providers.set_default_model(ctx, None if clear else model)
    chosen, source = providers.default_model(ctx)
    echo(t("cli_llm.models.default", model=chosen, source=t(f"cli_llm.models.source_{source}"))
               if chosen else t("cli_llm.models.no_default"))
