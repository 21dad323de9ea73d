"""Several streamed model calls at once, for synchronous callers, with cancellation.

The calls run as asyncio tasks on the shared loop (llm/aio.py); the caller's thread receives
(index, text delta) and (index, LLMResult) items. Setting `cancel` or closing the iterator cancels
the tasks, which closes the providers' HTTP streams (the embedded model stops before its next
token); a cancelled call ends with Gateway.cancelled(): the text so far, error_code "cancelled"."""
from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from . import aio
from .errors import Failure
from .types import ChatMessage, LLMResult, ModelTarget

log = logging.getLogger(__name__)
_POLL = 0.05  # how often the waiting caller looks at `cancel`


@dataclass(frozen=True)
class Call:
    target: ModelTarget
    messages: list[ChatMessage]
    params: dict
    use_cache: bool | None = None


def stream_many(gateway, calls: list[Call], cancel: threading.Event | None = None
                ) -> Iterator[tuple[int, str | LLMResult]]:
    """(index, delta) items as they arrive and one (index, LLMResult) per call, in any order."""
    items: queue.SimpleQueue = queue.SimpleQueue()
    tasks: list[asyncio.Task] = []
    ready = threading.Event()

    async def one(index: int, call: Call) -> None:
        parts: list[str] = []
        start = time.perf_counter()
        try:
            async for item in gateway.astream(call.target, call.messages, call.params, use_cache=call.use_cache):
                if isinstance(item, str):
                    parts.append(item)
                items.put((index, item))
        except asyncio.CancelledError:
            items.put((index, gateway.cancelled(call.target, call.messages, "".join(parts), start)))
            raise
        except Exception as exc:  # a bug, not a provider failure: still one result per call
            log.exception("model call crashed: model=%s", call.target.display_name)
            failure = Failure("error", "llm.error", {"model": call.target.display_name,
                                                     "detail": type(exc).__name__})
            items.put((index, gateway._failed(failure, call.target, start, 0, "".join(parts))))

    async def main() -> None:
        tasks.extend(asyncio.create_task(one(i, call)) for i, call in enumerate(calls))
        ready.set()
        await asyncio.gather(*tasks, return_exceptions=True)

    loop = aio.loop()
    asyncio.run_coroutine_threadsafe(main(), loop)
    ready.wait()

    def stop() -> None:
        for task in tasks:
            loop.call_soon_threadsafe(task.cancel)

    finished, stopping = 0, False
    try:
        while finished < len(calls):
            if cancel is not None and cancel.is_set() and not stopping:
                stopping = True
                stop()
            try:
                index, item = items.get(timeout=_POLL)
            except queue.Empty:
                continue
            if isinstance(item, LLMResult):
                finished += 1
            yield index, item
    finally:
        if finished < len(calls):  # the caller left early: stop what is still running
            stop()
