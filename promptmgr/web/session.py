"""Who is signed in, for every request of the hosted app: an ASGI middleware in front of the pages
and the mounted Gradio app.

- A valid access cookie: the request goes on as that user.
- An expired (or missing) access cookie with a valid refresh cookie: the refresh token is rotated
  here, the request goes on with the new access token put in its Cookie header (so the Gradio
  routes and UI.caller see it), and the response sets the new cookies. A Gradio event makes several
  requests at once with the same cookies: one rotation's result is reused for a few seconds by
  the others, which would otherwise present an already rotated token and end the whole family.
- No session: an HTML page visit is sent to /login; every other Gradio route gets Gradio's own
  401 from auth_dependency (gradio_app.py).
- A state-changing request whose Origin names another site is refused (Gradio's posts have no
  form token; SameSite=Lax already keeps the cookies off them, this is the second lock)."""
from __future__ import annotations

import hashlib
import logging
import threading
import time
from urllib.parse import quote

import anyio

from .cookies import ACCESS_COOKIE, CSRF_COOKIE, REFRESH_COOKIE, cookie_header, is_secure, parse_cookies

log = logging.getLogger("promptmgr.web")

# What works without a session: the sign-in pages themselves. Everything else, every Gradio route
# included (some of which Gradio itself leaves open: /gradio_api/cancel, /heartbeat, /stream...),
# is refused here before it reaches Gradio.
PUBLIC_PATHS = frozenset({"/login", "/logout", "/reset", "/healthz", "/mfa", "/metrics"})
# /api/v1 and /metrics decide themselves (a token, or this middleware's session with its CSRF header: web/api/deps.py).
PUBLIC_PREFIXES = ("/invite/", "/reset/", "/auth/oidc/", "/api/v1/")
ROTATION_GRACE_SECONDS = 10
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class RotationCache:
    """(old refresh token, client) -> the pair its rotation produced, for a few seconds. Keyed by
    the client's address and user agent too: the same token from another client is a reuse, which
    the auth service answers by revoking the family."""

    def __init__(self, grace: float = ROTATION_GRACE_SECONDS):
        self.grace = grace
        self._lock = threading.Lock()
        self._recent: dict[str, tuple[float, object]] = {}

    @staticmethod
    def _key(token: str, client: str) -> str:
        return hashlib.sha256(f"{token}|{client}".encode()).hexdigest()

    def rotate(self, token: str, client: str, rotate_fn):
        key = self._key(token, client)
        with self._lock:  # one rotation per token at a time; the others wait and reuse it
            now = time.monotonic()
            for old in [k for k, (at, _) in self._recent.items() if now - at > self.grace]:
                del self._recent[old]
            if key in self._recent:
                return self._recent[key][1]
            pair = rotate_fn(token)
            if pair is not None:
                self._recent[key] = (now, pair)
            return pair


