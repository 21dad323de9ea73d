"""The LLM gateway: the only module that imports litellm (lazily, inside functions).

complete/acomplete/stream return failures as data (LLMResult.error_code/error_key), retry what
is worth retrying, cache deterministic answers on disk and price each call. API keys never reach
a repr, a log record, an exception text, the cache or a result."""
from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from . import local_model, offline  # noqa: F401  (offline: before litellm/tiktoken load)
from .llm_cache import NON_CONTENT_PARAMS, ResponseCache, cache_key, wants_cache
from .llm_errors import Failure, classify, may_retry, retry_delay

__all__ = ["Gateway", "LLMResult", "ModelInfo", "ModelTarget", "cache_key", "litellm_module",
           "lookup_price_entry", "LOCAL_MODEL_NAME"]

log = logging.getLogger(__name__)
LOCAL_MODEL_NAME = local_model.LOCAL_MODEL_NAME
_NO_KEY = "sk-no-key-required"  # OpenAI-compatible servers without auth still need some key
_litellm = None
_litellm_lock = threading.Lock()


def litellm_module():
    """litellm, imported on first use (~3 s) and configured to stay quiet and offline."""
    global _litellm
    if _litellm is None:
        with _litellm_lock:
            if _litellm is None:
                quiet = not os.environ.get("LITELLM_LOG")
                if quiet:
                    # Its DEBUG output (request dumps, partly masked headers) follows an app's
                    # root logger otherwise; LITELLM_LOG=DEBUG brings it back when debugging.
                    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
                        logging.getLogger(name).setLevel(logging.WARNING)
                import litellm

                litellm.suppress_debug_info = True
                litellm.telemetry = False
                litellm.disable_hf_tokenizer_download = True  # token counts must not download
                if quiet:  # litellm resets its levels while importing
                    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
                        logging.getLogger(name).setLevel(logging.WARNING)
                _litellm = litellm
    return _litellm


@dataclass(frozen=True)
class ModelTarget:
    """How to reach one model; resolved by the providers service from what the user typed."""

    model: str
    display_name: str
    api_base: str | None = None
    api_key: str | None = field(default=None, repr=False)
    input_cost_per_token: float | None = None
    output_cost_per_token: float | None = None
    context_window: int | None = None


@dataclass
class LLMResult:
    text: str
    prompt_tokens: int
    completion_tokens: int
    cost: float | None
    latency_ms: float
    model: str
    cached: bool = False
    finish_reason: str | None = None
    error_code: str | None = None
    error_key: str | None = None
    error_params: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error_code is None

    def to_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


@dataclass(frozen=True)
class ModelInfo:
    name: str
    provider: str | None
    context_window: int | None
    input_cost_per_token: float | None
    output_cost_per_token: float | None
    known: bool


@lru_cache(maxsize=1024)
def lookup_price_entry(model: str) -> tuple[str, dict] | None:
    """(key, entry) of `model` in litellm's local price map, trying it without its provider prefix."""
    if model == LOCAL_MODEL_NAME:
        return None
    cost_map = litellm_module().model_cost
    candidates = [model]
    if "/" in model:
        provider, rest = model.split("/", 1)
        candidates.append(rest)
    else:
        provider = None
    for key in candidates:
        entry = cost_map.get(key)
        if not isinstance(entry, dict) or key == "sample_spec":
            continue
        if key != model and provider and entry.get("litellm_provider") not in (provider, None):
            continue
        if entry.get("input_cost_per_token") is not None or entry.get("output_cost_per_token") is not None:
            return key, entry
    return None


