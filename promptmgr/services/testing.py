"""The testing bench: run a prompt version on one model or several side by side, store every run,
list run history, and estimate tokens and cost before a call.

Provider failures are data: the run is stored with its error and returned, never raised."""
from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Union

from .. import templating
from ..context import TenantContext
from ..db import Database
from ..errors import NotFoundError, ValidationError
from ..llm.gateway import Gateway
from ..llm.schemas import PARAM_NAMES, ModelParams, RunPublic, TokenEstimate
from ..llm.types import LLMResult, ModelTarget
from ..models import Run
from ..policy import Action, require
from ..repositories import RunRepository
from ..schemas import Page
from .base import unit_of_work
from .library import LibraryService
from .providers import ProviderService

__all__ = ["TestingService", "RunDelta", "RunDone", "StreamEvent", "Prepared", "build_messages", "PARAM_NAMES",
           "MAX_SIDE_BY_SIDE"]

RunPage = Page[RunPublic]  # built once, see services/library.py
MAX_SIDE_BY_SIDE = 4


@dataclass(frozen=True)
class RunDelta:
    """stream_many(): a piece of model `index`'s answer (index into the `models` list)."""

    index: int
    text: str


@dataclass(frozen=True)
class RunDone:
    """stream_many(): model `index` finished, failed or was cancelled; `run` is the stored run."""

    index: int
    run: RunPublic


StreamEvent = Union[RunDelta, RunDone]


# --- messages --------------------------------------------------------------------------------
def _openai_content(parts: list[dict], files_dir: Callable[[str], str] | None) -> tuple[object, object]:
    """(content for the call, content as stored): all-text messages become one string, which every
    OpenAI-compatible server accepts; images become image_url parts."""
    if all(part.get("type") == "text" for part in parts):
        text = "\n".join(part.get("text") or "" for part in parts)
        return text, text
    call, stored = [], []
    for part in parts:
        if part.get("type") == "text":
            item = {"type": "text", "text": part.get("text") or ""}
            call.append(item)
            stored.append(item)
            continue
        url = part.get("url") or ""
        # Stored runs keep the file reference, not megabytes of base64.
        stored.append({"type": "image_url", "image_url": {"url": url}})
        if url.startswith("file:") and files_dir is not None:
            url = files_dir(url)  # FileService.resolve for the caller: their own tenant's files only
        call.append({"type": "image_url", "image_url": {"url": url}})
    return call, stored


def build_messages(content: str | None, messages: list[dict] | None, system_prompt: str | None,
                   files_dir: Callable[[str], str] | None) -> tuple[list[dict], list[dict]]:
    """OpenAI-format messages for a rendered text or chat prompt: (for the call, as stored).

    A system prompt leads the chat; if the chat already starts with a system message, it is
    joined in front of it (several system messages are refused by some models)."""
    system = (system_prompt or "").strip()
    if messages is None:
        call = [{"role": "user", "content": content or ""}]
        stored = list(call)
    else:
        call, stored = [], []
        for message in messages:
            sent, kept = _openai_content(message.get("content") or [], files_dir)
            call.append({"role": message["role"], "content": sent})
            stored.append({"role": message["role"], "content": kept})
    if system:
        if call and call[0]["role"] == "system" and isinstance(call[0]["content"], str):
            joined = {"role": "system", "content": f"{system}\n\n{call[0]['content']}"}
            call, stored = [joined, *call[1:]], [joined, *stored[1:]]
        else:
            lead = {"role": "system", "content": system}
            call, stored = [lead, *call], [lead, *stored]
    return call, stored


def _jsonable(values: dict | None) -> dict:
    # Stored in a JSON column: anything exotic a caller passes is kept as its text.
    return json.loads(json.dumps(values or {}, default=str))


@dataclass
class Prepared:
    """A rendered prompt ready to send: messages for the call, and as stored (file references kept)."""

    prompt_name: str
    version_number: int | None
    variables: dict
    params: dict
    messages: list[dict]
    stored_messages: list[dict]


