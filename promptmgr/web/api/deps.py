"""Who is calling the REST API: an API token (`Authorization: Bearer pm_...`) or the browser's
session cookie, whose unsafe requests must carry the session's CSRF token in X-CSRF-Token. Then the
rate limits. Every route depends on `caller`; the services decide what the caller may do."""
from __future__ import annotations

from fastapi import Request

from ...context import TenantContext
from ...errors import AuthenticationError, PermissionDeniedError, ValidationError
from .errors import locale_of

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_HEADER = "x-csrf-token"


def _client(request: Request) -> tuple[str | None, str | None]:
    address = request.client.host if request.client else None
    return address, (request.headers.get("user-agent") or "")[:400] or None


def caller(request: Request) -> TenantContext:
    """The request's caller, rate-limited. Raises AuthenticationError (401), PermissionDeniedError
    (403: a cookie request without its CSRF token), TooManyRequestsError (429)."""
    services = request.app.state.pm_services
    locale = locale_of(request)
    # No stored text can hold NUL (PostgreSQL refuses it in any text parameter): an input error here,
    # before a query would fail on it.
    if any("\x00" in value for value in (*request.query_params.values(), *request.path_params.values())):
        raise ValidationError("api.errors.nul")
    header = request.headers.get("authorization")
    if header:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer":
            raise AuthenticationError("api.tokens.invalid")
        ctx = services.api_tokens.authenticate(secret.strip(), locale)
        key = f"token:{ctx.token_id}"
    else:
        ctx = getattr(request.state, "pm_ctx", None)
        if ctx is None:
            raise AuthenticationError("api.errors.unauthenticated")
        if request.method in UNSAFE:
            session, port = getattr(request.state, "pm_session", None), getattr(request.state, "pm_port", None)
            if session is None or port is None or not port.csrf_ok(request.headers.get(CSRF_HEADER), session.family):
                raise PermissionDeniedError("api.errors.csrf")
        ctx = ctx.with_locale(locale)
        key = f"user:{ctx.user_id}"
    request.state.pm_quota = request.app.state.pm_limits.hit(key, ctx.tenant_id)
    return ctx.with_origin(*_client(request))
