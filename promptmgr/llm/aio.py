"""One background event loop for synchronous callers (CLI, Gradio worker threads, services).

The model layer is async; the sync calls run their coroutine on this loop and wait. One long-lived
loop (rather than asyncio.run per call) keeps litellm's pooled async HTTP clients on the loop they
were made on and costs a thread hand-off (~0.1 ms) per call."""
from __future__ import annotations

import asyncio
import atexit
import contextvars
import queue
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_END = object()


class _Raised:
    def __init__(self, exc: BaseException):
        self.exc = exc


def loop() -> asyncio.AbstractEventLoop:
    """The shared loop, started on first use in a daemon thread."""
    global _loop
    if _loop is None:
        with _lock:
            if _loop is None:
                new = asyncio.new_event_loop()
                threading.Thread(target=new.run_forever, name="promptmgr-llm-loop", daemon=True).start()
                atexit.register(_shutdown, new)
                _loop = new
    return _loop


def _shutdown(running: asyncio.AbstractEventLoop) -> None:
    # Libraries leave background tasks (litellm's logging worker); cancel them instead of
    # letting the interpreter complain about destroyed pending tasks.
    async def cancel_all() -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    try:
        asyncio.run_coroutine_threadsafe(cancel_all(), running).result(timeout=2)
        running.call_soon_threadsafe(running.stop)
    except Exception:  # already stopped, or a task refused to end: exiting anyway
        pass


def _submit(coroutine: Coroutine[Any, Any, T]):
    """run_coroutine_threadsafe, carrying the caller's context variables into the coroutine (a
    task otherwise starts from the loop thread's context): log records of the call keep the
    request id of the request that made it (web/requests_log.py)."""
    values = list(contextvars.copy_context().items())

    async def in_callers_context() -> T:
        for variable, value in values:  # the task's own copy: nothing leaks between calls
            variable.set(value)
        return await coroutine

    return asyncio.run_coroutine_threadsafe(in_callers_context(), loop())


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on the shared loop and wait for its result (exceptions are re-raised)."""
    future = _submit(coroutine)
    try:
        return future.result()
    except BaseException:
        future.cancel()  # KeyboardInterrupt in the caller: stop the call as well
        raise


def iterate(make: Callable[[], AsyncIterator[T]]) -> Iterator[T]:
    """A sync iterator over an async iterator run on the shared loop. Closing it (or an
    exception in the consumer) cancels the task, which closes the async iterator."""
    items: queue.SimpleQueue = queue.SimpleQueue()

    async def pump() -> None:
        try:
            async for item in make():
                items.put(item)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # re-raised in the consumer's thread
            items.put(_Raised(exc))
        finally:
            items.put(_END)

    future = _submit(pump())
    try:
        while True:
            item = items.get()
            if item is _END:
                return
            if isinstance(item, _Raised):
                raise item.exc
            yield item
    finally:
        if not future.done():
            future.cancel()
