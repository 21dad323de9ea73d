"""The response cache of the LLM gateway: diskcache with JSON values (never pickle) in a private
folder, keyed by a hash of the request, the tenant and the identity of the credential used.

API keys are never part of a key or a value: a credential enters the key only as a keyed hash
(credential_fingerprint), inside the sha256 of the whole request."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .types import ModelTarget

log = logging.getLogger(__name__)

CACHE_FORMAT = 2  # bump when the stored value or the key changes shape (2: tenant and credential)
_FINGERPRINT_KEY = b"promptmgr.llm.cache.credential.v1"
DEFAULT_SIZE_LIMIT = 512 * 1024 * 1024
# Never part of a request's identity: transport, credentials and streaming are not content.
NON_CONTENT_PARAMS = frozenset({
    "model", "messages", "stream", "stream_options", "api_key", "api_base", "base_url", "timeout",
    "num_retries", "max_retries", "headers", "extra_headers", "metadata", "user",
})


def _normalise(value: Any) -> Any:
    # 0 and 0.0 are the same temperature; JSON would spell them differently.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): _normalise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normalise(v) for v in value]
    return value


def content_params(params: dict | None) -> dict:
    """The params that change the answer (None values and transport settings dropped)."""
    return {k: v for k, v in (params or {}).items() if v is not None and k not in NON_CONTENT_PARAMS}


def canonical_json(value: Any) -> str:
    return json.dumps(_normalise(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def credential_fingerprint(api_key: str | None) -> str:
    """A short keyed hash naming an API key without revealing it ("none" without a key)."""
    if not api_key:
        return "none"
    return hmac.new(_FINGERPRINT_KEY, api_key.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def credential_identity(source: str, api_key: str | None) -> str:
    """What ModelTarget.credential_id holds: where the key comes from and its fingerprint."""
    return f"{source}:{credential_fingerprint(api_key)}"


def cache_key(target: "ModelTarget", messages: list[dict], params: dict | None) -> str:
    """sha256 over the canonical JSON of (tenant, credential, model, api_base, messages, params);
    dict order does not matter. Without a credential_id the target's key fingerprint stands in."""
    payload = {
        "v": CACHE_FORMAT,
        "tenant": target.tenant_id,
        "credential": target.credential_id or credential_fingerprint(target.api_key),
        "model": target.model,
        "api_base": (target.api_base or "").rstrip("/") or None,
        "messages": messages,
        "params": content_params(params),
    }
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def wants_cache(params: dict | None, use_cache: bool | None, enabled: bool) -> bool:
    """Cache only deterministic requests (an explicit temperature of 0) unless told otherwise."""
    if not enabled:
        return False
    if use_cache is not None:
        return bool(use_cache)
    temperature = (params or {}).get("temperature")
    return temperature is not None and not isinstance(temperature, bool) and temperature == 0


class ResponseCache:
    """Successful responses by cache_key(); failures to read or write are logged, never raised."""

    def __init__(self, directory: Path, *, size_limit: int = DEFAULT_SIZE_LIMIT):
        self.directory = Path(directory)
        self._size_limit = size_limit
        self._cache = None
        self._lock = threading.Lock()

    def _open(self):
        if self._cache is None:
            with self._lock:
                if self._cache is None:
                    import diskcache

                    created = not self.directory.exists()
                    self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
                    if created and os.name == "posix":
                        os.chmod(self.directory, 0o700)
                    self._cache = diskcache.Cache(
                        str(self.directory), disk=diskcache.JSONDisk, size_limit=self._size_limit,
                        eviction_policy="least-recently-stored",
                    )
        return self._cache

    def get(self, key: str) -> dict | None:
        try:
            value = self._open().get(key)
        except Exception as exc:  # a damaged cache must not break a model call
            log.warning("response cache read failed: %s", type(exc).__name__)
            return None
        return value if isinstance(value, dict) and value.get("v") == CACHE_FORMAT else None

    def set(self, key: str, value: dict) -> None:
        try:
            self._open().set(key, {**value, "v": CACHE_FORMAT})
        except Exception as exc:
            log.warning("response cache write failed: %s", type(exc).__name__)

    def clear(self) -> int:
        return int(self._open().clear())

    def __len__(self) -> int:
        return len(self._open())

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()
            self._cache = None
