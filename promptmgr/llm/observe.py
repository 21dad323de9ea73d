"""Who hears about finished model calls: one list of listeners the gateway tells about every
result (a cache hit, a success, a failure), so the hosted app's metrics (web/metrics.py) count every
call whatever path made it (testing bench, builder, judges, experiment runner) without the model
layer knowing about Prometheus. Listeners must be quick and must not raise; one that raises is
logged and skipped, never the caller's failure."""
from __future__ import annotations

import logging
from typing import Callable

from .types import LLMResult

log = logging.getLogger(__name__)
_listeners: list[Callable[[LLMResult], None]] = []


def listen(listener: Callable[[LLMResult], None]) -> None:
    """Call `listener(result)` after every model call in this process (once per listener)."""
    if listener not in _listeners:
        _listeners.append(listener)


def emit(result: LLMResult) -> LLMResult:
    for listener in tuple(_listeners):
        try:
            listener(result)
        except Exception:  # noqa: BLE001 — metrics must never fail a model call
            log.exception("a model-call listener failed")
    return result
