"""Settings from the environment (PROMPTMGR_*, DATABASE_URL). Read through get_settings(); nothing
at import time.

A plain dataclass rather than pydantic-settings: importing that costs ~30 ms of every CLI start
(the `prompts list` cold-start budget is 0.6 s), and these few variables need no more than this."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .errors import ValidationError

MODES = ("single", "multi")
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"PROMPTMGR_{name}", default)


def _flag(name: str, default: bool) -> bool:
    value = _env(name)
    if value is None:
        return default
    if value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValidationError("errors.bad_setting", name=f"PROMPTMGR_{name}", value=value, allowed="true, false")


def _int(name: str, default: int, low: int, high: int) -> int:
    value = _env(name)
    if value is None or not value.strip():
        return default
    if value.strip().isdigit() and low <= int(value) <= high:
        return int(value)
    raise ValidationError("errors.bad_setting", name=f"PROMPTMGR_{name}", value=value, allowed=f"{low}-{high}")


def _default_home() -> Path:
    if _env("HOME"):
        return Path(_env("HOME")).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "promptmgr"


@dataclass
class Settings:
    """Every field not given explicitly comes from its environment variable."""

    home: Path = field(default_factory=_default_home)
    database_url: str | None = field(default_factory=lambda: os.environ.get("DATABASE_URL") or None)
    mode: str = field(default_factory=lambda: _env("MODE", "single"))
    load_starter: bool = field(default_factory=lambda: _flag("LOAD_STARTER", True))
    secret_key: str | None = field(default_factory=lambda: _env("SECRET_KEY") or None, repr=False)
    default_locale: str = field(default_factory=lambda: _env("DEFAULT_LOCALE", "en"))
    default_model: str | None = field(default_factory=lambda: _env("DEFAULT_MODEL") or None)
    cache_enabled: bool = field(default_factory=lambda: _flag("CACHE_ENABLED", True))
    # Listening beyond loopback without login must be asked for (promptmgr/exposure.py).
    expose: bool = field(default_factory=lambda: _flag("EXPOSE", False))
    allowed_hosts: tuple[str, ...] = field(default_factory=lambda: tuple(
        h.strip().lower() for h in (_env("ALLOWED_HOSTS") or "").split(",") if h.strip()))
    max_upload_mb: int = field(default_factory=lambda: _int("MAX_UPLOAD_MB", 10, 1, 10240))

    def __post_init__(self) -> None:
        self.home = Path(self.home)
        if self.mode not in MODES:
            raise ValidationError("errors.bad_setting", name="PROMPTMGR_MODE", value=self.mode,
                                  allowed=", ".join(MODES))

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'promptmgr.db'}"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def files_dir(self) -> Path:
        return self.home / "files"


@lru_cache
def get_settings() -> Settings:
    return Settings()
