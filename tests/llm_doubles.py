"""Model-layer doubles, registered through promptmgr.llm.registry like any backend.

`use_backend(backend, models=..., prefixes=...)` routes models to a double for one test and restores
the previous routes afterwards. Only what cannot exist here is faked: remote providers are tested
against tests/fake_llm.py's real HTTP server instead."""
from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from promptmgr.llm.backend import Backend
from promptmgr.llm.local import LOCAL_MODEL_NAME, LlamaEngine, LocalBackend
from promptmgr.llm.registry import register_backend
from promptmgr.llm.types import Reply, Usage


@contextlib.contextmanager
def use_backend(backend, *, models=(), prefixes=(), default=False) -> Iterator:
    restore = register_backend(backend, models=models, prefixes=prefixes, default=default)
    try:
        yield backend
    finally:
        restore()


class MissingEngine(LlamaEngine):
    """The embedded model as on a machine without the `local` extra."""

    def __init__(self):
        super().__init__(locate=lambda: None)


class BrokenEngine(LlamaEngine):
    """An installed model whose llama.cpp calls fail."""

    def __init__(self, message: str = "llama_decode returned -3"):
        super().__init__(locate=lambda: Path("/nonexistent.gguf"))
        self.message = message

    def is_available(self) -> bool:
        return True

    def complete(self, messages, params=None):
        raise RuntimeError(self.message)

    def stream(self, messages, params=None, stop=None):
        raise RuntimeError(self.message)
        yield  # pragma: no cover


def local_backend(engine: LlamaEngine) -> tuple[LocalBackend, dict]:
    """The real local backend over `engine`, with the route of the embedded model."""
    return LocalBackend(engine), {"models": [LOCAL_MODEL_NAME]}


@contextlib.contextmanager
def local_engine(engine: LlamaEngine) -> Iterator[LocalBackend]:
    backend, route = local_backend(engine)
    with use_backend(backend, **route):
        yield backend


class ScriptedBackend(Backend):
    """Answers with fixed text, word by word; records the calls it received."""

    name = "scripted"

    def __init__(self, reply: str = "scripted answer"):
        self.reply = reply
        self.calls: list[dict] = []

    async def complete(self, target, messages, params, *, timeout):
        self.calls.append({"model": target.model, "messages": messages, "params": params})
        return Reply(self.reply, 1, len(self.reply.split()), "stop")

    async def stream(self, target, messages, params, *, timeout) -> AsyncIterator:
        self.calls.append({"model": target.model, "messages": messages, "params": params, "stream": True})
        words = self.reply.split(" ")
        for i, word in enumerate(words):
            yield word if i == 0 else " " + word
        yield Usage(1, len(words), "stop")
