"""The testing bench: run a prompt version on one model or several side by side, store every run,
list run history, and estimate tokens and cost before a call.

Provider failures are data: the run is stored with its error and returned, never raised."""
from __future__ import annotations

import base64
import json
import mimetypes
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .. import templating
from ..context import TenantContext
from ..db import Database
from ..errors import NotFoundError, ValidationError
from ..llm import Gateway, LLMResult, ModelTarget
from ..models import Run
from ..repositories import RunRepository
from ..schemas import Page
from ..schemas_llm import RunPublic, TokenEstimate
from .library import LibraryService
from .providers import ProviderService
from .base import unit_of_work

RunPage = Page[RunPublic]  # built once, see services/library.py
MAX_SIDE_BY_SIDE = 4
PARAM_NAMES = ("temperature", "max_tokens", "top_p", "seed", "stop")
_MAX_STOPS = 4


def _number(name: str, value, kind: type, low: float | None, high: float | None):
    if isinstance(value, bool):
        raise ValidationError("testing.bad_param", name=name, value=str(value), expected_key=_EXPECTED[name])
    try:
        number = kind(value.strip() if isinstance(value, str) else value)
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
    except (TypeError, ValueError):
        raise ValidationError("testing.bad_param", name=name, value=str(value), expected_key=_EXPECTED[name]) from None
    if number != number or (low is not None and number < low) or (high is not None and number > high):
        raise ValidationError("testing.bad_param", name=name, value=str(value), expected_key=_EXPECTED[name])
    return number


def _stop(value) -> list[str] | str:
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValidationError("testing.bad_param", name="stop", value=value, expected_key=_EXPECTED["stop"]) from None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not 1 <= len(items) <= _MAX_STOPS or \
            not all(isinstance(s, str) and s for s in items):
        raise ValidationError("testing.bad_param", name="stop", value=str(value), expected_key=_EXPECTED["stop"])
    return items[0] if len(items) == 1 else items


# What each parameter accepts, as a locale key (translated with the error message).
_EXPECTED = {name: f"testing.expected.{name}" for name in PARAM_NAMES}


def clean_params(params: dict | None) -> dict:
    """The model parameters a run accepts, converted from strings; anything else is a ValidationError."""
    cleaned = {}
    for name, value in (params or {}).items():
        if name not in PARAM_NAMES:
            raise ValidationError("testing.unknown_param", name=str(name), allowed=", ".join(PARAM_NAMES))
        if value is None or (isinstance(value, str) and not value.strip() and name != "stop"):
            continue
        if name == "temperature":
            cleaned[name] = _number(name, value, float, 0.0, 2.0)
        elif name == "top_p":
            cleaned[name] = _number(name, value, float, 0.0, 1.0)
        elif name == "max_tokens":
            cleaned[name] = _number(name, value, int, 1, None)
        elif name == "seed":
            cleaned[name] = _number(name, value, int, None, None)
        else:
            cleaned[name] = _stop(value)
    return cleaned


# --- messages --------------------------------------------------------------------------------
_MAX_FILE_BYTES = 20 * 1024 * 1024


