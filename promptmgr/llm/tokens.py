"""Token counting: exact for OpenAI models (tiktoken, offline), else the serving backend's own
count (exact for the embedded model, litellm's estimate for known models), else a cl100k heuristic."""
from __future__ import annotations

import json
import re
from functools import lru_cache

from . import offline  # noqa: F401  (TIKTOKEN_CACHE_DIR must point at the shipped encodings first)
from .types import ChatMessage, TokenCount, content_parts

__all__ = ["TokenCount", "count_text", "count_messages", "is_openai_model"]

DEFAULT_ENCODING = "o200k_base"
# The encodings litellm ships next to its code; any other name would make tiktoken download.
_SHIPPED_ENCODINGS = frozenset({"o200k_base", "cl100k_base", "p50k_base"})
_OPENAI_MODEL = re.compile(r"^(?:ft:)?(?:gpt-|o1|o3|o4|chatgpt-|text-embedding-)", re.IGNORECASE)
# OpenAI chat format: every message is wrapped in <|start|>{role}\n...<|end|>, the reply is
# primed with <|start|>assistant<|message|> (openai-cookbook "How to count tokens").
_TOKENS_PER_MESSAGE = 3
_TOKENS_PER_NAME = 1
_REPLY_PRIMING = 3
# A 1024x1024 image at "high" detail; the real figure depends on the size, so counts with
# images are estimates.
_IMAGE_TOKENS = 765


def _strip_openai_prefix(model: str) -> str:
    return model[len("openai/"):] if model.lower().startswith("openai/") else model


def is_openai_model(model: str | None) -> bool:
    return model is None or bool(_OPENAI_MODEL.match(_strip_openai_prefix(model)))


@lru_cache(maxsize=256)
def _encoding_name_for(model: str | None) -> str:
    if model is None:
        return DEFAULT_ENCODING
    name = _strip_openai_prefix(model)
    import tiktoken.model

    try:
        encoding = tiktoken.model.encoding_name_for_model(name)
    except KeyError:
        lowered = name.lower()
        encoding = "cl100k_base" if lowered.startswith(("gpt-4-", "gpt-3.5", "gpt-35", "text-embedding-")) \
            or lowered == "gpt-4" else DEFAULT_ENCODING
    if encoding == "o200k_harmony":  # o200k plus chat specials; identical on ordinary text
        encoding = "o200k_base"
    return encoding if encoding in _SHIPPED_ENCODINGS else DEFAULT_ENCODING


@lru_cache(maxsize=8)
def _encoding(name: str):
    import tiktoken

    return tiktoken.get_encoding(name)


def _tiktoken_count(text: str, encoding_name: str) -> int | None:
    try:
        enc = _encoding(encoding_name)
    except Exception:  # encodings missing: never fall through to a download
        return None
    # encode_ordinary: user text containing "<|endoftext|>" is text, as the provider sees it;
    # it also skips the special-token scan that makes enc.encode slower.
    return len(enc.encode_ordinary(text))


def _heuristic_text(text: str) -> TokenCount:
    n = _tiktoken_count(text, "cl100k_base")
    if n is None:
        n = (len(text) + 3) // 4
    return TokenCount(n, False, "heuristic")


def _backend(model: str | None):
    from .registry import backend_for

    return backend_for(model)


def count_text(text: str, model: str | None = None) -> TokenCount:
    """Tokens in a plain text for `model` (None = the current OpenAI default encoding)."""
    if is_openai_model(model):
        name = _encoding_name_for(model)
        n = _tiktoken_count(text, name)
        if n is not None:
            return TokenCount(n, True, f"tiktoken:{name}")
        return _heuristic_text(text)
    return _backend(model).count_text(model, text) or _heuristic_text(text)


# -- messages ---------------------------------------------------------------------------------
def _count_openai_messages(messages: list[ChatMessage], encoding_name: str) -> TokenCount | None:
    try:
        enc = _encoding(encoding_name)
    except Exception:
        return None
    total, exact = _REPLY_PRIMING, True
    for message in messages:
        total += _TOKENS_PER_MESSAGE
        for key, value in message.items():
            if key == "content":
                texts, images, known = content_parts(value)
                total += sum(len(enc.encode_ordinary(t)) for t in texts) + images * _IMAGE_TOKENS
                exact = exact and known and images == 0
            elif isinstance(value, str):
                total += len(enc.encode_ordinary(value))
                if key == "name":
                    total += _TOKENS_PER_NAME
            elif value is not None:  # tool calls etc.: the wire format is not documented
                total += len(enc.encode_ordinary(json.dumps(value, ensure_ascii=False)))
                exact = False
    return TokenCount(total, exact, f"tiktoken:{encoding_name}")


def _heuristic_messages(messages: list[ChatMessage]) -> TokenCount:
    total = _REPLY_PRIMING
    for m in messages:
        texts, images, _ = content_parts(m.get("content"))
        total += _TOKENS_PER_MESSAGE + _heuristic_text("\n".join(texts)).tokens + images * _IMAGE_TOKENS
    return TokenCount(total, False, "heuristic")


def count_messages(messages: list[ChatMessage], model: str | None = None) -> TokenCount:
    """Prompt tokens of an OpenAI-format chat, including the per-message overhead."""
    if is_openai_model(model):
        counted = _count_openai_messages(messages, _encoding_name_for(model))
        return counted if counted is not None else _heuristic_messages(messages)
    return _backend(model).count_messages(model, messages) or _heuristic_messages(messages)
