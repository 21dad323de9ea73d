"""The one registry of model backends. A model string is routed by its exact name first, then by
the prefix before its first "/", then to the default backend (litellm).

Tests register their doubles here too; register_backend returns a function that restores what it
replaced."""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from .backend import Backend

_lock = threading.RLock()
_exact: dict[str, Backend] = {}
_prefix: dict[str, Backend] = {}
_default: list[Backend] = []
_loaded = False


def _ensure_defaults() -> None:
    global _loaded
    if _loaded:
        return
    with _lock:
        if _loaded:
            return
        from .local import LOCAL_MODEL_NAME, LocalBackend
        from .remote import LitellmBackend

        _default.append(LitellmBackend())
        _exact[LOCAL_MODEL_NAME] = LocalBackend()
        _loaded = True


def register_backend(backend: Backend, *, models: Iterable[str] = (), prefixes: Iterable[str] = (),
                     default: bool = False) -> Callable[[], None]:
    """Route these exact model names, these "<prefix>/..." names (and everything else when
    default=True) to `backend`. Returns a function that restores the previous routes."""
    _ensure_defaults()
    models, prefixes = list(models), list(prefixes)
    with _lock:
        before = ({m: _exact.get(m) for m in models}, {p: _prefix.get(p) for p in prefixes}, list(_default))
        for m in models:
            _exact[m] = backend
        for p in prefixes:
            _prefix[p] = backend
        if default:
            _default[:] = [backend]

    def restore() -> None:
        with _lock:
            for table, saved in ((_exact, before[0]), (_prefix, before[1])):
                for key, old in saved.items():
                    if old is None:
                        table.pop(key, None)
                    else:
                        table[key] = old
            _default[:] = before[2]

    return restore


def backend_for(model: str | None) -> Backend:
    """The backend that serves `model` (None: the default backend)."""
    _ensure_defaults()
    if model:
        found = _exact.get(model)
        if found is None and "/" in model:
            found = _prefix.get(model.split("/", 1)[0])
        if found is not None:
            return found
    return _default[0]


def backends() -> list[Backend]:
    """Every registered backend once: exact routes, then prefixes, then the default."""
    _ensure_defaults()
    with _lock:
        seen: dict[int, Backend] = {}
        for backend in (*_exact.values(), *_prefix.values(), *_default):
            seen.setdefault(id(backend), backend)
        return list(seen.values())
