"""Who can reach the app: the listening address and the Host header.

Single-user mode has no login, so anyone who reaches the port can call every handler by name. It
listens on loopback unless the user opts in (--expose / PROMPTMGR_EXPOSE=1), and then it says what
that exposes. Every mode checks the Host header, so a web page on another site cannot reach a
loopback app by pointing its own name at 127.0.0.1 (DNS rebinding).

No gradio or starlette import here: the CLI checks the address before loading the app."""
from __future__ import annotations

import ipaddress
import os
import socket

from .errors import ValidationError

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARDS = ("0.0.0.0", "::", "")


def is_loopback(host: str) -> bool:
    host = host.strip().strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def check_bind(host: str, mode: str, expose: bool) -> bool:
    """True when listening on `host` exposes the login-free single-user app beyond this machine
    (which then needs `expose`); hosted mode has its own login.

    Raises ValidationError (exposure.refused) for a non-loopback address in single-user mode
    without the opt-in."""
    if is_loopback(host) or mode != "single":
        return False
    if not expose:
        raise ValidationError("exposure.refused", host=host)
    return True


def allowed_hosts(bind_host: str, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The names a request's Host header may carry; "*" among them turns the check off."""
    names = [*LOOPBACK_NAMES, socket.gethostname().lower()]
    if bind_host.strip("[]") not in WILDCARDS:
        names.append(bind_host.strip("[]").lower())
    if os.environ.get("SPACE_HOST"):  # a Hugging Face Space is reached under this name
        names.append(os.environ["SPACE_HOST"].lower())
    names.extend(h.strip("[]").lower() for h in extra)
    return tuple(dict.fromkeys(names))


def host_of(header: str) -> str:
    """'example.com:7860' -> 'example.com'; '[::1]:7860' -> '::1'."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class HostCheckMiddleware:
    """ASGI middleware refusing requests whose Host header names none of `allowed` (400)."""

    def __init__(self, app, allowed: tuple[str, ...]):
        self.app = app
        self.allowed = frozenset(allowed)
        self.any_host = "*" in self.allowed

    def _accepts(self, header: str) -> bool:
        host = host_of(header).rstrip(".")
        return bool(host) and (host in self.allowed or is_loopback(host))

    async def __call__(self, scope, receive, send):
        if self.any_host or scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        host = headers.get(b"host", b"").decode("latin-1")
        if self._accepts(host):
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            return await send({"type": "websocket.close", "code": 1008})
        from .i18n import normalize_locale, t

        locale = normalize_locale(headers.get(b"accept-language", b"").decode("latin-1")) or "en"
        body = t("exposure.bad_host", locale, host=host_of(host) or "-").encode("utf-8")
        await send({"type": "http.response.start", "status": 400,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
