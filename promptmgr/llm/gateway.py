"""The LLM gateway: one entry point for every model call, whatever backend serves the model.

Async-first (acomplete/astream; the experiment runner drives thousands of calls through them);
complete()/stream() are thin wrappers running on one background loop (llm/aio.py). Failures come
back as data (LLMResult.error_code/error_key/error_params), retries go through llm/retry.py,
deterministic answers are cached per tenant and credential, and every call is priced. API keys
never reach a repr, a log record, an exception text, the cache or a result."""
from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from . import aio, observe
from .backend import Backend
from .cache import ResponseCache, cache_key, wants_cache
from .errors import Failure, cancelled
from .registry import backend_for, backends
from .retry import GaveUp, RetryPolicy, attempts
from .types import ChatMessage, LLMResult, ModelInfo, ModelTarget, Reply, Usage

__all__ = ["Gateway", "LLMResult", "ModelInfo", "ModelTarget", "cache_key"]

log = logging.getLogger(__name__)


def _validate(target, messages, params) -> None:
    # Wrong types here are programming errors: raised, not returned as data.
    if not isinstance(target, ModelTarget):
        raise TypeError("target must be a ModelTarget")
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise TypeError("messages must be a list of dicts")
    if params is not None and not isinstance(params, dict):
        raise TypeError("params must be a dict or None")


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0


