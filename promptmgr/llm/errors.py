"""How a failed model call maps to an LLMResult error (code, i18n key, params) and whether it is
worth retrying.

Exceptions are recognised by the class names in their MRO and their status codes rather than by
importing litellm/openai/httpx classes, so this module never imports them."""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

ERROR_CODES = ("auth", "unknown_model", "unreachable", "context_length", "rate_limited", "timeout",
               "server_error", "bad_request", "local_missing", "missing_key", "cancelled", "error")
RETRYABLE = frozenset({"rate_limited", "server_error", "timeout", "unreachable"})
MAX_UNREACHABLE_RETRIES = 1  # a refused connection rarely heals within a second
MAX_RETRY_AFTER = 30.0
_DETAIL_LIMIT = 300

_TIMEOUT_NAMES = {"Timeout", "APITimeoutError", "TimeoutException", "ReadTimeout", "ConnectTimeout",
                  "WriteTimeout", "PoolTimeout", "TimeoutError"}
_CONNECT_NAMES = {"APIConnectionError", "ConnectError", "ConnectionError", "ClientConnectorError",
                  "ServerDisconnectedError", "RemoteProtocolError"}
_CONNECT_TEXT = re.compile(
    r"connection refused|connection error|connect error|name or service not known|nodename nor servname|"
    r"failed to establish|all connection attempts failed|network is unreachable|no route to host|"
    r"temporary failure in name resolution|cannot connect to host", re.IGNORECASE)
_UNKNOWN_MODEL_TEXT = re.compile(
    r"model[^.]{0,80}(not found|does not exist|not exist|unknown|not supported|invalid|no such)|"
    r"(unknown|invalid|unsupported) model|llm provider not provided|isn't mapped|model_not_found",
    re.IGNORECASE)
_MISSING_KEY_TEXT = re.compile(r"missing credentials|api_key client option must be set|missing \w+ api key|"
                               r"no api key|api key (is )?(missing|required|not set)", re.IGNORECASE)
_LITELLM_PREFIX = re.compile(r"^(litellm\.\w+:\s*)?(\w+(Error|Exception)\s*[:\-]\s*)*", re.IGNORECASE)


@dataclass(frozen=True)
class Failure:
    code: str
    key: str
    params: dict = field(default_factory=dict)
    retry_after: float | None = None

    @property
    def retryable(self) -> bool:
        return self.code in RETRYABLE


def scrub(text: str, secret: str | None) -> str:
    """The text with every occurrence of the secret (and of its long inner part) masked."""
    if not text or not secret or len(secret) < 4:
        return text
    text = text.replace(secret, "***")
    # Providers echo keys partly masked ("sk-tes****3456"); a long verbatim tail can remain.
    if len(secret) >= 16:
        text = text.replace(secret[3:-4], "***")
    return text


def detail(exc: BaseException, secret: str | None) -> str:
    """A short, key-free description of an exception for the user message."""
    text = str(exc).strip() or type(exc).__name__
    text = _LITELLM_PREFIX.sub("", text.splitlines()[0] if text else "", count=1).strip() or type(exc).__name__
    text = scrub(text, secret)
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 1] + "\u2026"


def _names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def _chain(exc: BaseException):
    seen, current = set(), exc
    while current is not None and id(current) not in seen and len(seen) < 12:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _status(exc: BaseException) -> int | None:
    for item in _chain(exc):
        status = getattr(item, "status_code", None)
        if isinstance(status, int):
            return status
    return None


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    try:
        value = float(headers.get("retry-after")) if headers is not None and headers.get("retry-after") else None
    except (TypeError, ValueError):
        return None
    return min(max(value, 0.0), MAX_RETRY_AFTER) if value is not None else None


def _is_timeout(exc: BaseException) -> bool:
    return any(isinstance(e, TimeoutError) or _names(e) & _TIMEOUT_NAMES for e in _chain(exc))


def _is_unreachable(exc: BaseException) -> bool:
    for item in _chain(exc):
        if isinstance(item, (ConnectionRefusedError, ConnectionResetError)) or _names(item) & _CONNECT_NAMES:
            return True
        if isinstance(item, OSError) and not isinstance(item, TimeoutError) and getattr(item, "errno", None):
            return True
    return bool(_CONNECT_TEXT.search(str(exc)))


def classify(exc: BaseException, *, model: str, api_base: str | None, secret: str | None,
             timeout: float, missing_keys: Callable[[], list[str]] | None = None) -> Failure:
    """The user-facing failure for an exception raised by a provider call. `missing_keys` (asked
    only for a keyless call refused for want of a key) names the unset key variables: the backend knows."""
    names, status = _names(exc), _status(exc)
    base = {"model": model, "detail": detail(exc, secret)}
    keyless = secret is None and api_base is None
    if keyless and ("MissingKeyError" in names or _MISSING_KEY_TEXT.search(str(exc)) or status in (401, 403)):
        missing = missing_keys() if missing_keys is not None else []
        if missing:
            return Failure("missing_key", "providers.missing_key", {"model": model, "env": " / ".join(missing)})
    if "ContextWindowExceededError" in names:
        return Failure("context_length", "llm.context_length", base)
    if _is_timeout(exc):
        return Failure("timeout", "llm.timeout", {**base, "timeout": f"{timeout:g}"})
    if names & {"AuthenticationError", "PermissionDeniedError"} or status in (401, 403):
        return Failure("auth", "llm.auth", base)
    if names & {"NotFoundError", "LiteLLMUnknownProvider", "ModelNotMappedError"} or status == 404:
        return Failure("unknown_model", "llm.unknown_model", base)
    if "RateLimitError" in names or status == 429:
        return Failure("rate_limited", "llm.rate_limited", base, _retry_after(exc))
    # A refused connection surfaces as a 500 (litellm InternalServerError): check the cause first.
    if _is_unreachable(exc):
        if api_base:
            return Failure("unreachable", "llm.unreachable", {**base, "endpoint": api_base})
        return Failure("unreachable", "llm.unreachable_default", base)
    if names & {"BadRequestError", "UnprocessableEntityError", "UnsupportedParamsError"} or status in (400, 422):
        if _UNKNOWN_MODEL_TEXT.search(str(exc)):
            return Failure("unknown_model", "llm.unknown_model", base)
        return Failure("bad_request", "llm.bad_request", base)
    if status == 408:
        return Failure("timeout", "llm.timeout", {**base, "timeout": f"{timeout:g}"})
    if status is not None and 400 <= status < 500:
        return Failure("bad_request", "llm.bad_request", base)
    if (status is not None and status >= 500) or names & {"InternalServerError", "ServiceUnavailableError",
                                                          "BadGatewayError", "APIError"}:
        return Failure("server_error", "llm.server_error", {**base, "status": str(status or 500)})
    return Failure("error", "llm.error", base)


def cancelled(model: str) -> Failure:
    """The caller stopped the call; the text produced so far is kept."""
    return Failure("cancelled", "llm.cancelled", {"model": model})


def retry_delay(attempt: int, backoff_base: float, jitter: float, retry_after: float | None) -> float:
    """backoff_base * 2**attempt plus jitter in [0, jitter*backoff_base), at least Retry-After."""
    delay = backoff_base * (2 ** attempt) + jitter * backoff_base
    return max(delay, retry_after or 0.0)


def may_retry(failure: Failure, attempt: int, max_retries: int) -> bool:
    """attempt = retries already made."""
    if not failure.retryable:
        return False
    limit = min(max_retries, MAX_UNREACHABLE_RETRIES) if failure.code == "unreachable" else max_retries
    return attempt < limit