def _file_data_uri(url: str, files_dir: Path) -> str:
    """A stored file ("file:NAME", inside files_dir only) as a data URI."""
    name = url[len("file:"):].strip()
    root = files_dir.resolve()
    path = (root / name).resolve()
    if not name or not path.is_relative_to(root) or path == root:
        raise ValidationError("testing.bad_file", name=name)
    if not path.is_file():
        raise ValidationError("testing.file_missing", name=name)
    mime = mimetypes.guess_type(path.name)[0] or ""
    if not mime.startswith("image/"):
        raise ValidationError("testing.not_an_image", name=name)
    if path.stat().st_size > _MAX_FILE_BYTES:
        raise ValidationError("testing.file_too_large", name=name, limit_mb=_MAX_FILE_BYTES // (1024 * 1024))
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _openai_content(parts: list[dict], files_dir: Path | None) -> tuple[object, object]:
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
            url = _file_data_uri(url, files_dir)
        call.append({"type": "image_url", "image_url": {"url": url}})
    return call, stored


def build_messages(content: str | None, messages: list[dict] | None, system_prompt: str | None,
                   files_dir: Path | None) -> tuple[list[dict], list[dict]]:
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
                 files_dir: Path):
        self.db = db
        self.library = library
        self.providers = providers
        self.gateway = gateway
        self.files_dir = Path(files_dir)

    def _repo(self, ctx: TenantContext, write: bool = False):
        return unit_of_work(self.db, ctx, RunRepository, write=write, writers_only=False)

    # --- running -------------------------------------------------------------------------
    def prepare(self, ctx: TenantContext, prompt_name: str, *, version: int | None = None, label: str | None = None,
                variables: dict | None = None, params: dict | None = None, system_prompt: str | None = None,
                resolve_files: bool = True) -> Prepared:
        """Render a prompt into OpenAI-format messages. Raises NotFoundError, ValidationError, TemplateError."""
        cleaned = clean_params(params)
        prompt = self.library.get(ctx, prompt_name, version=version, label=label)
        raw_content = None if prompt.messages is not None else prompt.content
        content, messages = templating.render(raw_content, prompt.messages, prompt.variables, variables)
        call, stored = build_messages(content, messages, system_prompt, self.files_dir if resolve_files else None)
        return Prepared(prompt.name, prompt.version, _jsonable(variables), cleaned, call, stored)

    def run(self, ctx: TenantContext, prompt_name: str, *, version: int | None = None, label: str | None = None,
            model: str | None = None, variables: dict | None = None, params: dict | None = None,
            system_prompt: str | None = None, use_cache: bool | None = None) -> RunPublic:
        """Run a prompt on one model and store the run (a provider failure is stored and returned as data).

        Raises NotFoundError, ValidationError, TemplateError (before any call)."""
        prepared = self.prepare(ctx, prompt_name, version=version, label=label, variables=variables, params=params,
                                system_prompt=system_prompt)
        target = self.providers.resolve(ctx, model)
        result = self.gateway.complete(target, prepared.messages, prepared.params, use_cache=use_cache)
        return self._store(ctx, prepared, [(target, result)], batch_id=None)[0]

    def run_many(self, ctx: TenantContext, prompt_name: str, models: list[str], *, version: int | None = None,
                 label: str | None = None, variables: dict | None = None, params: dict | None = None,
                 system_prompt: str | None = None, use_cache: bool | None = None) -> list[RunPublic]:
        """The same prompt on 1-4 models concurrently; the runs share a batch_id. Raises as run()."""
        models = [m for m in (models or []) if m and m.strip()]
        if not 1 <= len(models) <= MAX_SIDE_BY_SIDE:
            raise ValidationError("testing.model_count", count=len(models), max=MAX_SIDE_BY_SIDE)
        prepared = self.prepare(ctx, prompt_name, version=version, label=label, variables=variables, params=params,
                                system_prompt=system_prompt)
        targets = [self.providers.resolve(ctx, m) for m in models]

        def call(target: ModelTarget) -> LLMResult:
            return self.gateway.complete(target, prepared.messages, prepared.params, use_cache=use_cache)

        with ThreadPoolExecutor(max_workers=len(targets), thread_name_prefix="promptmgr-run") as pool:
            results = list(pool.map(call, targets))
        return self._store(ctx, prepared, list(zip(targets, results)), batch_id=str(uuid.uuid4()))

    def stream(self, ctx: TenantContext, prompt_name: str, *, version: int | None = None, label: str | None = None,
               model: str | None = None, variables: dict | None = None, params: dict | None = None,
               system_prompt: str | None = None, use_cache: bool | None = None) -> Iterator[str | RunPublic]:
        """Text deltas, then the stored RunPublic. Raises as run(), at the call, before any delta."""
        prepared = self.prepare(ctx, prompt_name, version=version, label=label, variables=variables, params=params,
                                system_prompt=system_prompt)
        target = self.providers.resolve(ctx, model)
        return self._stream(ctx, prepared, target, use_cache)

    def _stream(self, ctx, prepared: Prepared, target: ModelTarget, use_cache) -> Iterator[str | RunPublic]:
        result = None
        for item in self.gateway.stream(target, prepared.messages, prepared.params, use_cache=use_cache):
            if isinstance(item, str):
                yield item
            else:
                result = item
        yield self._store(ctx, prepared, [(target, result)], batch_id=None)[0]

    def stream_many(self, ctx: TenantContext, prompt_name: str, models: list[str], *, version: int | None = None,
                    label: str | None = None, variables: dict | None = None, params: dict | None = None,
                    system_prompt: str | None = None, use_cache: bool | None = None,
                    cancel: "threading.Event | None" = None) -> Iterator[tuple[int, "str | RunPublic"]]:
        """TEMP shim (helper "llm" owns the real one): (index, delta) as they arrive, then (index, RunPublic)
        per model; a set `cancel` closes the calls and stores them with error_code "cancelled".
        Raises as run(), at the first iteration, before any call."""
        import queue
        import threading

        models = [m for m in (models or []) if m and m.strip()]
        if not 1 <= len(models) <= MAX_SIDE_BY_SIDE:
            raise ValidationError("testing.model_count", count=len(models), max=MAX_SIDE_BY_SIDE)
        prepared = self.prepare(ctx, prompt_name, version=version, label=label, variables=variables, params=params,
                                system_prompt=system_prompt)
        targets = [self.providers.resolve(ctx, m) for m in models]
        cancel = cancel or threading.Event()
        batch_id, inbox = str(uuid.uuid4()), queue.Queue()

        def pump(index: int, target: ModelTarget) -> None:
            stream, result, parts = self.gateway.stream(target, prepared.messages, prepared.params,
                                                        use_cache=use_cache), None, []
            try:
                for item in stream:
                    if cancel.is_set():
                        break
                    if isinstance(item, str):
                        parts.append(item)
                        inbox.put((index, item))
                    else:
                        result = item
            finally:
                stream.close()
                if cancel.is_set():
                    import gc

                    gc.collect()  # litellm's stream wrapper sits in a reference cycle: finalize it now
            if result is None:
                result = LLMResult(text="".join(parts), prompt_tokens=0, completion_tokens=0, cost=None,
                                   latency_ms=0.0, model=target.display_name, error_code="cancelled")
            inbox.put((index, result))

        for index, target in enumerate(targets):
            threading.Thread(target=pump, args=(index, target), daemon=True, name=f"promptmgr-run-{index}").start()
        pending = len(targets)
        while pending:
            index, item = inbox.get()
            if isinstance(item, str):
                yield index, item
                continue
            pending -= 1
            yield index, self._store(ctx, prepared, [(targets[index], item)], batch_id=batch_id)[0]

    def run_messages(self, ctx: TenantContext, messages: list[dict], *, model: str | None = None,
                     params: dict | None = None, prompt_name: str = "", version_number: int | None = None,
                     variables: dict | None = None, use_cache: bool | None = None) -> RunPublic:
        """Send ready-made messages (built-in actions such as translation) and store the run. Raises ValidationError."""
        prepared = Prepared(prompt_name, version_number, _jsonable(variables), clean_params(params), messages,
                            messages)
        target = self.providers.resolve(ctx, model)
        result = self.gateway.complete(target, messages, prepared.params, use_cache=use_cache)
        return self._store(ctx, prepared, [(target, result)], batch_id=None)[0]

    def _store(self, ctx: TenantContext, prepared: Prepared, outcomes: list[tuple[ModelTarget, LLMResult]],
               batch_id: str | None) -> list[RunPublic]:
        from ..i18n import t

        rows = []
        with self._repo(ctx, write=True) as repo:
            for target, result in outcomes:
                error = t(result.error_key, ctx.locale, **result.error_params) if result.error_key else None
                rows.append(repo.add(Run(
                    prompt_name=prepared.prompt_name, version_number=prepared.version_number,
                    model=target.display_name, params=prepared.params, variables=prepared.variables,
                    rendered_input=prepared.stored_messages, output=result.text or "",
                    prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens,
                    cost=result.cost, latency_ms=round(result.latency_ms, 3), cached=result.cached,
                    error_code=result.error_code, error=error, batch_id=batch_id, user_id=ctx.user_id,
                )))
            return [RunPublic.model_validate(row, from_attributes=True) for row in rows]

    # --- history -------------------------------------------------------------------------
    def list_runs(self, ctx: TenantContext, prompt_name: str | None = None, model: str | None = None,
                  limit: int = 50, offset: int = 0, batch_id: str | None = None) -> Page[RunPublic]:
        """A page of stored runs, newest first, with the total. Raises ValidationError for a bad page."""
        if not 1 <= limit <= 1000 or offset < 0:
            raise ValidationError("testing.bad_page", limit=limit, offset=offset)
        with self._repo(ctx) as repo:
            rows, total = repo.query(prompt_name=prompt_name, model=model, batch_id=batch_id, limit=limit,
                                     offset=offset)
            items = [RunPublic.model_validate(row, from_attributes=True) for row in rows]
        return RunPage(items=items, total=total, limit=limit, offset=offset)

    def get_run(self, ctx: TenantContext, run_id: int) -> RunPublic:
        """Raises NotFoundError."""
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
        from .. import tokens
        from ..i18n import t

        if (text is None) == (prompt_name is None):
            raise ValidationError("testing.estimate_input")
        if not isinstance(output_tokens, int) or output_tokens < 0:
            raise ValidationError("testing.bad_param", name="output_tokens", value=str(output_tokens),
                                  expected_key=_EXPECTED["max_tokens"])
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
