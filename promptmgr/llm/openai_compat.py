"""A lean backend for OpenAI-compatible endpoints (configured providers: `openai/<model>` with an
api_base), used by the experiment runner through RunnerGateway.

litellm costs about 16 ms of CPU per call here (logging objects, a price lookup per response):
with 16 calls in flight at 100 ms, that CPU is the bottleneck, not the provider. This backend posts
the same request with one pooled aiohttp session per endpoint and loop (~1 ms) and raises exceptions that
llm/errors.classify maps exactly as it maps litellm's (class names and status codes). Streams, and
every other model, still go through litellm."""
from __future__ import annotations

import asyncio
import atexit
import json
from collections.abc import AsyncIterator

from .backend import Backend
from .cache import NON_CONTENT_PARAMS
from .gateway import Gateway
from .registry import backend_for
from .types import ChatMessage, ModelTarget, Reply, Usage

_NO_KEY = "sk-no-key-required"


class ProviderHTTPError(Exception):
    """An HTTP error answer; subclasses carry the names classify() recognises."""

    def __init__(self, status_code: int, message: str, response):
        super().__init__(message)
        self.status_code, self.response = status_code, response


class RateLimitError(ProviderHTTPError): ...
class AuthenticationError(ProviderHTTPError): ...
class NotFoundError(ProviderHTTPError): ...
class BadRequestError(ProviderHTTPError): ...
class InternalServerError(ProviderHTTPError): ...


def _error_class(status: int) -> type[ProviderHTTPError]:
    if status == 429:
        return RateLimitError
    if status in (401, 403):
        return AuthenticationError
    if status == 404:
        return NotFoundError
    if 400 <= status < 500:
        return BadRequestError
    return InternalServerError


def eligible(target: ModelTarget) -> bool:
    return bool(target.api_base) and target.model.startswith("openai/")


class OpenAICompatBackend(Backend):
    name = "openai-compatible"

    def __init__(self, fallback: Backend):
        self.fallback = fallback  # streams, prices and model facts: litellm's, as before
        self._clients: dict[tuple[int, str], object] = {}

    def _client(self, api_base: str):
        import aiohttp

        key = (id(asyncio.get_running_loop()), api_base)
        client = self._clients.get(key)
        if client is None or client.closed:  # a client session belongs to the loop it was made on
            if not self._clients:  # llm/aio registered its loop's shutdown before: ours runs first
                atexit.register(_close_at_exit, self)
            client = self._clients[key] = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300), trust_env=False)
        return client

    async def complete(self, target: ModelTarget, messages: list[ChatMessage], params: dict, *,
                       timeout: float) -> Reply:
        import aiohttp

        body = {k: v for k, v in params.items() if v is not None and k not in NON_CONTENT_PARAMS}
        body.update(model=target.model.split("/", 1)[1], messages=messages)
        headers = {"Authorization": f"Bearer {target.api_key or _NO_KEY}"}
        url = target.api_base.rstrip("/") + "/chat/completions"
        async with self._client(target.api_base).post(url, json=body, headers=headers, allow_redirects=False,
                                                      timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            raw = await response.read()
            if response.status >= 400:
                raise _error_class(response.status)(response.status, _message(raw, response.status), response)
        data = json.loads(raw)
        choice = (data.get("choices") or [{}])[0]
        usage = data.get("usage") or {}
        return Reply((choice.get("message") or {}).get("content") or "", usage.get("prompt_tokens"),
                     usage.get("completion_tokens"), choice.get("finish_reason"))

    def stream(self, target: ModelTarget, messages: list[ChatMessage], params: dict, *,
               timeout: float) -> AsyncIterator[str | Usage]:
        return self.fallback.stream(target, messages, params, timeout=timeout)

    def warm(self) -> None:
        import aiohttp  # noqa: F401

    def estimate_cost(self, target, prompt_tokens, completion_tokens):
        if target.input_cost_per_token is not None and target.output_cost_per_token is not None:
            # Both prices set by the user: no need for litellm's price map (and its import).
            return prompt_tokens * float(target.input_cost_per_token) + \
                completion_tokens * float(target.output_cost_per_token)
        return self.fallback.estimate_cost(target, prompt_tokens, completion_tokens)

    def model_info(self, target):
        return self.fallback.model_info(target)

    def count_text(self, model, text):
        return self.fallback.count_text(model, text)

    def count_messages(self, model, messages):
        return self.fallback.count_messages(model, messages)


def _message(raw: bytes, status: int) -> str:
    try:
        error = json.loads(raw).get("error")
        text = error.get("message") if isinstance(error, dict) else str(error or "")
    except (ValueError, AttributeError):
        text = raw[:300].decode("utf-8", "replace")
    return text or f"HTTP {status}"


class LeanGateway(Gateway):
    """A Gateway whose calls to OpenAI-compatible endpoints skip litellm (same cache, retries,
    prices and error mapping). Made from an existing gateway with `lean(gateway)`."""

    _lean: OpenAICompatBackend

    def _backend(self, target: ModelTarget) -> Backend:
        default = backend_for(target.model)
        if eligible(target) and default.name == "litellm":  # a test double registered for it still wins
            return self._lean
        return default


_shared: OpenAICompatBackend | None = None


def _backend_instance() -> OpenAICompatBackend:
    """One backend per process, so its connection pools live across runs; closed at exit."""
    global _shared
    if _shared is None:
        _shared = OpenAICompatBackend(backend_for("openai/x"))
    return _shared


def _close_at_exit(backend: OpenAICompatBackend) -> None:
    from . import aio

    loop = aio._loop
    if loop is None or not loop.is_running():
        return
    for (loop_id, _base), session in list(backend._clients.items()):
        if loop_id == id(loop) and not session.closed:
            try:  # bounded: the loop may be stopping at the same time
                asyncio.run_coroutine_threadsafe(session.close(), loop).result(timeout=2)
            except Exception:  # exiting anyway
                pass


def lean(gateway: Gateway, **overrides) -> LeanGateway:
    """A LeanGateway sharing `gateway`'s settings and response cache."""
    copy = LeanGateway.__new__(LeanGateway)
    copy.__dict__.update(gateway.__dict__)
    copy.__dict__.update(overrides)
    copy._lean = _backend_instance()
    return copy