class SessionMiddleware:
    def __init__(self, app, auth, *, login_path: str = "/login"):
        self.app = app
        self.auth = auth  # web.auth_port.AuthPort
        self.login_path = login_path
        self.rotations = RotationCache()

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = _headers(scope)
        path = scope.get("path", "/")
        if scope["type"] == "http" and scope.get("method") in UNSAFE_METHODS and not _same_origin(headers):
            from ..i18n import normalize_locale, t

            locale = normalize_locale(headers.get("accept-language")) or "en"
            return await _plain(send, 403, t("web.errors.origin", locale))
        cookies = parse_cookies(headers.get("cookie", ""))
        access, refresh = cookies.get(ACCESS_COOKIE), cookies.get(REFRESH_COOKIE)
        session = await anyio.to_thread.run_sync(self.auth.session, access) if access else None
        set_cookies: list[str] = []
        if session is None and refresh:
            client = f"{(scope.get('client') or ('', 0))[0]}|{headers.get('user-agent', '')}"
            pair = await anyio.to_thread.run_sync(self.rotations.rotate, refresh, client, self.auth.refresh)
            if pair is not None:
                session = await anyio.to_thread.run_sync(self.auth.session, pair.access)
                cookies[ACCESS_COOKIE], cookies[REFRESH_COOKIE] = pair.access, pair.refresh
                scope = _with_cookies(scope, cookies)
                secure = is_secure(scope.get("scheme", "http"), headers)
                set_cookies = session_cookies(pair, secure)
            else:  # a dead refresh cookie: drop it, or every request would try it again
                set_cookies = clear_session_cookies(is_secure(scope.get("scheme", "http"), headers))
        scope.setdefault("state", {})
        scope["state"].update(pm_session=session, pm_port=self.auth,
                              pm_ctx=session.ctx if session is not None and not session.mfa_setup_required else None)
        if session is not None and session.mfa_setup_required and not is_public(path):
            # The workspace requires MFA and this member has none yet: the MFA page only.
            if scope["type"] == "http" and scope.get("method") in ("GET", "HEAD") and _wants_html(path, headers):
                return await _redirect(send, "/mfa", set_cookies)
            return await _plain(send, 401, '{"error": "MFA setup required"}', set_cookies, "application/json")
        if session is None and not is_public(path):
            if scope["type"] == "websocket":
                return await send({"type": "websocket.close", "code": 1008})
            if scope.get("method") in ("GET", "HEAD") and _wants_html(path, headers):
                target = path + (("?" + scope["query_string"].decode("latin-1")) if scope.get("query_string") else "")
                return await _redirect(send, f"{self.login_path}?next={quote(target, safe='')}", set_cookies)
            return await _plain(send, 401, '{"error": "Not authenticated"}', set_cookies, "application/json")
        if not set_cookies:
            return await self.app(scope, receive, send)

        async def send_with_cookies(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []),
                                                  *((b"set-cookie", c.encode("latin-1")) for c in set_cookies)]}
            await send(message)

        return await self.app(scope, receive, send_with_cookies)


def session_cookies(pair, secure: bool) -> list[str]:
    return [cookie_header(ACCESS_COOKIE, pair.access, pair.access_max_age, secure=secure),
            cookie_header(REFRESH_COOKIE, pair.refresh, pair.refresh_max_age, secure=secure),
            cookie_header(CSRF_COOKIE, pair.csrf, pair.refresh_max_age, secure=secure, http_only=False)]


def clear_session_cookies(secure: bool) -> list[str]:
    return [cookie_header(name, "", 0, secure=secure, http_only=name != CSRF_COOKIE)
            for name in (ACCESS_COOKIE, REFRESH_COOKIE, CSRF_COOKIE)]


def _headers(scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}


def _with_cookies(scope, cookies: dict[str, str]):
    header = "; ".join(f"{k}={v}" for k, v in cookies.items()).encode("latin-1")
    rest = [(k, v) for k, v in scope.get("headers") or [] if k.lower() != b"cookie"]
    return {**scope, "headers": [*rest, (b"cookie", header)]}


def _same_origin(headers: dict[str, str]) -> bool:
    """No Origin (same-origin form posts from older browsers, non-browser clients) or one naming
    the host the request was sent to."""
    origin = headers.get("origin")
    if not origin or origin == "null":
        return origin != "null"
    host = origin.split("://", 1)[-1].rstrip("/")
    return host.lower() in {headers.get("host", "").lower(), headers.get("x-forwarded-host", "").lower()}


def _wants_html(path: str, headers: dict[str, str]) -> bool:
    return path == "/" or "text/html" in headers.get("accept", "")


async def _redirect(send, location: str, set_cookies: list[str]) -> None:
    headers = [(b"location", location.encode("latin-1")), (b"content-length", b"0"),
               (b"cache-control", b"no-store"), *((b"set-cookie", c.encode("latin-1")) for c in set_cookies)]
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


async def _plain(send, status: int, text: str, set_cookies: list[str] = (), kind: str = "text/plain") -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", f"{kind}; charset=utf-8".encode()),
                            (b"content-length", str(len(body)).encode()), (b"cache-control", b"no-store"),
                            *((b"set-cookie", c.encode("latin-1")) for c in set_cookies)]})
    await send({"type": "http.response.body", "body": body})