def _validate(target, messages, params) -> None:
    # Wrong types here are programming errors: raised, not returned as data.
    if not isinstance(target, ModelTarget):
        raise TypeError("target must be a ModelTarget")
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise TypeError("messages must be a list of dicts")
    if params is not None and not isinstance(params, dict):
        raise TypeError("params must be a dict or None")


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

    # -- pieces shared by the three call styles ------------------------------------------------
    def _kwargs(self, target: ModelTarget, messages: list[dict], params: dict, stream: bool) -> dict:
        kwargs = {k: v for k, v in params.items() if v is not None and k not in NON_CONTENT_PARAMS}
        kwargs.update(model=target.model, messages=messages, timeout=self.timeout, num_retries=0,
                      max_retries=0, drop_params=True)
        if target.api_base:
            kwargs["api_base"] = target.api_base
        if target.api_key:
            kwargs["api_key"] = target.api_key
        elif target.api_base and target.model.startswith("openai/"):
            # Never let the OPENAI_API_KEY of the environment travel to a custom endpoint.
            kwargs["api_key"] = _NO_KEY
        if stream:
            kwargs.update(stream=True, stream_options={"include_usage": True})
        return kwargs

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

    def _from_response(self, target, messages, response, start) -> LLMResult:
        choice = response.choices[0]
        text = getattr(choice.message, "content", None) or ""
        usage = getattr(response, "usage", None)
        return self._finish(target, messages, text, getattr(usage, "prompt_tokens", None),
                            getattr(usage, "completion_tokens", None), getattr(choice, "finish_reason", None), start)

    def _failure(self, exc: BaseException, target: ModelTarget) -> Failure:
        if isinstance(exc, local_model.LocalModelError):
            return Failure(exc.code, exc.message_key, {"model": target.display_name, **exc.params})
        return classify(exc, model=target.display_name, api_base=target.api_base, secret=target.api_key,
                        timeout=self.timeout)

    def _failed(self, failure: Failure, target: ModelTarget, start: float, retries: int, text: str = "") -> LLMResult:
        params = dict(failure.params)
        if failure.code == "rate_limited":
            params["retries"] = retries
        log.info("model call failed: model=%s code=%s retries=%d", target.display_name, failure.code, retries)
        return LLMResult(text=text, prompt_tokens=0, completion_tokens=0, cost=None, latency_ms=_ms(start),
                         model=target.display_name, error_code=failure.code, error_key=failure.key,
                         error_params=params)

    def _next_delay(self, failure: Failure, attempt: int, target: ModelTarget) -> float | None:
        if not may_retry(failure, attempt, self.max_retries):
            return None
        delay = retry_delay(attempt, self.backoff_base, random.random() * 0.25, failure.retry_after)
        log.info("retrying model=%s after %s in %.2fs (retry %d of %d)", target.display_name, failure.code,
                 delay, attempt + 1, self.max_retries)
        return delay

    def _local_missing(self, target: ModelTarget, start: float) -> LLMResult | None:
        if local_model.is_available():
            return None
        return self._failed(Failure("local_missing", "llm.local_missing", {"model": target.display_name}),
                            target, start, 0)

    # -- public calls ------------------------------------------------------------------------------
    def complete(self, target: ModelTarget, messages: list[dict], params: dict | None = None, *,
                 use_cache: bool | None = None) -> LLMResult:
        """One chat completion; failures come back as LLMResult.error_code, never raised."""
        _validate(target, messages, params)
        params, start = dict(params or {}), time.perf_counter()
        key = self._cache_key(target, messages, params, use_cache)
        hit = self._cached(key, target, start)
        if hit is not None:
            return hit
        if target.model == LOCAL_MODEL_NAME:
            result = self._local_missing(target, start) or self._local_complete(target, messages, params, start)
        else:
            result = self._remote_complete(target, messages, params, start)
        self._store(key, target, result)
        return result

    def _local_complete(self, target, messages, params, start) -> LLMResult:
        try:
            text, prompt_tokens, completion_tokens, finish = local_model.complete(messages, params)
        except Exception as exc:  # llama.cpp failures are data too
            return self._failed(self._failure(exc, target), target, start, 0)
        return self._finish(target, messages, text, prompt_tokens, completion_tokens, finish, start)

    def _remote_complete(self, target, messages, params, start) -> LLMResult:
        litellm = litellm_module()
        start = time.perf_counter()  # the one-time import of litellm is not the call's latency
        kwargs = self._kwargs(target, messages, params, stream=False)
        attempt = 0
        while True:
            log.debug("model call: model=%s attempt=%d", target.display_name, attempt + 1)
            try:
                response = litellm.completion(**kwargs)
            except Exception as exc:  # provider failures are data
                failure = self._failure(exc, target)
                delay = self._next_delay(failure, attempt, target)
                if delay is None:
                    return self._failed(failure, target, start, attempt)
                time.sleep(delay)
                attempt += 1
                continue
            return self._from_response(target, messages, response, start)

    async def acomplete(self, target: ModelTarget, messages: list[dict], params: dict | None = None, *,
                        use_cache: bool | None = None) -> LLMResult:
        """complete() for asyncio callers; the embedded model runs in a worker thread."""
        import asyncio  # ~30 ms: only async callers pay for it

        _validate(target, messages, params)
        params, start = dict(params or {}), time.perf_counter()
        key = self._cache_key(target, messages, params, use_cache)
        hit = self._cached(key, target, start)
        if hit is not None:
            return hit
        if target.model == LOCAL_MODEL_NAME:
            result = self._local_missing(target, start) or await asyncio.to_thread(
                self._local_complete, target, messages, params, start)
        else:
            litellm = litellm_module()
            start = time.perf_counter()
            kwargs = self._kwargs(target, messages, params, stream=False)
            attempt = 0
            while True:
                log.debug("model call: model=%s attempt=%d", target.display_name, attempt + 1)
                try:
                    response = await litellm.acompletion(**kwargs)
                except Exception as exc:
                    failure = self._failure(exc, target)
                    delay = self._next_delay(failure, attempt, target)
                    if delay is None:
                        result = self._failed(failure, target, start, attempt)
                        break
                    await asyncio.sleep(delay)
                    attempt += 1
                    continue
                result = self._from_response(target, messages, response, start)
                break
        self._store(key, target, result)
        return result

    def stream(self, target: ModelTarget, messages: list[dict], params: dict | None = None, *,
               use_cache: bool | None = None) -> Iterator[str | LLMResult]:
        """Text deltas, then exactly one LLMResult with the full text (an error result keeps the partial text)."""
        _validate(target, messages, params)
        params, start = dict(params or {}), time.perf_counter()
        key = self._cache_key(target, messages, params, use_cache)
        hit = self._cached(key, target, start)
        if hit is not None:
            if hit.text:
                yield hit.text
            yield hit
            return
        parts: list[str] = []
        if target.model == LOCAL_MODEL_NAME:
            missing = self._local_missing(target, start)
            if missing is not None:
                yield missing
                return
            result = yield from self._local_stream(target, messages, params, start, parts)
        else:
            result = yield from self._remote_stream(target, messages, params, start, parts)
        self._store(key, target, result)
        yield result

    def _local_stream(self, target, messages, params, start, parts):
        usage = None
        try:
            for item in local_model.stream(messages, params):
                if isinstance(item, local_model.LocalUsage):
                    usage = item
                else:
                    parts.append(item)
                    yield item
        except Exception as exc:
            return self._failed(self._failure(exc, target), target, start, 0, "".join(parts))
        usage = usage or local_model.LocalUsage(0, 0, None)
        return self._finish(target, messages, "".join(parts), usage.prompt_tokens, usage.completion_tokens,
                            usage.finish_reason, start)

    def _remote_stream(self, target, messages, params, start, parts):
        litellm = litellm_module()
        start = time.perf_counter()
        kwargs = self._kwargs(target, messages, params, stream=True)
        attempt, usage, finish = 0, None, None
        while True:
            log.debug("model stream: model=%s attempt=%d", target.display_name, attempt + 1)
            try:
                for chunk in litellm.completion(**kwargs):
                    usage = getattr(chunk, "usage", None) or usage
                    for choice in chunk.choices or ():
                        delta = getattr(choice.delta, "content", None) if choice.delta else None
                        if delta:
                            parts.append(delta)
                            yield delta
                        finish = choice.finish_reason or finish
            except Exception as exc:
                failure = self._failure(exc, target)
                delay = None if parts else self._next_delay(failure, attempt, target)  # never replay text
                if delay is None:
                    return self._failed(failure, target, start, attempt, "".join(parts))
                time.sleep(delay)
                attempt += 1
                continue
            return self._finish(target, messages, "".join(parts), getattr(usage, "prompt_tokens", None),
                                getattr(usage, "completion_tokens", None), finish, start)

    # -- prices and model facts -------------------------------------------------------------------
    def estimate_cost(self, target: ModelTarget, prompt_tokens: int, completion_tokens: int) -> float | None:
        """USD for these token counts: the target's prices win, then litellm's map; None when unknown.

        With only one of the two overrides set, the other side comes from the map, or is free."""
        if target.model == LOCAL_MODEL_NAME:
            return 0.0
        found = lookup_price_entry(target.model)
        entry = found[1] if found else {}
        in_price, out_price = target.input_cost_per_token, target.output_cost_per_token
        if in_price is None and out_price is None:
            if not found:
                return None
            try:
                prompt_cost, completion_cost = litellm_module().cost_per_token(
                    model=found[0], prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                    custom_llm_provider=entry.get("litellm_provider"))
                return float(prompt_cost + completion_cost)
            except Exception:  # tiered or exotic pricing litellm cannot compute: use the flat prices
                pass
        if in_price is None:
            in_price = entry.get("input_cost_per_token") or 0.0
        if out_price is None:
            out_price = entry.get("output_cost_per_token") or 0.0
        return prompt_tokens * float(in_price) + completion_tokens * float(out_price)

    def model_info(self, target: ModelTarget) -> ModelInfo:
        if target.model == LOCAL_MODEL_NAME:
            return ModelInfo(target.display_name, "local", target.context_window or local_model.N_CTX,
                             0.0, 0.0, local_model.is_available())
        found = lookup_price_entry(target.model)
        entry = found[1] if found else {}
        provider = entry.get("litellm_provider") or (target.model.split("/", 1)[0] if "/" in target.model else None)
        return ModelInfo(
            name=target.display_name, provider=provider,
            context_window=target.context_window or entry.get("max_input_tokens") or entry.get("max_tokens"),
            input_cost_per_token=target.input_cost_per_token if target.input_cost_per_token is not None
            else entry.get("input_cost_per_token"),
            output_cost_per_token=target.output_cost_per_token if target.output_cost_per_token is not None
            else entry.get("output_cost_per_token"),
            known=found is not None)

    def known_models(self) -> list[ModelInfo]:
        """Chat models of litellm's local price map, plus the embedded model when installed."""
        models = list(_price_map_models())
        if local_model.is_available():
            models.insert(0, ModelInfo(LOCAL_MODEL_NAME, "local", local_model.N_CTX, 0.0, 0.0, True))
        return models


@lru_cache(maxsize=1)
def _price_map_models() -> tuple[ModelInfo, ...]:
    out = []
    for name, entry in litellm_module().model_cost.items():
        if name == "sample_spec" or not isinstance(entry, dict) or entry.get("mode") != "chat":
            continue
        out.append(ModelInfo(name, entry.get("litellm_provider"), entry.get("max_input_tokens") or entry.get("max_tokens"),
                             entry.get("input_cost_per_token"), entry.get("output_cost_per_token"), True))
    return tuple(sorted(out, key=lambda m: m.name))


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0
