"""One request id per HTTP request, JSON log lines that carry it, and the access log.

Why: with several replicas and workers, an operator follows one request through every log line it
caused (the API's error log, a model call's failure, the access line) by its id. The id is the
caller's `X-Request-Id` when it is a plain short token (a proxy in front usually sets one), else a
new random one; the response carries it back in `X-Request-Id`.

The id lives in a context variable: sync routes and Gradio handlers run in worker threads that
copy the context, so a log record made there sees it too. JSON lines come from python-json-logger
(a maintained formatter; escaping arbitrary messages correctly is its job, not ours)."""
from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid

from .metrics import route_of

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("promptmgr_request_id", default=None)
HEADER = b"x-request-id"
_SAFE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
access_log = logging.getLogger("promptmgr.access")


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


def configure_logging(log_format: str = "json", level: str = "INFO", stream=None) -> logging.Handler:
    """Root logging for a server process (`serve`, `worker`): one stream handler (stderr unless
    `stream`), JSON lines (or plain text) with the request id. A second call replaces the handler."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    if log_format == "json":
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"}))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_promptmgr", False)]:
        root.removeHandler(old)
    handler._promptmgr = True
    root.addHandler(handler)
    root.setLevel(level.upper())
    # httpx logs every outgoing request at INFO (model calls, OpenID): noise next to our access log.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
    return handler


def _request_id(scope) -> str:
    for name, value in scope.get("headers") or ():
        if name == HEADER and _SAFE_ID.fullmatch(value):
            return value.decode("ascii")
    return uuid.uuid4().hex


class RequestContextMiddleware:
    """ASGI middleware: the request id (context and response header), one access log line and the
    request metrics (web/metrics.py) for every HTTP request."""

    def __init__(self, app, metrics=None):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request_id = _request_id(scope)
        token = REQUEST_ID.set(request_id)
        start, status = time.perf_counter(), 500

        async def send_with_id(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), (HEADER, request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - start
            if self.metrics is not None:
                self.metrics.request(scope["method"], route_of(scope), status, seconds)
            if access_log.isEnabledFor(logging.INFO):
                client = scope.get("client")
                # The path without its query: a query may hold search text a user typed.
                path, ms = scope.get("path", "")[:300], round(seconds * 1000, 2)
                access_log.info("%s %s %s %.1f ms", scope["method"], path, status, ms, extra={
                    "method": scope["method"], "path": path, "status": status, "duration_ms": ms,
                    "client": client[0] if client else None})
            REQUEST_ID.reset(token)
