"""Rate limits (the `limits` library) and the request body limit of the REST API.

Counted per token (or signed-in user) and per workspace, in a moving window: in this process's
memory on one node, in Redis when REDIS_URL is set (every replica then shares the counts). When
Redis cannot be reached the request is let through and the failure logged: an outage of the
counter should not become an outage of the API."""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from ...errors import ValidationError
from .errors import TooLargeError, TooManyRequestsError, error_body, locale_of

log = logging.getLogger("promptmgr.api")


@dataclass(frozen=True)
class Quota:
    limit: int
    remaining: int
    reset: int  # seconds until the window frees a request

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [(b"ratelimit-limit", str(self.limit).encode()), (b"ratelimit-remaining", str(self.remaining).encode()),
                (b"ratelimit-reset", str(self.reset).encode())]


def _parse(text: str, setting: str):
    from limits import parse

    try:
        return parse(text)
    except ValueError:
        raise ValidationError("errors.bad_setting", name=setting, value=text, allowed="600/minute, 10/second") from None


class RateLimits:
    def __init__(self, per_caller: str, per_workspace: str, redis_url: str | None = None, prefix: str = "promptmgr"):
        from limits import storage, strategies

        self.caller_limit = _parse(per_caller, "PROMPTMGR_RATE_LIMIT")
        self.workspace_limit = _parse(per_workspace, "PROMPTMGR_WORKSPACE_RATE_LIMIT")
        self.backend = "redis" if redis_url else "memory"
        self.storage = storage.storage_from_string(redis_url or "memory://")
        self.limiter = strategies.MovingWindowRateLimiter(self.storage)
        self.prefix = prefix

    def hit(self, caller: str, workspace: int) -> Quota:
        """Count one request. Raises TooManyRequestsError (with `seconds` to wait)."""
        checks = ((self.caller_limit, caller), (self.workspace_limit, f"ws:{workspace}"))
        try:
            for limit, key in checks:
                if not self.limiter.hit(limit, self.prefix, key):
                    reset, _ = self.limiter.get_window_stats(limit, self.prefix, key)
                    raise TooManyRequestsError(seconds=max(1, math.ceil(reset - time.time())))
            reset, remaining = self.limiter.get_window_stats(self.caller_limit, self.prefix, caller)
        except TooManyRequestsError:
            raise
        except Exception as exc:  # noqa: BLE001 — the counter's store is down: let the request through
            log.warning("rate limit store unavailable (%s): request not counted", type(exc).__name__)
            return Quota(self.caller_limit.amount, self.caller_limit.amount, 0)
        return Quota(self.caller_limit.amount, max(0, remaining), max(0, math.ceil(reset - time.time())))


class BodyLimit:
    """ASGI middleware: refuse a request body over `max_bytes` (413), by its Content-Length before
    reading it or while reading a body that did not say its length; and add the RateLimit headers a
    route's caller check left in the request state."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            return await self._too_large(scope, send)
        seen = 0

        async def limited_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise TooLargeError(limit=self.max_bytes)
            return message

        async def send_with_quota(message):
            if message["type"] == "http.response.start":
                quota = (scope.get("state") or {}).get("pm_quota")
                if quota is not None:
                    message = {**message, "headers": [*message.get("headers", []), *quota.headers()]}
            await send(message)

        return await self.app(scope, limited_receive, send_with_quota)

    async def _too_large(self, scope, send):
        import json

        from starlette.requests import Request

        from ...i18n import t

        body = json.dumps(error_body("too_large", t("api.errors.too_large", locale_of(Request(scope)),
                                                    limit=self.max_bytes), {"limit": self.max_bytes})).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