class Gateway:
    def __init__(self, cache_dir: Path | None, *, max_retries: int = 2, timeout: float = 60.0,
                 backoff_base: float = 0.5, cache_enabled: bool = True):
        self.max_retries = max(0, int(max_retries))
        self.timeout = float(timeout)
        self.backoff_base = float(backoff_base)
        self.cache_enabled = bool(cache_enabled) and cache_dir is not None
        self.cache = ResponseCache(Path(cache_dir)) if self.cache_enabled else None

    def __repr__(self) -> str:
        return f"Gateway(cache={self.cache.directory if self.cache else None}, max_retries={self.max_retries})"

    # -- pieces shared by both call styles -------------------------------------------------------
    def _policy(self) -> RetryPolicy:
        return RetryPolicy(self.max_retries, self.backoff_base)  # read per call: tests tune them

    def _cache_key(self, target, messages, params, use_cache) -> str | None:
        if self.cache is None or not wants_cache(params, use_cache, self.cache_enabled):
            return None
        return cache_key(target, messages, params)

    def _cached(self, key: str | None, target: ModelTarget, start: float) -> LLMResult | None:
        if key is None:
            return None
        hit = self.cache.get(key)
        if hit is None:
            return None
        log.debug("cache hit for %s", target.display_name)
        return LLMResult(text=hit.get("text", ""), prompt_tokens=int(hit.get("prompt_tokens", 0)),
                         completion_tokens=int(hit.get("completion_tokens", 0)), cost=0.0,
                         latency_ms=_ms(start), model=target.display_name, cached=True,
                         finish_reason=hit.get("finish_reason"))

    def _store(self, key: str | None, target: ModelTarget, result: LLMResult) -> None:
        if key is not None and result.ok:
            self.cache.set(key, {"model": target.model, "text": result.text, "prompt_tokens": result.prompt_tokens,
                                 "completion_tokens": result.completion_tokens,
                                 "finish_reason": result.finish_reason})

    def _finish(self, target, messages, text, prompt_tokens, completion_tokens, finish_reason, start) -> LLMResult:
        from . import tokens

        if not prompt_tokens:
            prompt_tokens = tokens.count_messages(messages, target.model).tokens
        if completion_tokens is None or (not completion_tokens and text):
            completion_tokens = tokens.count_text(text, target.model).tokens
        return LLMResult(text=text, prompt_tokens=int(prompt_tokens), completion_tokens=int(completion_tokens),
                         cost=self.estimate_cost(target, int(prompt_tokens), int(completion_tokens)),
                         latency_ms=_ms(start), model=target.display_name, finish_reason=finish_reason)

    def _failed(self, failure: Failure, target: ModelTarget, start: float, retries: int, text: str = "") -> LLMResult:
        params = dict(failure.params)
        if failure.code == "rate_limited":
            params["retries"] = retries
            if failure.retry_after is not None:  # the experiment runner's limiter honours it
                params["retry_after"] = failure.retry_after
        log.info("model call failed: model=%s code=%s retries=%d", target.display_name, failure.code, retries)
        return LLMResult(text=text, prompt_tokens=0, completion_tokens=0, cost=None, latency_ms=_ms(start),
                         model=target.display_name, error_code=failure.code, error_key=failure.key,
                         error_params=params)

    def cancelled(self, target: ModelTarget, messages: list[ChatMessage], text: str, start: float) -> LLMResult:
        """The result of a call the caller stopped: the text so far, its tokens and cost, error "cancelled"."""
        result = self._finish(target, messages, text, None, None, "cancelled", start)
        failure = cancelled(target.display_name)
        result.error_code, result.error_key, result.error_params = failure.code, failure.key, dict(failure.params)
        return observe.emit(result)

    def _begin(self, target, messages, params, use_cache) -> tuple[Backend, dict, float, str | None]:
        _validate(target, messages, params)
        backend = self._backend(target)
        backend.warm()  # a one-time library import is not the call's latency
        params = dict(params or {})
        return backend, params, time.perf_counter(), self._cache_key(target, messages, params, use_cache)

    def _backend(self, target: ModelTarget) -> Backend:
        """The backend serving this target (a subclass may route some targets elsewhere)."""
        return backend_for(target.model)

    def _classifier(self, backend: Backend, target: ModelTarget):
        return lambda exc: backend.classify(exc, target, self.timeout)

    # -- async calls (the real implementation) ---------------------------------------------------
    async def acomplete(self, target: ModelTarget, messages: list[ChatMessage], params: dict | None = None, *,
                        use_cache: bool | None = None) -> LLMResult:
        """One chat completion; failures come back as LLMResult.error_code, never raised."""
        backend, params, start, key = self._begin(target, messages, params, use_cache)
        hit = self._cached(key, target, start)
        if hit is not None:
            return observe.emit(hit)
        if not backend.available():
            return observe.emit(self._failed(backend.unavailable(target), target, start, 0))

        async def once() -> AsyncIterator[Reply]:
            yield await backend.complete(target, messages, params, timeout=self.timeout)

        result = None
        async for item in attempts(once, self._classifier(backend, target), self._policy(), target.display_name):
            if isinstance(item, GaveUp):
                result = self._failed(item.failure, target, start, item.retries)
            else:
                result = self._finish(target, messages, item.text, item.prompt_tokens, item.completion_tokens,
                                      item.finish_reason, start)
        self._store(key, target, result)
        return observe.emit(result)

    async def astream(self, target: ModelTarget, messages: list[ChatMessage], params: dict | None = None, *,
                      use_cache: bool | None = None) -> AsyncIterator[str | LLMResult]:
        """Text deltas, then exactly one LLMResult with the full text (an error result keeps the
        partial text). Cancelling the task iterating it closes the provider's stream."""
        backend, params, start, key = self._begin(target, messages, params, use_cache)
        hit = self._cached(key, target, start)
        if hit is not None:
            if hit.text:
                yield hit.text
            yield observe.emit(hit)
            return
        if not backend.available():
            yield observe.emit(self._failed(backend.unavailable(target), target, start, 0))
            return
        parts: list[str] = []
        usage, result = Usage(None, None, None), None

        def start_stream():
            return backend.stream(target, messages, params, timeout=self.timeout)

        async for item in attempts(start_stream, self._classifier(backend, target), self._policy(),
                                   target.display_name):
            if isinstance(item, str):
                parts.append(item)
                yield item
            elif isinstance(item, Usage):
                usage = item
            else:
                result = self._failed(item.failure, target, start, item.retries, "".join(parts))
        if result is None:
            result = self._finish(target, messages, "".join(parts), usage.prompt_tokens, usage.completion_tokens,
                                  usage.finish_reason, start)
        self._store(key, target, result)
        yield observe.emit(result)

    # -- sync wrappers -------------------------------------------------------------------------
    def complete(self, target: ModelTarget, messages: list[ChatMessage], params: dict | None = None, *,
                 use_cache: bool | None = None) -> LLMResult:
        """acomplete() for synchronous callers."""
        _validate(target, messages, params)
        backend_for(target.model).warm()  # in the caller's thread, not on the shared loop
        return aio.run(self.acomplete(target, messages, params, use_cache=use_cache))

    def stream(self, target: ModelTarget, messages: list[ChatMessage], params: dict | None = None, *,
               use_cache: bool | None = None) -> Iterator[str | LLMResult]:
        """astream() for synchronous callers; closing the iterator stops the call."""
        _validate(target, messages, params)
        backend_for(target.model).warm()
        return aio.iterate(lambda: self.astream(target, messages, params, use_cache=use_cache))

    # -- prices and model facts -------------------------------------------------------------------
    def estimate_cost(self, target: ModelTarget, prompt_tokens: int, completion_tokens: int) -> float | None:
        """USD for these token counts (the target's prices win); None when unknown."""
        return self._backend(target).estimate_cost(target, prompt_tokens, completion_tokens)

    def model_info(self, target: ModelTarget) -> ModelInfo:
        return backend_for(target.model).model_info(target)

    def missing_keys(self, target: ModelTarget) -> list[str]:
        """The unset environment variables a call of this target needs (its backend decides)."""
        return backend_for(target.model).missing_keys(target)

    def known_models(self) -> list[ModelInfo]:
        """Every backend's known models (the embedded model first, when installed)."""
        return [info for backend in backends() for info in backend.known_models()]
