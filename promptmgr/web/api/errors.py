"""The REST API's one error shape, {"error": {"code", "message", "details"}}, made in one place.

PromptMgrError subclasses map to HTTP statuses here (most specific first); request-shape errors
(pydantic) are 422, malformed JSON 400, unknown routes 404; anything unexpected is a 500 with a
generic message and no trace (it is logged). The message is in the caller's language
(Accept-Language), the details are the error's plain parameters (names, versions, limits)."""
from __future__ import annotations

import logging

from ...errors import (AuthenticationError, ConflictError, DatabaseUnavailableError, DuplicateError,
                       LockedOutError, NotFoundError, PermissionDeniedError, PromptMgrError, ProviderError,
                       RateLimitedError, ValidationError)
from ...i18n import normalize_locale, t

log = logging.getLogger("promptmgr.api")


class TooLargeError(PromptMgrError):
    code = "too_large"
    message_key = "api.errors.too_large"


class TooManyRequestsError(PromptMgrError):
    """This API's own rate limit (RateLimitedError is a model provider's)."""

    code = "rate_limited"
    message_key = "api.errors.rate_limited"


def _error_models():
    from pydantic import BaseModel, Field

    class ErrorDetail(BaseModel):
        code: str
        message: str
        details: dict = Field(default_factory=dict)

    class ErrorBody(BaseModel):
        error: ErrorDetail

    return ErrorBody


def error_responses() -> dict:
    """The OpenAPI description of every error status a route can answer with (the one shape)."""
    body = _error_models()
    return {status: {"model": body, "description": text} for status, text in (
        (400, "Malformed request"), (401, "No valid token or session"), (403, "Not allowed for this role"),
        (404, "Not found"), (409, "Conflict"), (413, "Body too large"), (422, "Invalid input"),
        (429, "Rate limited"), (502, "Model provider failed"), (503, "Database unavailable"))}


STATUS = (
    (LockedOutError, 429), (AuthenticationError, 401), (PermissionDeniedError, 403), (NotFoundError, 404),
    (DuplicateError, 409), (ConflictError, 409), (TooLargeError, 413), (ValidationError, 422),
    (TooManyRequestsError, 429), (RateLimitedError, 429), (ProviderError, 502), (DatabaseUnavailableError, 503),
)


def status_of(exc: PromptMgrError) -> int:
    return next((status for kind, status in STATUS if isinstance(exc, kind)), 400)


def locale_of(request) -> str:
    return normalize_locale(request.headers.get("accept-language")) or "en"


def _details(params: dict) -> dict:
    """The parameters a client can act on: plain values only (never a nested error or a key)."""
    return {k: v for k, v in params.items()
            if not k.endswith("_key") and (v is None or isinstance(v, (str, int, float, bool)))}


def error_body(code: str, message: str, details=None) -> dict:
    return {"error": {"code": code, "message": message, "details": details if details is not None else {}}}


def error_response(status: int, code: str, message: str, details=None, headers: dict | None = None):
    from fastapi.responses import JSONResponse

    return JSONResponse(error_body(code, message, details), status_code=status,
                        headers={"cache-control": "no-store", **(headers or {})})


def install(api) -> None:
    """Register the one handler for every error the API can meet."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    def handle(request, exc: Exception):
        locale = locale_of(request)
        if isinstance(exc, HTTPException) and isinstance(exc.__cause__, PromptMgrError):
            exc = exc.__cause__  # FastAPI wraps an error raised while reading the body (TooLargeError)
        if isinstance(exc, PromptMgrError):
            status = status_of(exc)
            headers = {}
            if status == 429:
                headers["retry-after"] = str(max(1, int(exc.params.get("seconds") or 1)))
            if status == 401:
                headers["www-authenticate"] = 'Bearer realm="promptmgr"'
            return error_response(status, exc.code, exc.translate(locale), _details(exc.params), headers)
        if isinstance(exc, RequestValidationError):
            errors = exc.errors()
            if any(e.get("type") == "json_invalid" for e in errors):
                return error_response(400, "bad_request", t("api.errors.bad_json", locale))
            details = {"fields": [{"loc": [str(p) for p in e.get("loc", ())], "type": str(e.get("type", "")),
                                   "msg": str(e.get("msg", ""))[:200]} for e in errors[:20]]}
            return error_response(422, "invalid", t("api.errors.invalid_request", locale), details)
        if isinstance(exc, HTTPException):
            key = {404: "api.errors.no_route", 405: "api.errors.method"}.get(exc.status_code, "api.errors.http")
            return error_response(exc.status_code, {404: "not_found", 405: "method_not_allowed"}.get(
                exc.status_code, "http_error"), t(key, locale, status=exc.status_code), headers=exc.headers)
        log.exception("unexpected error in %s %s", request.method, request.url.path)
        return error_response(500, "internal", t("api.errors.internal", locale))

    for kind in (PromptMgrError, RequestValidationError, HTTPException, Exception):
        api.add_exception_handler(kind, handle)
