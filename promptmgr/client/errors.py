"""What the Python client raises. API errors carry the API's own code, message (in the language the
client asked for) and details; they are PromptMgrError subclasses that also subclass the core's
matching error, so `except promptmgr.errors.NotFoundError` catches a remote 404 as well as a local one
(the remote CLI prints them exactly as the local CLI prints its own)."""
from __future__ import annotations

from .. import errors as core


class ApiError(core.PromptMgrError):
    """The server answered with its error shape: `status`, `code`, `message`, `details`."""

    code = "api_error"
    message_key = "client.api_error"

    def __init__(self, status: int, code: str, message: str, details: dict | None = None,
                 retry_after: float | None = None):
        super().__init__(self.message_key, status=status, code=code, message=message)
        self.status, self.code, self.message = status, code, message
        self.details = dict(details or {})
        self.retry_after = retry_after

    def translate(self, locale: str = "en") -> str:
        # Already in the caller's language: the client sent it as Accept-Language.
        return self.message


class NotFoundError(ApiError, core.NotFoundError):
    """404: no such prompt, version or label (or route)."""


class AuthenticationError(ApiError, core.AuthenticationError):
    """401: no token, or a wrong, expired or revoked one."""


class PermissionDeniedError(ApiError, core.PermissionDeniedError):
    """403: the token's role does not allow it."""


class ConflictError(ApiError, core.ConflictError):
    """409: a newer version was saved since `base_version`, or the name exists."""


class InvalidRequestError(ApiError, core.ValidationError):
    """400, 413, 422: the request (or the template, or the variables) was refused."""


class RateLimitedError(ApiError):
    """429: this token or workspace made too many requests; `retry_after` is in seconds."""


class ServerUnavailableError(core.PromptMgrError):
    """The server could not be reached (connection refused, DNS, timeout) or failed (5xx): the one
    error the cached get answers with the cache or the fallback instead."""

    code = "unavailable"
    message_key = "client.unreachable"

    def __init__(self, message_key: str | None = None, *, url: str, detail: str = "", status: int | None = None):
        super().__init__(message_key or self.message_key, url=url, detail=detail, status=status)
        self.url, self.detail, self.status = url, detail, status


STATUS_ERRORS = {400: InvalidRequestError, 401: AuthenticationError, 403: PermissionDeniedError,
                 404: NotFoundError, 409: ConflictError, 413: InvalidRequestError, 422: InvalidRequestError,
                 429: RateLimitedError}