class TestingService:
    def __init__(self, db: Database, library: LibraryService, providers: ProviderService, gateway: Gateway,
                 files_dir: Path, files=None):
        self.db = db
        self.library = library
        self.providers = providers
        self.gateway = gateway
        self.files_dir = Path(files_dir)
        self.files = files

    def _repo(self, ctx: TenantContext, write: bool = False):
        return unit_of_work(self.db, ctx, RunRepository, write=write)

    # --- running -------------------------------------------------------------------------
    def prepare(self, ctx: TenantContext, prompt_name: str, *, version: int | None = None, label: str | None = None,
                variables: dict | None = None, params: dict | None = None, system_prompt: str | None = None,
                resolve_files: bool = True) -> Prepared:
        """Render a prompt into OpenAI-format messages. Raises NotFoundError, ValidationError, TemplateError."""
        require(ctx, Action.READ_PROMPTS)
        cleaned = ModelParams.parse(params).to_call()
        prompt = self.library.get(ctx, prompt_name, version=version, label=label)
        raw_content = None if prompt.messages is not None else prompt.content
        content, messages = templating.render(raw_content, prompt.messages, prompt.variables, variables)
        resolver = (lambda ref: self.files.resolve(ctx, ref)) if resolve_files else None
        call, stored = build_messages(content, messages, system_prompt, resolver)
        return Prepared(prompt.name, prompt.version, _jsonable(variables), cleaned, call, stored)

    def run(self, ctx: TenantContext, prompt_name: str, *, version: int | None = None, label: str | None = None,
            model: str | None = None, variables: dict | None = None, params: dict | None = None,
            system_prompt: str | None = None, use_cache: bool | None = None) -> RunPublic:
        """Run a prompt on one model and store the run (a provider failure is stored and returned as data).

        Raises NotFoundError, ValidationError, TemplateError, PermissionDeniedError (before any call)."""
        require(ctx, Action.RUN_MODELS)
        prepared = self.prepare(ctx, prompt_name, version=version, label=label, variables=variables, params=params,
                                system_prompt=system_prompt)
        target = self.providers.resolve(ctx, model)
        result = self.gateway.complete(target, prepared.messages, prepared.params, use_cache=use_cache)
        return self._store(ctx, prepared, [(target, result)], batch_id=None)[0]

    def run_many(self, ctx: TenantContext, prompt_name: str, models: list[str], *, version: int | None = None,
                 label: str | None = None, variables: dict | None = None, params: dict | None = None,
                 system_prompt: str | None = None, use_cache: bool | None = None,
                 cancel: threading.Event | None = None) -> list[RunPublic]:
        """The same prompt on 1-4 models concurrently (stream_many, collected); the runs share a
        batch_id and come back in the order of `models`. Raises as run()."""
        require(ctx, Action.RUN_MODELS)
        models = [m for m in (models or []) if m and m.strip()]
        runs: dict[int, RunPublic] = {}
        for event in self.stream_many(ctx, prompt_name, models, version=version, label=label, variables=variables,
                                      params=params, system_prompt=system_prompt, use_cache=use_cache,
                                      cancel=cancel):
            if isinstance(event, RunDone):
                runs[event.index] = event.run
        return [runs[i] for i in sorted(runs)]

    def stream_many(self, ctx: TenantContext, prompt_name: str, models: list[str | None], *,
                    version: int | None = None, label: str | None = None, variables: dict | None = None,
                    params: dict | None = None, system_prompt: str | None = None, use_cache: bool | None = None,
                    cancel: threading.Event | None = None) -> Iterator[StreamEvent]:
        """Stream the same prompt on 1-4 models side by side; every run is stored, all with one batch_id.

        `models`: model strings as the user types them; None or "" is the default model. Yields
        RunDelta(index, text) as text arrives and one RunDone(index, run) per model as it ends
        (index = position in `models`; RunDone order is completion order). Setting `cancel` (or
        closing the iterator) stops the model calls themselves: each unfinished run is stored with
        the text produced so far and error_code "cancelled" (RunDone still follows when the
        iterator is not closed). Raises NotFoundError, ValidationError, TemplateError,
        PermissionDeniedError at the call, before any model is contacted."""
        require(ctx, Action.RUN_MODELS)
        models = list(models or [])
        if not 1 <= len(models) <= MAX_SIDE_BY_SIDE:
            raise ValidationError("testing.model_count", count=len(models), max=MAX_SIDE_BY_SIDE)
        prepared = self.prepare(ctx, prompt_name, version=version, label=label, variables=variables, params=params,
                                system_prompt=system_prompt)
        targets = [self.providers.resolve(ctx, (m or "").strip() or None) for m in models]
        return self._stream_many(ctx, prepared, targets, use_cache, cancel)

    def _stream_many(self, ctx, prepared: Prepared, targets: list[ModelTarget], use_cache,
                     cancel: threading.Event | None) -> Iterator[StreamEvent]:
        from ..llm.fanout import Call, stream_many

        batch_id, start = str(uuid.uuid4()), time.perf_counter()
        texts: dict[int, list[str]] = {i: [] for i in range(len(targets))}
        calls = [Call(t, prepared.messages, prepared.params, use_cache) for t in targets]
        items = stream_many(self.gateway, calls, cancel)
        try:
            for index, item in items:
                if isinstance(item, str):
                    texts[index].append(item)
                    yield RunDelta(index, item)
                else:
                    texts.pop(index, None)
                    run = self._store(ctx, prepared, [(targets[index], item)], batch_id=batch_id)[0]
                    yield RunDone(index, run)
        finally:
            items.close()  # cancels what still runs
            # Closed early (Stop in the UI, Ctrl-C): keep what each unfinished model produced.
            for index, parts in texts.items():
                target = targets[index]
                result = self.gateway.cancelled(target, prepared.messages, "".join(parts), start)
                self._store(ctx, prepared, [(target, result)], batch_id=batch_id)

    def stream(self, ctx: TenantContext, prompt_name: str, *, version: int | None = None, label: str | None = None,
               model: str | None = None, variables: dict | None = None, params: dict | None = None,
               system_prompt: str | None = None, use_cache: bool | None = None) -> Iterator[str | RunPublic]:
        """Text deltas, then the stored RunPublic. Raises as run(), at the call, before any delta."""
        require(ctx, Action.RUN_MODELS)
        prepared = self.prepare(ctx, prompt_name, version=version, label=label, variables=variables, params=params,
                                system_prompt=system_prompt)
        target = self.providers.resolve(ctx, model)
        return self._stream(ctx, prepared, target, use_cache)

    def _stream(self, ctx, prepared: Prepared, target: ModelTarget, use_cache) -> Iterator[str | RunPublic]:
        result = None
        items = self.gateway.stream(target, prepared.messages, prepared.params, use_cache=use_cache)
        try:
            for item in items:
                if isinstance(item, str):
                    yield item
                else:
                    result = item
        finally:
            items.close()  # abandoned: stop the model call too
        yield self._store(ctx, prepared, [(target, result)], batch_id=None)[0]

    def run_messages(self, ctx: TenantContext, messages: list[dict], *, model: str | None = None,
                     params: dict | None = None, prompt_name: str = "", version_number: int | None = None,
                     variables: dict | None = None, use_cache: bool | None = None) -> RunPublic:
        """Send ready-made messages (built-in actions such as translation) and store the run.

        Raises ValidationError, PermissionDeniedError."""
        require(ctx, Action.RUN_MODELS)
        prepared = Prepared(prompt_name, version_number, _jsonable(variables), ModelParams.parse(params).to_call(),
                            messages, messages)
        target = self.providers.resolve(ctx, model)
        result = self.gateway.complete(target, messages, prepared.params, use_cache=use_cache)
        return self._store(ctx, prepared, [(target, result)], batch_id=None)[0]

    def _store(self, ctx: TenantContext, prepared: Prepared, outcomes: list[tuple[ModelTarget, LLMResult]],
               batch_id: str | None) -> list[RunPublic]:
        from ..secrets import scrub_secrets, scrub_value

        rows = []
        secrets = self.providers.run_secrets(ctx, [target for target, _ in outcomes])
        with self._repo(ctx, write=True) as repo:
            for target, result in outcomes:
                rows.append(repo.add(Run(
                    prompt_name=prepared.prompt_name, version_number=prepared.version_number,
                    model=target.display_name, params=prepared.params, variables=prepared.variables,
                    rendered_input=prepared.stored_messages, output=scrub_secrets(result.text or "", secrets),
                    prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens,
                    cost=result.cost, latency_ms=round(result.latency_ms, 3), cached=result.cached,
                    error_code=result.error_code, error_key=result.error_key,
                    error_params=scrub_value(result.error_params, secrets) if result.error_key else None,
                    batch_id=batch_id, user_id=ctx.user_id,
                )))
            return [RunPublic.model_validate(row, from_attributes=True) for row in rows]

    # --- history -------------------------------------------------------------------------
    def list_runs(self, ctx: TenantContext, prompt_name: str | None = None, model: str | None = None,
                  limit: int = 50, offset: int = 0, batch_id: str | None = None) -> Page[RunPublic]:
        """A page of stored runs, newest first, with the total. Raises ValidationError for a bad page."""
        require(ctx, Action.READ_RUNS)
        if not 1 <= limit <= 1000 or offset < 0:
            raise ValidationError("testing.bad_page", limit=limit, offset=offset)
        with self._repo(ctx) as repo:
            rows, total = repo.query(prompt_name=prompt_name, model=model, batch_id=batch_id, limit=limit,
                                     offset=offset)
            items = [RunPublic.model_validate(row, from_attributes=True) for row in rows]
        return RunPage(items=items, total=total, limit=limit, offset=offset)

    def get_run(self, ctx: TenantContext, run_id: int) -> RunPublic:
        """Raises NotFoundError, PermissionDeniedError."""
        require(ctx, Action.READ_RUNS)
        with self._repo(ctx) as repo:
            row = repo.get(run_id)
            if row is None:
                raise NotFoundError(what="run", name=str(run_id))
            return RunPublic.model_validate(row, from_attributes=True)

    # --- estimates -----------------------------------------------------------------------
    def estimate(self, ctx: TenantContext, text: str | None = None, model: str | None = None, *,
                 prompt_name: str | None = None, version: int | None = None, label: str | None = None,
                 variables: dict | None = None, system_prompt: str | None = None,
                 output_tokens: int = 0) -> TokenEstimate:
        """Tokens, cost (input plus output_tokens) and context-window fit of a text or a prompt, offline.

        Raises ValidationError, NotFoundError, TemplateError."""
        from ..i18n import t
        from ..llm import tokens

        require(ctx, Action.READ_MODELS)
        if (text is None) == (prompt_name is None):
            raise ValidationError("testing.estimate_input")
        if not isinstance(output_tokens, int) or output_tokens < 0:
            raise ValidationError("testing.bad_param", name="output_tokens", value=str(output_tokens),
                                  expected_key="testing.expected.max_tokens")
        target = self._estimate_target(ctx, model)
        count_model = target.model if target else None
        rendered = True
        if prompt_name is not None:
            try:
                messages = self.prepare(ctx, prompt_name, version=version, label=label, variables=variables,
                                        system_prompt=system_prompt, resolve_files=False).messages
            except ValidationError as exc:
                if exc.message_key != "errors.missing_variable":
                    raise
                # Without values the template itself is counted: a lower bound, still useful.
                prompt = self.library.get(ctx, prompt_name, version=version, label=label)
                messages = build_messages(None if prompt.messages is not None else prompt.content, prompt.messages,
                                          system_prompt, None)[0]
                rendered = False
            count = tokens.count_messages(messages, count_model)
        else:
            count = tokens.count_text(text, count_model)
        estimate = TokenEstimate(tokens=count.tokens, exact=count.exact and rendered, method=count.method,
                                 model=target.display_name if target else None, output_tokens=output_tokens,
                                 rendered=rendered)
        if target is not None:
            estimate.cost = self.gateway.estimate_cost(target, count.tokens, output_tokens)
            estimate.context_window = self.gateway.model_info(target).context_window
            if estimate.context_window:
                estimate.fits = count.tokens + output_tokens <= estimate.context_window
                if not estimate.fits:
                    estimate.warning = t("testing.too_long", ctx.locale, tokens=count.tokens + output_tokens,
                                         context_window=estimate.context_window, model=target.display_name)
        return estimate

    def _estimate_target(self, ctx: TenantContext, model: str | None) -> ModelTarget | None:
        if model:
            return self.providers.resolve(ctx, model)
        try:
            return self.providers.resolve(ctx, None)
        except ValidationError as exc:
            if exc.message_key != "providers.no_model":
                raise
            return None  # no model at all: count with the default OpenAI encoding, cost unknown
