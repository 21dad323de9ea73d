"""The `litellm` backend: every remote or OpenAI-compatible provider. The only module that
imports litellm, lazily on the first call (~3 s), configured to stay quiet and offline."""
from __future__ import annotations

import importlib.util
import json
import logging
import os
import threading
from collections.abc import AsyncIterator
from functools import lru_cache
from pathlib import Path

from ..secrets import KEY_NAME
from . import offline  # noqa: F401  (before litellm/tiktoken load)
from .backend import Backend
from .cache import NON_CONTENT_PARAMS
from .types import ChatMessage, ModelInfo, ModelTarget, Reply, TokenCount, Usage

log = logging.getLogger(__name__)
_NO_KEY = "sk-no-key-required"  # OpenAI-compatible servers without auth still need some key
_litellm = None
_litellm_lock = threading.Lock()
_LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy")


def litellm_module():
    """litellm, imported on first use and configured to stay quiet and offline."""
    global _litellm
    if _litellm is None:
        with _litellm_lock:
            if _litellm is None:
                quiet = not os.environ.get("LITELLM_LOG")
                if quiet:
                    # Its DEBUG output (request dumps, partly masked headers) follows an app's
                    # root logger otherwise; LITELLM_LOG=DEBUG brings it back when debugging.
                    for name in _LOGGERS:
                        logging.getLogger(name).setLevel(logging.WARNING)
                import litellm

                litellm.suppress_debug_info = True
                litellm.telemetry = False
                litellm.disable_hf_tokenizer_download = True  # token counts must not download
                if quiet:  # litellm resets its levels while importing
                    for name in _LOGGERS:
                        logging.getLogger(name).setLevel(logging.WARNING)
                _litellm = litellm
    return _litellm


@lru_cache(maxsize=1024)
def price_map() -> dict:
    """litellm's local price map. Before litellm is imported, its bundled JSON file is read
    instead (~0.1 s against ~3 s for importing litellm): a CLI command that only needs a price
    — or learns that a model has none — never pays for the import."""
    if _litellm is not None:
        return _litellm.model_cost
    return _bundled_price_map()


@lru_cache(maxsize=1)
def _bundled_price_map() -> dict:
    # The file litellm itself loads when LITELLM_LOCAL_MODEL_COST_MAP is set (llm/offline.py sets it).
    spec = importlib.util.find_spec("litellm")
    folder = Path(spec.origin).parent if spec and spec.origin else None
    path = folder / "model_prices_and_context_window_backup.json" if folder else None
    if path is None or not path.is_file():
        return litellm_module().model_cost
    rows = json.loads(path.read_text(encoding="utf-8"))
    # litellm serves a row's `aliases` and `alias_of` pointer rows as the row they name.
    served = {name: row for name, row in rows.items() if isinstance(row, dict) and "alias_of" not in row}
    for name, row in rows.items():
        target = row.get("alias_of") if isinstance(row, dict) else None
        if isinstance(target, str) and target in served:
            served[name] = served[target]
    for row in list(served.values()):
        aliases = row.get("aliases")
        for alias in aliases if isinstance(aliases, list) else ():
            served.setdefault(alias, row)
    served.pop("fallback_generalizations", None)  # matching rules, not a model
    return served


def lookup_price_entry(model: str) -> tuple[str, dict] | None:
    """(key, entry) of `model` in litellm's local price map, trying it without its provider prefix."""
    cost_map = price_map()
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


@lru_cache(maxsize=1)
def _price_map_models() -> tuple[ModelInfo, ...]:
    out = []
    for name, entry in price_map().items():
        if name == "sample_spec" or not isinstance(entry, dict) or entry.get("mode") != "chat":
            continue
        out.append(ModelInfo(name, entry.get("litellm_provider"), entry.get("max_input_tokens") or entry.get("max_tokens"),
                             entry.get("input_cost_per_token"), entry.get("output_cost_per_token"), True))
    return tuple(sorted(out, key=lambda m: m.name))


def _kwargs(target: ModelTarget, messages: list[ChatMessage], params: dict, timeout: float, stream: bool) -> dict:
    kwargs = {k: v for k, v in params.items() if v is not None and k not in NON_CONTENT_PARAMS}
    kwargs.update(model=target.model, messages=messages, timeout=timeout, num_retries=0, max_retries=0,
                  drop_params=True)
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


# --- which environment variable holds a hosted model's key ---------------------------------------
# Providers whose litellm.validate_environment only reads environment variables. Others must not be
# asked: for some it starts a login (github_copilot's device flow) or asks a cloud metadata service.
_ENV_KEY_PROVIDERS = frozenset({
    "openai", "text-completion-openai", "anthropic", "mistral", "codestral", "gemini", "groq", "cohere",
    "cohere_chat", "deepseek", "xai", "together_ai", "fireworks_ai", "perplexity", "openrouter", "deepinfra",
    "cerebras", "ai21", "ai21_chat", "nlp_cloud", "replicate", "anyscale", "voyage", "friendliai", "sambanova",
    "nvidia_nim", "novita", "dashscope", "moonshot", "volcengine", "hyperbolic", "lambda_ai", "nebius", "featherless_ai",
})


