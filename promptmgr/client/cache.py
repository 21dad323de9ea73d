"""The client's in-process prompt cache: a bounded LRU of (prompt, ETag, fetch time) per request key,
guarded by one lock (applications call get_prompt from many threads)."""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from .prompt import Prompt

Key = tuple[str, str | None, int | None]  # name, label, version


@dataclass
class Entry:
    prompt: Prompt
    etag: str | None
    fetched_at: float  # on the client's clock (monotonic by default)
    retry_at: float = 0.0  # no revalidation before this (the last one could not reach the server)


class PromptCache:
    def __init__(self, max_entries: int):
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._entries: OrderedDict[Key, Entry] = OrderedDict()
        self._revalidating: set[Key] = set()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def get(self, key: Key) -> Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: Key, prompt: Prompt, etag: str | None, now: float) -> None:
        with self._lock:
            self._entries[key] = Entry(prompt, etag, now)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def touch(self, key: Key, etag: str | None, now: float) -> None:
        """A 304 for `etag`: the entry is fresh again (unless it was replaced meanwhile)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.etag == etag:
                entry.fetched_at = now

    def defer(self, key: Key, until: float) -> None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                entry.retry_at = until

    def drop(self, key: Key) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self, name: str | None = None) -> None:
        with self._lock:
            for key in [k for k in self._entries if name is None or k[0] == name]:
                del self._entries[key]

    def claim(self, key: Key) -> bool:
        """True for the one caller that may revalidate `key` now (one request in flight per key)."""
        with self._lock:
            if key in self._revalidating:
                return False
            self._revalidating.add(key)
            return True

    def release(self, key: Key) -> None:
        with self._lock:
            self._revalidating.discard(key)

    def revalidating(self) -> int:
        with self._lock:
            return len(self._revalidating)
