"""The sign-in pages' look, language and form tokens.

Templates are Jinja2 files shipped in the package (web/templates), autoescaped. Language: ?lang=
(remembered in a cookie), then that cookie, then Accept-Language, then English; Arabic pages read
right to left. CSRF: every form carries a token bound to the session (or, before sign-in, to a
random pre-session cookie) by the auth service's keyed MAC."""
from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse

from ..i18n import LANGUAGE_NAMES, SUPPORTED_LOCALES, is_rtl, normalize_locale, t
from .cookies import LANG_COOKIE, PRESESSION_COOKIE, cookie_header, is_secure

TEMPLATES = Path(__file__).resolve().parent / "templates"
PRESESSION_MAX_AGE = 24 * 3600
LANG_MAX_AGE = 365 * 24 * 3600


@lru_cache(maxsize=1)
def _env():
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    return Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]),
                       auto_reload=False)


def page_locale(request: Request) -> str:
    return (normalize_locale(request.query_params.get("lang")) or normalize_locale(request.cookies.get(LANG_COOKIE))
            or normalize_locale(request.headers.get("accept-language")) or "en")


def secure(request: Request) -> bool:
    return is_secure(request.url.scheme, request.headers)


def _binding(request: Request) -> str | None:
    """What the form token is bound to: the session's family when signed in, else the random
    pre-session cookie (made on first need)."""
    session = getattr(request.state, "pm_session", None)
    if session is not None:
        return session.family
    return request.cookies.get(PRESESSION_COOKIE) or getattr(request.state, "pm_new_pre", None)


def csrf_token(request: Request) -> str:
    """A CSRF token for this request's forms (render() sets the pre-session cookie it needs)."""
    binding = _binding(request)
    if not binding:
        binding = request.state.pm_new_pre = secrets.token_urlsafe(32)
    return request.state.pm_port.csrf_token(binding)


def csrf_ok(request: Request, submitted: str | None) -> bool:
    return request.state.pm_port.csrf_ok(submitted, _binding(request))


def render(request: Request, template: str, title_key: str, status: int = 200, *, title_params: dict | None = None,
           error: str | None = None, info: str | None = None, **values) -> HTMLResponse:
    locale = page_locale(request)
    values.setdefault("csrf_token", csrf_token(request))
    html = _env().get_template(template).render(
        locale=locale, rtl=is_rtl(locale), t=lambda key, **p: t(key, locale, **p),
        title=t(title_key, locale, **(title_params or {})), error=error, info=info,
        languages=[(code, LANGUAGE_NAMES[code]) for code in SUPPORTED_LOCALES], **values)
    response = HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})
    remember(request, response)
    return response


def remember(request: Request, response) -> None:
    """Set the pre-session cookie when this request made one, and the language a ?lang= chose."""
    new_pre = getattr(request.state, "pm_new_pre", None)
    if new_pre and not request.cookies.get(PRESESSION_COOKIE):
        response.headers.append("set-cookie", cookie_header(PRESESSION_COOKIE, new_pre, PRESESSION_MAX_AGE,
                                                            secure=secure(request)))
    chosen = normalize_locale(request.query_params.get("lang"))
    if chosen and chosen != request.cookies.get(LANG_COOKIE):
        response.headers.append("set-cookie", cookie_header(LANG_COOKIE, chosen, LANG_MAX_AGE, secure=secure(request)))


def message(request: Request, key: str, locale: str | None = None, **params) -> str:
    return t(key, locale or page_locale(request), **params)
