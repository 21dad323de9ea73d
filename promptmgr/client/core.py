"""The Python client: `Client(url, token).get_prompt("greet", label="production")`.

Caching (in this process, per Client): a fetched prompt is fresh for `ttl` seconds and returned with
no request. Past that it is returned at once all the same (`source="stale"`) while one background
request revalidates it with If-None-Match: a 304 makes it fresh again, a 200 replaces it, an API
error (404: the label moved away or the prompt was deleted; 401/403: the token was revoked) drops it
so the next call raises that error itself. Transport failures leave the stale copy in place, and the
next attempt waits RETRY_SECONDS (at most the TTL) so a down server is not called on every get.

When the server cannot be reached (connection error, timeout, 5xx, or 429 rate limiting) and nothing
is cached, `fallback` answers: a string (the content for any prompt) or a mapping name -> content.
Without one, ServerUnavailableError is raised. API errors (401, 403, 404, 422...) are never answered
by the fallback: they are typed exceptions carrying the API's code and message."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any, Callable

from .cache import Key, PromptCache
from .errors import RateLimitedError, ServerUnavailableError
from .http import Api, segment
from .prompt import Prompt

_UNSET: Any = object()
RETRY_SECONDS = 5.0  # after a failed revalidation, the stale copy is served this long without a new attempt
log = logging.getLogger("promptmgr.client")
Fallback = str | Mapping[str, str] | None


class Client:
    """A promptmgr server's prompts for one API token. Thread-safe; close() (or `with`) releases it."""

    def __init__(self, url: str, token: str, *, ttl: float = 60.0, timeout: float = 5.0,
                 fallback: Fallback = None, max_entries: int = 256, locale: str | None = None,
                 clock: Callable[[], float] = time.monotonic, transport=None, event_hooks: dict | None = None):
        if ttl < 0:
            raise ValueError("ttl must not be negative")
        _check_fallback(fallback)
        self.ttl, self.fallback, self._clock, self._timeout = float(ttl), fallback, clock, float(timeout)
        self.api = Api(url, token, timeout=timeout, locale=locale, transport=transport, event_hooks=event_hooks)
        self.cache = PromptCache(max_entries)
        self._threads: set[threading.Thread] = set()
        self._threads_lock = threading.Lock()

    @property
    def url(self) -> str:
        return self.api.url

    # --- the cached get ------------------------------------------------------------------
    def get_prompt(self, name: str, *, label: str | None = None, version: int | None = None,
                   fallback: Fallback = _UNSET) -> Prompt:
        """The prompt at `label`, `version` or its latest, from the cache when it can (see the module
        docstring). `fallback` here overrides the Client's for this call. Raises NotFoundError,
        AuthenticationError, PermissionDeniedError, InvalidRequestError, ServerUnavailableError."""
        if label is not None and version is not None:
            raise ValueError("give label or version, not both")
        if not name:
            raise ValueError("a prompt name is required")
        key: Key = (name, label, version)
        entry = self.cache.get(key)
        if entry is not None:
            now = self._clock()
            if now - entry.fetched_at < self.ttl:
                return entry.prompt.with_source("cache")
            if now >= entry.retry_at:
                self._revalidate_later(key, entry.etag)
            return entry.prompt.with_source("stale")
        try:
            return self._fetch(key)
        except (ServerUnavailableError, RateLimitedError) as exc:
            content = _fallback_for(name, self.fallback if fallback is _UNSET else _check_fallback(fallback))
            if content is None:
                raise exc from None
            return Prompt.fallback(name, content)

    def _request(self, key: Key, etag: str | None = None):
        name, label, version = key
        return self.api.request("GET", f"/prompts/{segment(name)}", params={"label": label, "version": version},
                                headers={"if-none-match": etag} if etag else None)

    def _fetch(self, key: Key) -> Prompt:
        response = self._request(key)
        prompt = Prompt.from_api(self.api.body(response))
        self.cache.put(key, prompt, response.headers.get("etag"), self._clock())
        return prompt

    def _revalidate_later(self, key: Key, etag: str | None) -> None:
        if not self.cache.claim(key):
            return  # one revalidation per key at a time
        # Daemon: a revalidation in flight never holds up the application's exit.
        thread = threading.Thread(target=self._revalidate, args=(key, etag), daemon=True,
                                  name="promptmgr-revalidate")
        with self._threads_lock:
            self._threads.add(thread)
        thread.start()

    def _revalidate(self, key: Key, etag: str | None) -> None:
        from .errors import ApiError

        try:
            response = self._request(key, etag)
            if response.status_code == 304:
                self.cache.touch(key, etag, self._clock())
            else:
                self.cache.put(key, Prompt.from_api(self.api.body(response)), response.headers.get("etag"),
                               self._clock())
        except (ServerUnavailableError, RateLimitedError) as exc:
            # The stale copy stays. Not another attempt on every call while the server is down.
            log.info("serving %s stale: %s", key[0], exc.translate("en"))
            self.cache.defer(key, self._clock() + min(self.ttl, RETRY_SECONDS))
        except ApiError:
            self.cache.drop(key)  # the next call fetches and raises the error to its caller
        finally:
            self.cache.release(key)
            with self._threads_lock:
                self._threads.discard(threading.current_thread())

    def wait(self, timeout: float | None = None) -> None:
        """Wait for background revalidations in flight (tests, a clean shutdown)."""
        with self._threads_lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)

    def invalidate(self, name: str | None = None) -> None:
        """Forget cached copies of `name` (every prompt when None): the next get fetches."""
        self.cache.clear(name)

    # --- uncached calls --------------------------------------------------------------------
    def list_prompts(self, *, q: str | None = None, category: str | None = None, tag: str | None = None,
                     kind: str | None = None, visibility: str | None = None, sort: str | None = None,
                     limit: int = 50, offset: int = 0) -> dict:
        """One page of prompt summaries: `items`, `total`, `limit`, `offset` (GET /prompts)."""
        return self.api.json("GET", "/prompts", params={"q": q, "category": category, "tag": tag, "kind": kind,
                                                        "visibility": visibility, "sort": sort, "limit": limit,
                                                        "offset": offset})

    def render_on_server(self, name: str, variables: dict | None = None, *, label: str | None = None,
                         version: int | None = None) -> Prompt:
        """The prompt rendered by the server (POST /prompts/{name}/render): `content` (and a chat
        prompt's `messages`) filled in. Prompt.render does the same locally without a request."""
        data = self.api.json("POST", f"/prompts/{segment(name)}/render",
                             json={"variables": variables or {}, "label": label, "version": version})
        return Prompt.from_api(data)

    # --- lifetime ------------------------------------------------------------------------
    def close(self) -> None:
        self.wait(self._timeout)
        self.api.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _check_fallback(fallback: Fallback) -> Fallback:
    if fallback is None or isinstance(fallback, str):
        return fallback
    if isinstance(fallback, Mapping) and all(isinstance(k, str) and isinstance(v, str) for k, v in fallback.items()):
        return fallback
    raise TypeError("fallback must be a string or a mapping of prompt names to strings")


def _fallback_for(name: str, fallback: Fallback) -> str | None:
    if isinstance(fallback, str):
        return fallback
    if isinstance(fallback, Mapping):
        return fallback.get(name)
    return None
