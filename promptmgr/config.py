"""Settings from the environment (PROMPTMGR_*). Read through get_settings(); nothing at import time."""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    # A per-user data folder without importing platformdirs (cold start matters for the CLI).
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "promptmgr"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PROMPTMGR_", extra="ignore")

    home: Path = Field(default_factory=_default_home)
    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    mode: str = "single"  # "multi" arrives with hosted mode
    load_starter: bool = True
    secret_key: str | None = None
    default_locale: str = "en"
    default_model: str | None = None
    cache_enabled: bool = True

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
