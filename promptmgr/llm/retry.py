"""The one retry loop of the model layer, for plain calls and streams alike.

A call is an async iterator factory: a plain call yields its one Reply, a stream yields text
deltas. Failures before the first item are retried with exponential backoff (at least the
provider's Retry-After); once anything was yielded the failure is final, so streamed text is
never replayed."""
from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import TypeVar

from .errors import Failure, may_retry, retry_delay

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 2
    backoff_base: float = 0.5

    def delay(self, failure: Failure, attempt: int) -> float | None:
        """Seconds to wait before retry number attempt+1, or None to give up."""
        if not may_retry(failure, attempt, self.max_retries):
            return None
        return retry_delay(attempt, self.backoff_base, random.random() * 0.25, failure.retry_after)


@dataclass(frozen=True)
class GaveUp:
    """The last item of `attempts` when the call failed for good."""

    failure: Failure
    retries: int


async def attempts(start: Callable[[], AsyncIterator[T]], classify: Callable[[BaseException], Failure],
                   policy: RetryPolicy, label: str = "") -> AsyncIterator[T | GaveUp]:
    """The items of start(), retried while none was yielded; a final GaveUp on failure."""
    attempt = 0
    while True:
        produced = False
        try:
            async with aclosing(start()) as items:  # closes HTTP streams on cancel too
                async for item in items:
                    produced = True
                    yield item
            return
        except Exception as exc:  # provider failures are data; CancelledError is not an Exception
            failure = classify(exc)
            delay = None if produced else policy.delay(failure, attempt)
            if delay is None:
                yield GaveUp(failure, attempt)
                return
            log.info("retrying model=%s after %s in %.2fs (retry %d of %d)", label, failure.code, delay,
                     attempt + 1, policy.max_retries)
            await asyncio.sleep(delay)
            attempt += 1
