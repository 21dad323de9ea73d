"""The session cookies of hosted mode: their names and how they are set.

No starlette or gradio import: ui/common.py reads the access cookie's name from here."""
from __future__ import annotations

ACCESS_COOKIE = "pm_access"
REFRESH_COOKIE = "pm_refresh"
# The session's CSRF token (a MAC bound to the session, services/auth.py): readable by the page's
# own script, which posts it with the Gradio header's sign-out and workspace switch. Another site
# can neither read it nor make one.
CSRF_COOKIE = "pm_csrf"
# Before sign-in, forms' CSRF tokens are bound to this random value.
PRESESSION_COOKIE = "pm_pre"
LANG_COOKIE = "pm_lang"


def is_secure(scheme: str, headers) -> bool:
    """True behind https: the request's own scheme or the proxy's X-Forwarded-Proto (a Space's
    proxy terminates TLS and forwards plain http)."""
    forwarded = (headers.get("x-forwarded-proto") or "").split(",")[0].strip().lower()
    return scheme in ("https", "wss") or forwarded == "https"


def cookie_header(name: str, value: str, max_age: int, *, secure: bool, http_only: bool = True,
                  path: str = "/") -> str:
    """One Set-Cookie value: SameSite=Lax keeps the cookie off cross-site POSTs and sub-requests."""
    parts = [f"{name}={value}", f"Path={path}", f"Max-Age={max_age}", "SameSite=Lax"]
    if http_only:
        parts.append("HttpOnly")
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


def parse_cookies(header: str) -> dict[str, str]:
    cookies: dict[str, str] = {}
    for chunk in (header or "").split(";"):
        name, _, value = chunk.strip().partition("=")
        if name and name not in cookies:
            cookies[name] = value
    return cookies
