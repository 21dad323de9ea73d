"""Enhancement and translation of prompts by a model: a candidate with its diff, accepted as a new
version (or, for translations, a new prompt) only when the user says so.

Chat prompts are handled part by part: every text part goes through the model on its own and
image parts are kept, so roles and images never get mangled by a model rewriting a transcript."""
from __future__ import annotations

import difflib
import re
from collections import Counter
from functools import lru_cache
from typing import Callable

from ..context import TenantContext
from ..errors import PromptMgrError, ProviderError, ValidationError
from ..policy import Action, require
from ..resources import data_path
from ..schemas import PromptCreate, PromptPublic, PromptUpdate, parse
from ..llm.schemas import Candidate, RunPublic
from .library import LibraryService, version_text
from .testing import TestingService

SYSTEM_PROMPTS = data_path("system_prompts.yaml")
TRANSLATE_RUN_NAME = "system:translate"  # ":" cannot occur in prompt names, so no run history clash
_TEMPLATE_TOKEN = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
_FENCE = re.compile(r"^```[\w+-]*[ \t]*\n(.*?)\n?```$", re.DOTALL)
_QUOTES = (('"', '"'), ("'", "'"), ("\u201c", "\u201d"), ("\u201e", "\u201c"), ("\u00ab", "\u00bb"))
_LANGUAGE = re.compile(r"^[^\s{}%<>][^{}%<>\n]{0,59}$")
_TRANSLATE_TEMPERATURE = 0.2


def template_tokens(text: str) -> Counter:
    """The multiset of `{{ ... }}` / `{% ... %}` tokens, inner whitespace normalised."""
    tokens = Counter()
    for match in _TEMPLATE_TOKEN.findall(text or ""):
        opener, closer, inner = match[:2], match[-2:], match[2:-2]
        tokens[f"{opener} {' '.join(inner.split())} {closer}"] += 1
    return tokens


def placeholder_changes(original: str, candidate: str) -> tuple[list[str], list[str]]:
    """(missing, added) template tokens of the candidate compared with the original."""
    before, after = template_tokens(original), template_tokens(candidate)
    return sorted((before - after).elements()), sorted((after - before).elements())


def clean_output(text: str) -> str:
    """A model's answer without the code fence, quotes or BEGIN/END PROMPT lines wrapped around it."""
    text = (text or "").strip()
    for _ in range(2):
        fenced = _FENCE.match(text)
        if fenced:
            text = fenced.group(1).strip()
        lines = text.splitlines()
        if lines and lines[0].strip().upper() == "BEGIN PROMPT":
            lines = lines[1:]
        if lines and lines[-1].strip().upper() == "END PROMPT":
            lines = lines[:-1]
        text = "\n".join(lines).strip()
        for left, right in _QUOTES:
            if len(text) >= 2 and text.startswith(left) and text.endswith(right) and \
                    text.count(left if left == right else right) == (2 if left == right else 1):
                text = text[len(left):-len(right)].strip()
    return text


@lru_cache(maxsize=1)
def _system_templates() -> dict:
    import yaml

    return yaml.safe_load(SYSTEM_PROMPTS.read_text(encoding="utf-8")) or {}


def _render_system(name: str, **values) -> str:
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(keep_trailing_newline=True).from_string(_system_templates()[name]).render(**values)


class ModelCallFailed(ProviderError):
    """A model call inside enhance/translate failed: carries the run's error key and params, so the
    message is composed in the reader's language (not the language of whoever ran it)."""

    message_key = "testing.enhance.model_failed"

    def translate(self, locale: str = "en") -> str:
        from ..i18n import t

        params = self.params
        if params.get("error_key"):
            detail = PromptMgrError(params["error_key"], **(params.get("error_params") or {})).translate(locale)
        else:  # a run stored before error keys: its text as stored
            detail = params.get("error") or params.get("error_code") or ""
        return t(self.message_key, locale, run_id=params.get("run_id"), detail=detail)


