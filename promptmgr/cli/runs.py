"""`promptmgr run` (the testing bench) and `promptmgr runs list/show` (run history).

The answer goes to stdout and the run's facts (id, tokens, cost, latency) to stderr, so that
`promptmgr run ... > answer.txt` keeps only the answer. A failed model call is stored like any
run, printed as one translated line on stderr, and exits 1."""
from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from .common import cli_locale, context, echo, emit, parse_pairs, safe_json, services, t, to_jsonable
from .models import aligned, money

app = typer.Typer(no_args_is_help=True, help="Stored runs: every model call made by `promptmgr run`, "
                                             "enhance and translate.")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def register(root: typer.Typer) -> None:
    root.command("run")(run)


def run(
    name: Annotated[str, typer.Argument(help="The prompt to run.")],
    model: Annotated[Optional[list[str]], typer.Option(
        "--model", "-m", help="NAME/MODEL of a provider, local/smollm2, or a litellm model such as gpt-4o-mini. "
                              "Repeat (up to 4) to compare models side by side. Default: your default model.")] = None,
    version: Annotated[Optional[int], typer.Option("--version", "-v", help="Run this version.")] = None,
    label: Annotated[Optional[str], typer.Option("--label", "-l", help="Run the version this label points at.")] = None,
    var: Annotated[Optional[list[str]], typer.Option("--var", help="A variable as KEY=VALUE (repeatable).")] = None,
    param: Annotated[Optional[list[str]], typer.Option(
        "--param", help="A model parameter as KEY=VALUE: temperature, max_tokens, top_p, seed, stop "
                        "(repeatable).")] = None,
    system: Annotated[Optional[str], typer.Option("--system", help="A system prompt to put first.")] = None,
    stream: Annotated[bool, typer.Option("--stream", help="Print the answer as it arrives (one model).")] = False,
    no_cache: Annotated[bool, typer.Option(
        "--no-cache", help="Always call the model (answers at temperature 0 are cached otherwise).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Run a prompt on a model with variables and parameters; the run is stored (see `promptmgr runs`)."""
    from ..errors import ValidationError

    if version is not None and label is not None:
        raise ValidationError("cli.exclusive", options="--version, --label")
    models = model or []
    kwargs = dict(version=version, label=label, variables=parse_pairs(var or [], "--var"),
                  params=parse_pairs(param or [], "--param"), system_prompt=system,
                  use_cache=False if no_cache else None)
    testing, ctx = services().testing, context()
    if len(models) > 1:
        if stream:
            raise ValidationError("testing.stream_one_model")
        runs = testing.run_many(ctx, name, models, **kwargs)
        if as_json:
            emit(runs, True)
        else:
            for item in runs:
                echo(t("cli_llm.run.model_header", model=item.model))
                if item.output:
                    echo(item.output)
                echo(_facts(item), err=True)
                echo("")
        _exit_on_failure(runs)
        return
    single = models[0] if models else None
    if stream:
        result = _stream(testing.stream(ctx, name, model=single, **kwargs), as_json)
    else:
        result = testing.run(ctx, name, model=single, **kwargs)
        if as_json:
            emit(result, True)
        elif result.output:
            echo(result.output)
    if not as_json:
        echo(_facts(result), err=True)
    _exit_on_failure([result])


def _stream(items, as_json: bool):
    """Deltas as they come (JSON lines {"delta": ...} with --json), then the stored run."""
    result, printed = None, False
    for item in items:
        if isinstance(item, str):
            printed = True
            if as_json:
                typer.echo(safe_json(json.dumps({"delta": item}, ensure_ascii=False)))
            else:
                echo(item, nl=False)
        else:
            result = item
    if as_json:
        typer.echo(safe_json(json.dumps(to_jsonable(result), ensure_ascii=False)))
    elif printed:
        echo("")
    return result


def _exit_on_failure(runs) -> None:
    failed = [r for r in runs if r.error_code]
    for item in failed:
        echo(t("cli.error", message=item.message(cli_locale()) or item.error_code), err=True)
    if failed:
        raise typer.Exit(1)


def _facts(r) -> str:
    return t("cli_llm.run.facts", id=r.id, model=r.model, prompt=r.prompt_tokens, completion=r.completion_tokens,
             cost=money(r.cost), ms=f"{r.latency_ms:.0f}") + (t("cli_llm.run.cached") if r.cached else "")


# --- history -----------------------------------------------------------------------------
@app.command("list")
def list_(
    prompt: Annotated[Optional[str], typer.Option("--prompt", "-p", help="Only runs of this prompt.")] = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Only runs on this model.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="At most this many runs (1-1000).")] = 50,
    offset: Annotated[int, typer.Option("--offset", help="Skip this many runs first.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Stored runs, newest first. --json prints {items, total, limit, offset}."""
    page = services().testing.list_runs(context(), prompt_name=prompt, model=model, limit=limit, offset=offset)
    emit(page, as_json, _runs_table)


def _runs_table(page) -> str:
    if not page.items:
        return t("cli_llm.runs.none")
    header = [t(f"cli_llm.runs.col_{c}") for c in ("id", "time", "prompt", "model", "tokens", "cost", "ms",
                                                      "result")]
    rows = [[str(r.id), r.created_at.strftime("%Y-%m-%d %H:%M:%S"),
             f"{r.prompt_name}@v{r.version_number}" if r.version_number else r.prompt_name, r.model,
             f"{r.prompt_tokens}+{r.completion_tokens}", money(r.cost), f"{r.latency_ms:.0f}", _result(r)]
            for r in page.items]
    footer = t("cli_llm.runs.showing", first=page.offset + 1, last=page.offset + len(page.items), total=page.total)
    return aligned([header, *rows]) + "\n" + footer


def _result(r) -> str:
    if r.error_code:
        return t("cli_llm.runs.failed", code=r.error_code)
    first = " ".join(r.output.split())
    return (first[:59] + "…" if len(first) > 60 else first) + (t("cli_llm.run.cached") if r.cached else "")


@app.command("show")
def show(
    run_id: Annotated[int, typer.Argument(help="The run's id (from `promptmgr runs list`).")],
    as_json: JsonOpt = False,
) -> None:
    """One stored run: its input, parameters, output, tokens, cost and error."""
    emit(services().testing.get_run(context(), run_id), as_json, _run_text)


def _run_text(r) -> str:
    lines = [t("cli_llm.runs.show_header", id=r.id, prompt=r.prompt_name or "-", version=r.version_number or "-",
               model=r.model, at=r.created_at.strftime("%Y-%m-%d %H:%M:%S UTC")), _facts(r)]
    if r.batch_id:
        lines.append(t("cli_llm.runs.batch", batch=r.batch_id))
    if r.params:
        lines.append(t("cli_llm.runs.params", params=json.dumps(r.params, ensure_ascii=False)))
    if r.variables:
        lines.append(t("cli_llm.runs.variables", variables=json.dumps(r.variables, ensure_ascii=False)))
    lines += ["", t("cli_llm.runs.input")]
    for message in r.rendered_input:
        content = message.get("content")
        if not isinstance(content, str):
            content = "\n".join(p.get("text") if p.get("type") == "text" else f"[image: {p['image_url']['url']}]"
                                for p in content or [])
        lines.append(f"[{message.get('role')}]\n{content}")
    lines += ["", t("cli_llm.runs.output"), r.output]
    if r.error_code:
        lines += ["", t("cli_llm.runs.error", code=r.error_code, message=r.message(cli_locale()) or r.error_code)]
    return "\n".join(lines)
