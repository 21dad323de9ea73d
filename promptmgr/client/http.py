"""One HTTP round trip to the REST API (/api/v1) with the client's token and language, and the one
place answers become values or typed errors. Used by the cached Client and by the remote CLI."""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

from .errors import STATUS_ERRORS, ApiError, ServerUnavailableError

PREFIX = "/api/v1"
USER_AGENT = "promptmgr-client"
MAX_TOKEN = 500  # no real token is this long; a pasted file is a mistake, not a header to send


def segment(value: str) -> str:
    """A path segment: every reserved character escaped, and '.'/'..' kept from being a dot segment
    (httpx would resolve them and the request would reach another route)."""
    text = quote(str(value), safe="")
    return text.replace(".", "%2E") if set(text) <= {"."} else text


def base_url(url: str) -> str:
    """The server's address as given (http:// or https://), without a trailing slash or /api/v1."""
    from ..errors import ValidationError

    text = (url or "").strip().rstrip("/")
    if not text.lower().startswith(("http://", "https://")) or len(text) > 2000:
        raise ValidationError("client.bad_url", url=text[:200])
    return text.removesuffix(PREFIX)


class Api:
    """The API of one server for one token. Thread-safe (httpx.Client is)."""

    def __init__(self, url: str, token: str, *, timeout: float = 5.0, locale: str | None = None,
                 transport=None, event_hooks: dict | None = None):
        import httpx

        from ..errors import ValidationError

        token = (token or "").strip()
        if not token or len(token) > MAX_TOKEN or any(c.isspace() for c in token):
            raise ValidationError("client.bad_token")
        self.url = base_url(url)
        headers = {"authorization": f"Bearer {token}", "user-agent": USER_AGENT, "accept": "application/json"}
        if locale:
            headers["accept-language"] = locale
        self._http = httpx.Client(base_url=self.url + PREFIX, headers=headers, timeout=httpx.Timeout(timeout),
                                  transport=transport, event_hooks=event_hooks or {}, follow_redirects=False)

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, *, params: dict | None = None, json: Any = None,
                headers: dict | None = None):
        """The response of a 2xx or 304; anything else raises (ApiError subclasses for the API's
        errors, ServerUnavailableError when the server cannot be reached or fails)."""
        import httpx

        params = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(method, path, params=params, json=json, headers=headers)
        except httpx.TimeoutException as exc:
            raise ServerUnavailableError("client.timeout", url=self.url, detail=type(exc).__name__) from None
        except httpx.TransportError as exc:  # refused, reset, DNS, TLS...
            raise ServerUnavailableError(url=self.url, detail=str(exc) or type(exc).__name__) from None
        if response.status_code < 300 or response.status_code == 304:
            return response
        raise self._error(response)

    def json(self, method: str, path: str, **kwargs) -> Any:
        response = self.request(method, path, **kwargs)
        if response.status_code == 204:
            return None
        return self.body(response)

    def body(self, response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise ServerUnavailableError("client.bad_response", url=self.url, status=response.status_code,
                                         detail=response.headers.get("content-type", "")) from None

    def _error(self, response) -> Exception:
        status = response.status_code
        try:
            error = response.json()["error"]
            code, message = str(error["code"]), str(error["message"])
            details = error.get("details") if isinstance(error.get("details"), dict) else {}
        except (ValueError, KeyError, TypeError):
            # Not the API's error shape: a proxy's page, another service at this address.
            error = None
        if status >= 500:
            detail = message if error else response.reason_phrase
            return ServerUnavailableError("client.server_error", url=self.url, status=status, detail=detail)
        if error is None:
            return ServerUnavailableError("client.bad_response", url=self.url, status=status,
                                          detail=response.headers.get("content-type", ""))
        kind = STATUS_ERRORS.get(status, ApiError)
        retry = response.headers.get("retry-after")
        return kind(status, code, message, details, retry_after=float(retry) if retry and retry.isdigit() else None)