class EnhanceService:
    def __init__(self, library: LibraryService, testing: TestingService):
        self.library = library
        self.testing = testing

    # --- enhancement -----------------------------------------------------------------------
    def enhance(self, ctx: TenantContext, name: str, enhancer_name: str, model: str | None = None) -> Candidate:
        """Apply an enhancement prompt (variable `prompt`) to a prompt's current content.

        Raises NotFoundError, ValidationError (not an enhancer), ProviderError (the model call failed),
        PermissionDeniedError."""
        require(ctx, Action.RUN_MODELS)
        enhancer = self.library.get(ctx, enhancer_name)
        if not enhancer.is_enhancement:
            raise ValidationError("testing.enhance.not_enhancer", name=enhancer_name)
        if "prompt" not in enhancer.used_variables:
            raise ValidationError("testing.enhance.no_prompt_variable", name=enhancer_name)
        prompt = self.library.get(ctx, name)
        runs: list[RunPublic] = []

        def rewrite(text: str) -> str:
            run = self.testing.run(ctx, enhancer_name, model=model, variables={"prompt": text})
            runs.append(run)
            self._raise_failed(run)
            output = clean_output(run.output)
            if not output:
                raise ProviderError("testing.enhance.empty_output", model=run.model)
            return output

        return self._candidate("enhance", prompt, rewrite, runs, enhancer=enhancer_name)

    # --- translation -----------------------------------------------------------------------
    def translate(self, ctx: TenantContext, name: str, target_language: str, model: str | None = None) -> Candidate:
        """Translate a prompt keeping every `{{ }}` / `{% %}` token; one retry, then ValidationError
        naming the altered tokens. Raises NotFoundError, ValidationError, ProviderError, PermissionDeniedError."""
        require(ctx, Action.RUN_MODELS)
        language = (target_language or "").strip()
        if not _LANGUAGE.match(language):
            raise ValidationError("testing.translate.bad_language", language=language)
        prompt = self.library.get(ctx, name)
        runs: list[RunPublic] = []

        def translate(text: str) -> str:
            messages = [{"role": "user", "content": _render_system("translate", target_language=language,
                                                                     prompt=text)}]
            missing = added = []
            for attempt in range(2):
                # The retry skips the cache: a cached answer would repeat the same mistake.
                run = self.testing.run_messages(
                    ctx, messages, model=model, params={"temperature": _TRANSLATE_TEMPERATURE},
                    prompt_name=TRANSLATE_RUN_NAME, variables={"prompt": name, "target_language": language},
                    use_cache=False if attempt else None)
                runs.append(run)
                self._raise_failed(run)
                output = clean_output(run.output)
                missing, added = placeholder_changes(text, output)
                if output and not missing and not added:
                    return output
            if not missing and not added:
                raise ProviderError("testing.enhance.empty_output", model=runs[-1].model)
            raise ValidationError("testing.translate.placeholders_changed", name=name, language=language,
                                  missing=", ".join(missing) or "-", added=", ".join(added) or "-")

        return self._candidate("translate", prompt, translate, runs, target_language=language)

    # --- accepting -------------------------------------------------------------------------
    def accept(self, ctx: TenantContext, name: str, candidate_text: str | None = None,
               base_version: int | None = None, message: str = "", *, messages: list[dict] | None = None,
               new_name: str | None = None) -> PromptPublic:
        """Save a candidate as a new version from base_version, or as a new prompt `new_name`.

        Raises NotFoundError, ConflictError (the prompt moved on), DuplicateError, TemplateError,
        ValidationError (also when the candidate equals the base version), PermissionDeniedError."""
        require(ctx, Action.WRITE_PROMPTS)
        if candidate_text is None and messages is None:
            raise ValidationError("errors.empty_content")
        if new_name:
            source = self.library.get(ctx, name, version=base_version)
            data = parse(PromptCreate, {
                "name": new_name, "kind": source.kind, "title": source.title, "description": source.description,
                "category": source.category, "tags": source.tags, "is_enhancement": source.is_enhancement,
                "content": candidate_text if source.kind == "text" else None,
                "messages": messages if source.kind == "chat" else None,
                "variables": source.variables or None, "message": message,
            })
            return self.library.create(ctx, data)
        if base_version is None:
            raise ValidationError("testing.enhance.base_version_required")
        update = parse(PromptUpdate, {"base_version": base_version, "message": message, "messages": messages,
                                      "content": candidate_text if messages is None else None})
        saved = self.library.update(ctx, name, update)
        if saved.version == base_version:  # the library makes no version for unchanged content
            raise ValidationError("testing.enhance.unchanged", name=name, version=base_version)
        return saved

    # --- helpers ---------------------------------------------------------------------------
    @staticmethod
    def _raise_failed(run: RunPublic) -> None:
        if run.error_code:
            raise ModelCallFailed(run_id=run.id, error_code=run.error_code, error_key=run.error_key,
                                  error_params=run.error_params, error=None if run.error_key else run.error)

    @staticmethod
    def _candidate(action: str, prompt: PromptPublic, rewrite: Callable[[str], str], runs: list[RunPublic],
                   **extra) -> Candidate:
        current = version_text(prompt.content, prompt.messages)
        if prompt.messages is None:
            text, messages = rewrite(prompt.content), None
            original_texts, new_texts = [prompt.content], [text]
        else:
            messages, original_texts, new_texts = [], [], []
            for message in prompt.messages:
                parts = []
                for part in message.get("content", []):
                    if part.get("type") == "text" and (part.get("text") or "").strip():
                        rewritten = rewrite(part["text"])
                        original_texts.append(part["text"])
                        new_texts.append(rewritten)
                        part = {**part, "text": rewritten}
                    parts.append(part)
                messages.append({**message, "content": parts})
            text = version_text("", messages)
        missing, added = placeholder_changes("\n".join(original_texts), "\n".join(new_texts))
        diff = "\n".join(difflib.unified_diff(
            current.splitlines(), text.splitlines(), fromfile=f"{prompt.name}@v{prompt.version}",
            tofile=f"{prompt.name}@{action}", lineterm=""))
        return Candidate(action=action, prompt_name=prompt.name, base_version=prompt.version, kind=prompt.kind,
                         text=text, messages=messages, diff=diff, model=runs[-1].model if runs else "",
                         missing_placeholders=missing, added_placeholders=added, runs=runs, **extra)
