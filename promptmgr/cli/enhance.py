"""`promptmgr enhance` and `promptmgr translate`: a model proposes new content; nothing is saved
unless --accept is given (then a new version, or with translate --as, a new prompt)."""
from __future__ import annotations

from typing import Annotated, Optional

import typer

from .common import context, echo, emit, services, t

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
ModelOpt = Annotated[Optional[str], typer.Option(
    "--model", "-m", help="The model that writes the candidate (default: your default model).")]
AcceptOpt = Annotated[bool, typer.Option("--accept", help="Save the candidate as a new version.")]
MessageOpt = Annotated[Optional[str], typer.Option("--message", help="A note for the new version.")]


def register(app: typer.Typer) -> None:
    app.command("enhance")(enhance)
    app.command("translate")(translate)


def enhance(
    name: Annotated[str, typer.Argument(help="The prompt to improve.")],
    enhancer: Annotated[str, typer.Option(
        "--with", "-w", help="An enhancement prompt from the library; it receives the prompt as {{ prompt }}.")],
    model: ModelOpt = None,
    accept: AcceptOpt = False,
    message: MessageOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Let a model improve a prompt with an enhancement prompt; prints the candidate and its diff."""
    candidate = services().enhance.enhance(context(), name, enhancer, model)
    default_message = t("cli_llm.enhance.default_message", enhancer=enhancer, model=candidate.model)
    _finish(candidate, accept, message or default_message, None, as_json)


def translate(
    name: Annotated[str, typer.Argument(help="The prompt to translate.")],
    to: Annotated[str, typer.Option("--to", help="The target language, e.g. German, fr, Português.")],
    model: ModelOpt = None,
    accept: AcceptOpt = False,
    as_name: Annotated[Optional[str], typer.Option(
        "--as", help="With --accept: save as a new prompt of this name (e.g. NAME-de) instead of a new version.")]
    = None,
    message: MessageOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Translate a prompt, keeping every {{ variable }} and {% tag %} exactly; prints the candidate and its diff."""
    from ..errors import ValidationError

    if as_name and not accept:
        raise ValidationError("cli_llm.enhance.as_needs_accept")
    candidate = services().enhance.translate(context(), name, to, model)
    default_message = t("cli_llm.enhance.translate_message", language=candidate.target_language,
                        model=candidate.model)
    _finish(candidate, accept, message or default_message, as_name, as_json)


def _finish(candidate, accept: bool, message: str, new_name: str | None, as_json: bool) -> None:
    if not accept:
        emit(candidate, as_json, _candidate_text)
        return
    saved = services().enhance.accept(context(), candidate.prompt_name, candidate.text, candidate.base_version,
                                      message, messages=candidate.messages, new_name=new_name)
    if as_json:
        emit({"candidate": candidate, "saved": saved}, True)
    elif new_name:
        echo(t("cli_llm.enhance.created", name=saved.name, version=saved.version))
    else:
        echo(t("cli_llm.enhance.accepted", name=saved.name, version=saved.version))


def _candidate_text(c) -> str:
    lines = [t("cli_llm.enhance.candidate_header", name=c.prompt_name, version=c.base_version, model=c.model), "",
             c.text, "", t("cli_llm.enhance.diff_header"), c.diff or t("cli_llm.enhance.no_change")]
    if c.missing_placeholders or c.added_placeholders:
        lines += ["", t("cli_llm.enhance.placeholders", missing=", ".join(c.missing_placeholders) or "-",
                        added=", ".join(c.added_placeholders) or "-")]
    lines += ["", t("cli_llm.enhance.hint")]
    return "\n".join(lines)
