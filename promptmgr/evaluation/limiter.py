"""Concurrency limits of the experiment runner: one global limit and one adaptive limit per provider.

A provider's limit follows AIMD, as TCP does with its window: a 429 halves it (never below 1) and
holds every call to that provider until its Retry-After has passed; after `limit` successes in a
row it grows back by one, up to the configured ceiling. The runner sees 429s itself because it
calls the gateway without the gateway's own retries (evaluation/runner.py)."""
from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from typing import AsyncIterator


class AIMDLimiter:
    def __init__(self, ceiling: int, *, clock=time.monotonic):
        self.ceiling = max(1, int(ceiling))
        self.limit = self.ceiling
        self.in_flight = 0
        self.streak = 0
        self.blocked_until = 0.0
        self.decreases = 0  # how often a 429 halved the limit (reported by the runner)
        self._clock = clock
        self._changed = asyncio.Condition()

    def _free(self) -> bool:
        return self.in_flight < self.limit and self._clock() >= self.blocked_until

    async def acquire(self) -> None:
        async with self._changed:
            while not self._free():
                wait = self.blocked_until - self._clock()
                if wait > 0:
                    try:  # a Retry-After pause ends on its own: nobody notifies at that moment
                        await asyncio.wait_for(self._changed.wait(), timeout=wait)
                    except asyncio.TimeoutError:
                        pass
                else:
                    await self._changed.wait()
            self.in_flight += 1

    async def release(self, outcome: str, retry_after: float | None = None) -> None:
        """outcome: "ok", "rate_limited" or "other" (a failure that says nothing about the rate)."""
        async with self._changed:
            self.in_flight -= 1
            if outcome == "rate_limited":
                self.streak = 0
                if self.limit > 1 or self.decreases == 0:
                    self.decreases += 1
                self.limit = max(1, self.limit // 2)
                if retry_after:
                    self.blocked_until = max(self.blocked_until, self._clock() + retry_after)
            elif outcome == "ok":
                self.streak += 1
                if self.streak >= self.limit and self.limit < self.ceiling:
                    self.limit += 1
                    self.streak = 0
            self._changed.notify_all()


class Limits:
    """The global semaphore and the per-provider AIMD limiters of one experiment run."""

    def __init__(self, concurrency: int, per_provider: int | None = None):
        self.concurrency = max(1, int(concurrency))
        self.per_provider = max(1, int(per_provider or concurrency))
        self._global = asyncio.Semaphore(self.concurrency)
        self.providers: dict[str, AIMDLimiter] = {}

    def provider(self, key: str) -> AIMDLimiter:
        limiter = self.providers.get(key)
        if limiter is None:
            limiter = self.providers[key] = AIMDLimiter(self.per_provider)
        return limiter

    @asynccontextmanager
    async def slot(self, key: str) -> AsyncIterator["Slot"]:
        """A global slot, then a provider slot; report the call's outcome on the yielded Slot."""
        limiter = self.provider(key)
        async with self._global:
            await limiter.acquire()
            slot = Slot()
            try:
                yield slot
            finally:
                await limiter.release(slot.outcome, slot.retry_after)


class Slot:
    __slots__ = ("outcome", "retry_after")

    def __init__(self):
        self.outcome, self.retry_after = "other", None

    def report(self, outcome: str, retry_after: float | None = None) -> None:
        self.outcome, self.retry_after = outcome, retry_after