def env_checkable(provider: str | None) -> bool:
    """True when a provider's key is a plain environment variable this module can check offline."""
    return provider in _ENV_KEY_PROVIDERS


def key_env_vars(model: str) -> list[str]:
    """The environment variables holding `model`'s API key that are NOT set ([] when the key is
    there, or the provider's credentials are not plain environment variables). Imports litellm."""
    found = lookup_price_entry(model)
    provider = (found[1].get("litellm_provider") if found else None) or (model.split("/", 1)[0] if "/" in model
                                                                         else None)
    if not env_checkable(provider):
        return []
    # "claude-3-5-haiku": litellm only names the provider with its prefix.
    name = f"{provider}/{model}" if "/" not in model and provider != "openai" else model
    signature = tuple(sorted(k for k, v in os.environ.items() if v and KEY_NAME.search(k)))
    return list(_env_missing(litellm_module(), name, signature))


@lru_cache(maxsize=1024)
def _env_missing(litellm, name: str, _signature: tuple) -> tuple[str, ...]:
    # Cached per set of key variables present: the model overview asks for every provider.
    try:
        checked = litellm.validate_environment(model=name)
    except Exception:  # an unknown provider: the call itself will say what is wrong
        return ()
    if checked.get("keys_in_environment"):
        return ()
    return tuple(k for k in checked.get("missing_keys") or () if isinstance(k, str) and KEY_NAME.search(k))



class MissingKeyError(Exception):
    """A hosted model's key variable is not set: found before any request (classified as missing_key)."""


def _missing_keys(target: ModelTarget) -> list[str]:
    if target.api_key or target.api_base:
        return []
    return key_env_vars(target.model)


def _preflight(target: ModelTarget) -> None:
    if _missing_keys(target):
        raise MissingKeyError(target.model)


class LitellmBackend(Backend):
    name = "litellm"

    def missing_keys(self, target: ModelTarget) -> list[str]:
        return _missing_keys(target)

    def warm(self) -> None:
        litellm_module()

    async def complete(self, target: ModelTarget, messages: list[ChatMessage], params: dict, *, timeout: float) -> Reply:
        _preflight(target)
        litellm = litellm_module()
        response = await litellm.acompletion(**_kwargs(target, messages, params, timeout, stream=False))
        choice = response.choices[0]
        usage = getattr(response, "usage", None)
        return Reply(getattr(choice.message, "content", None) or "", getattr(usage, "prompt_tokens", None),
                     getattr(usage, "completion_tokens", None), getattr(choice, "finish_reason", None))

    async def stream(self, target: ModelTarget, messages: list[ChatMessage], params: dict, *,
                     timeout: float) -> AsyncIterator[str | Usage]:
        _preflight(target)
        litellm = litellm_module()
        response = await litellm.acompletion(**_kwargs(target, messages, params, timeout, stream=True))
        usage, finish = None, None
        try:
            async for chunk in response:
                usage = getattr(chunk, "usage", None) or usage
                for choice in chunk.choices or ():
                    delta = getattr(choice.delta, "content", None) if choice.delta else None
                    if delta:
                        yield delta
                    finish = choice.finish_reason or finish
        finally:
            # Closing the HTTP response is what tells the provider to stop generating.
            await response.aclose()
        yield Usage(getattr(usage, "prompt_tokens", None), getattr(usage, "completion_tokens", None), finish)

    def estimate_cost(self, target: ModelTarget, prompt_tokens: int, completion_tokens: int) -> float | None:
        """The target's prices win, then litellm's map; None when unknown.

        With only one of the two overrides set, the other side comes from the map, or is free."""
        in_price, out_price = target.input_cost_per_token, target.output_cost_per_token
        if in_price is not None and out_price is not None:
            return prompt_tokens * float(in_price) + completion_tokens * float(out_price)
        found = lookup_price_entry(target.model)
        entry = found[1] if found else {}
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
        """Chat models of litellm's local price map."""
        return list(_price_map_models())

    def count_text(self, model: str, text: str) -> TokenCount | None:
        try:
            if lookup_price_entry(model) is not None:
                return TokenCount(int(litellm_module().token_counter(model=model, text=text)), False, "litellm")
        except Exception:
            pass
        return None

    def count_messages(self, model: str, messages: list[ChatMessage]) -> TokenCount | None:
        try:
            if lookup_price_entry(model) is not None:
                n = litellm_module().token_counter(model=model, messages=messages, use_default_image_token_count=True)
                return TokenCount(int(n), False, "litellm")
        except Exception:
            pass
        return None
