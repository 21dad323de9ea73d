"""Settings from the environment (PROMPTMGR_*, DATABASE_URL). Read through get_settings(); nothing
at import time.

A plain dataclass rather than pydantic-settings: importing that costs ~30 ms of every CLI start
(the `prompts list` cold-start budget is 0.6 s), and these few variables need no more than this."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .errors import ValidationError

MODES = ("single", "multi")
LOG_FORMATS = ("json", "text")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?|https?://\[[0-9A-Fa-f:]+\](:[0-9]{1,5})?")
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


def _number(name: str, default: float, kind=int):
    value = _env(name)
    if value is None:
        return default
    try:
        number = kind(value.strip().replace("_", ""))
    except ValueError:
        number = 0
    if number <= 0:
        raise ValidationError("errors.bad_setting", name=f"PROMPTMGR_{name}", value=value,
                              allowed="a positive number")
    return number


def _number_or_zero(name: str, default: int) -> int:
    return 0 if (_env(name) or "").strip() == "0" else _number(name, default)


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
    # Limits on user input: one prompt's content (editor, CLI, import alike), a rendered template,
    # the time one render may take, and an import document.
    max_content_bytes: int = field(default_factory=lambda: _number("MAX_CONTENT_BYTES", 1_000_000))
    max_render_bytes: int = field(default_factory=lambda: _number("MAX_RENDER_BYTES", 1_000_000))
    render_seconds: float = field(default_factory=lambda: _number("RENDER_SECONDS", 2.0, float))
    max_document_bytes: int = field(default_factory=lambda: _number("MAX_DOCUMENT_BYTES", 50_000_000))
    # Listening beyond loopback without login must be asked for (promptmgr/exposure.py).
    expose: bool = field(default_factory=lambda: _flag("EXPOSE", False))
    allowed_hosts: tuple[str, ...] = field(default_factory=lambda: tuple(
        h.strip().lower() for h in (_env("ALLOWED_HOSTS") or "").split(",") if h.strip()))
    max_upload_mb: int = field(default_factory=lambda: _number("MAX_UPLOAD_MB", 10))
    # Hosted mode (PROMPTMGR_MODE=multi): accounts, sessions, links. services/auth.py, accounts.py.
    admin_email: str | None = field(default_factory=lambda: _env("ADMIN_EMAIL") or None)
    admin_password: str | None = field(default_factory=lambda: _env("ADMIN_PASSWORD") or None, repr=False)
    password_min_length: int = field(default_factory=lambda: _number("PASSWORD_MIN_LENGTH", 10))
    # argon2id cost: OWASP's recommended minimum (19 MiB, 2 passes, 1 lane) by default; tests pass
    # cheap values. One lane: on a server, concurrent logins already use the cores.
    argon2_memory_kib: int = field(default_factory=lambda: _number("ARGON2_MEMORY_KIB", 19456))
    argon2_time_cost: int = field(default_factory=lambda: _number("ARGON2_TIME_COST", 2))
    access_token_minutes: int = field(default_factory=lambda: _number("ACCESS_TOKEN_MINUTES", 15))
    refresh_token_days: int = field(default_factory=lambda: _number("REFRESH_TOKEN_DAYS", 7))
    # A refresh token presented again this soon after its rotation is a page's parallel requests,
    # not a replay (0: every second presentation revokes the session).
    refresh_reuse_grace_seconds: int = field(default_factory=lambda: _number_or_zero("REFRESH_REUSE_GRACE_SECONDS", 10))
    invite_hours: int = field(default_factory=lambda: _number("INVITE_HOURS", 72))
    reset_minutes: int = field(default_factory=lambda: _number("RESET_MINUTES", 60))
    login_max_failures: int = field(default_factory=lambda: _number("LOGIN_MAX_FAILURES", 5))
    login_window_minutes: int = field(default_factory=lambda: _number("LOGIN_WINDOW_MINUTES", 15))
    # The address links in invitation and reset mails start with (e.g. https://prompts.example.org).
    public_url: str = field(default_factory=lambda: (_env("PUBLIC_URL") or "").rstrip("/"))
    smtp_host: str | None = field(default_factory=lambda: _env("SMTP_HOST") or None)
    smtp_port: int = field(default_factory=lambda: _number("SMTP_PORT", 587))
    smtp_user: str | None = field(default_factory=lambda: _env("SMTP_USER") or None)
    smtp_password: str | None = field(default_factory=lambda: _env("SMTP_PASSWORD") or None, repr=False)
    smtp_from: str | None = field(default_factory=lambda: _env("SMTP_FROM") or None)
    smtp_starttls: bool = field(default_factory=lambda: _flag("SMTP_STARTTLS", True))
    # The REST API (web/api): requests per token (and per signed-in user) and per workspace, as the
    # `limits` library writes them ("600/minute", "10/second"); counted in Redis when REDIS_URL is
    # set (shared by every replica), else in this process. The largest request body it reads.
    rate_limit: str = field(default_factory=lambda: _env("RATE_LIMIT") or "600/minute")
    workspace_rate_limit: str = field(default_factory=lambda: _env("WORKSPACE_RATE_LIMIT") or "6000/minute")
    redis_url: str | None = field(default_factory=lambda: os.environ.get("REDIS_URL") or None, repr=False)
    api_max_body_kb: int = field(default_factory=lambda: _number("API_MAX_BODY_KB", 2048))
    # Hosted mode on PostgreSQL: experiment runs go to the `promptmgr worker` processes through the
    # task queue (promptmgr/worker.py) in WORKER_SHARDS jobs; false keeps them in the app process.
    # (PROMPTMGR_WORKERS is taken: web/start.py hands uvicorn's worker count to its processes.)
    queue_experiments: bool = field(default_factory=lambda: _flag("QUEUE_EXPERIMENTS", True))
    worker_shards: int = field(default_factory=lambda: _number("WORKER_SHARDS", 4))
    # Web pages on these origins may call the REST API from a browser (CORS), comma-separated
    # (https://app.example.org); none by default. Explicit origins only: the API's cookie sessions
    # must never be readable cross-origin, so "*" is refused.
    cors_origins: tuple[str, ...] = field(default_factory=lambda: tuple(
        o.strip().rstrip("/").lower() for o in (_env("CORS_ORIGINS") or "").split(",") if o.strip()))
    # Server logs (`serve`, `worker`): JSON lines with the request id, or plain text; the level.
    log_format: str = field(default_factory=lambda: (_env("LOG_FORMAT") or "json").strip().lower())
    log_level: str = field(default_factory=lambda: (_env("LOG_LEVEL") or "INFO").strip().upper())
    # The CLI's remote mode (cli/remote.py): `promptmgr prompts ...` works on this server's REST API
    # with this API token instead of on the local library.
    server: str | None = field(default_factory=lambda: (_env("SERVER") or "").strip() or None)
    server_token: str | None = field(default_factory=lambda: (_env("TOKEN") or "").strip() or None, repr=False)

    def __post_init__(self) -> None:
        self.home = Path(self.home)
        if self.mode not in MODES:
            raise ValidationError("errors.bad_setting", name="PROMPTMGR_MODE", value=self.mode,
                                  allowed=", ".join(MODES))
        for origin in self.cors_origins:
            if not _ORIGIN.fullmatch(origin):
                raise ValidationError("errors.bad_setting", name="PROMPTMGR_CORS_ORIGINS", value=origin,
                                      allowed="https://host[:port], http://host[:port]")
        if self.log_format not in LOG_FORMATS:
            raise ValidationError("errors.bad_setting", name="PROMPTMGR_LOG_FORMAT", value=self.log_format,
                                  allowed=", ".join(LOG_FORMATS))
        if self.log_level not in LOG_LEVELS:
            raise ValidationError("errors.bad_setting", name="PROMPTMGR_LOG_LEVEL", value=self.log_level,
                                  allowed=", ".join(LOG_LEVELS))

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'promptmgr.db'}"

    @property
    def queued_experiments(self) -> bool:
        """Experiment runs go through the worker queue (multi mode, PostgreSQL, workers on)."""
        return self.mode == "multi" and self.queue_experiments and self.db_url.startswith("postgresql")

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def files_dir(self) -> Path:
        return self.home / "files"

    @property
    def max_image_bytes(self) -> int:
        """PROMPTMGR_MAX_IMAGE_MB (default 10): the largest image a chat prompt may store."""
        value = _env("MAX_IMAGE_MB", "10")
        try:
            mb = float(value)
        except ValueError:
            mb = -1.0
        if not 0 < mb <= 1024:
            raise ValidationError("errors.bad_setting", name="PROMPTMGR_MAX_IMAGE_MB", value=value, allowed="0-1024")
        return int(mb * 1024 * 1024)


@lru_cache
def get_settings() -> Settings:
    return Settings()


_active: list[Settings] = []


def activate(settings: Settings) -> None:
    """The settings the process runs with (build_services calls this): the limits that code without
    a Services object at hand (schemas, templating) applies come from here."""
    _active[:] = [settings]


def active_settings() -> Settings:
    return _active[0] if _active else get_settings()
