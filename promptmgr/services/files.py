"""Stored files (chat prompt images): kept under files_dir/<tenant_id>/ with random private names,
checked by their content, readable only by their own tenant, and removed once no prompt version
references them.

A prompt refers to a stored file as "file:NAME"; NAME never contains a path, so a reference can only
ever reach the caller's own folder."""
from __future__ import annotations

import base64
import logging
import os
import re
import secrets
import time
from pathlib import Path

from ..context import TenantContext
from ..db import Database
from ..errors import ValidationError
from ..policy import Action, require
from ..repositories.files import FILE_SCHEME, FileRefRepository
from .base import unit_of_work

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
# Freshly uploaded images are not referenced until the prompt is saved: leave them this long.
CLEANUP_GRACE_SECONDS = 24 * 3600
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}(\.[A-Za-z0-9]{1,8})?$")
_DISPLAY_MAX = 100


def image_kind(data: bytes) -> tuple[str, str] | None:
    """(extension, MIME type) from the content's magic bytes; None for anything but PNG/JPEG/GIF/WEBP."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png", "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg", "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif", "image/gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp", "image/webp"
    return None


def _display(filename: str | None) -> str:
    # Only for messages: the base name without control characters, bounded.
    name = os.path.basename(str(filename or "")).strip()
    name = "".join(ch for ch in name if ch.isprintable())
    return name[:_DISPLAY_MAX] or "-"


class FileService:
    def __init__(self, db: Database, files_dir: Path, max_bytes: int = DEFAULT_MAX_BYTES,
                 adopt_legacy: bool = False):
        self.db = db
        self.files_dir = Path(files_dir)
        self.max_bytes = int(max_bytes)
        # Single-user installs stored files flat in files_dir before tenants had folders; with one
        # tenant, a flat file its prompts reference is moved into its folder on first use.
        self.adopt_legacy = adopt_legacy

    def _dir(self, ctx: TenantContext, create: bool = False) -> Path:
        directory = self.files_dir / str(int(ctx.tenant_id))
        if create:
            self.files_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            directory.mkdir(exist_ok=True, mode=0o700)
        return directory

    @property
    def limit_mb(self) -> str:
        return f"{self.max_bytes / (1024 * 1024):g}"

    def store_image(self, ctx: TenantContext, filename: str | None, data: bytes) -> str:
        """Store an uploaded image; returns its "file:NAME" reference. Raises ValidationError (too large,
        not a PNG/JPEG/GIF/WEBP by content), PermissionDeniedError."""
        require(ctx, Action.UPLOAD_FILES)
        shown = _display(filename)
        if len(data) > self.max_bytes:
            raise ValidationError("files.too_large", name=shown, limit_mb=self.limit_mb)
        kind = image_kind(data)
        if kind is None:
            raise ValidationError("files.not_an_image", name=shown)
        directory = self._dir(ctx, create=True)
        name = f"{secrets.token_hex(20)}.{kind[0]}"
        fd = os.open(directory / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        try:  # uploads are rare: a good moment to drop what no prompt uses any more
            self._cleanup(ctx, CLEANUP_GRACE_SECONDS)
        except OSError:
            log.warning("cleaning up stored files of tenant %s failed", ctx.tenant_id, exc_info=True)
        return f"{FILE_SCHEME}{name}"

    def resolve(self, ctx: TenantContext, ref: str) -> str:
        """The caller's stored image as a data URI. Raises ValidationError (bad reference, missing,
        not an image, too large), PermissionDeniedError."""
        require(ctx, Action.READ_PROMPTS)
        name = (ref[len(FILE_SCHEME):] if ref.startswith(FILE_SCHEME) else ref).strip()
        if not _NAME_RE.match(name):
            raise ValidationError("testing.bad_file", name=_display(name))
        path = self._dir(ctx) / name
        if not path.is_file() and not self._adopt(ctx, name):
            raise ValidationError("testing.file_missing", name=name)
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0))
        except OSError:
            raise ValidationError("testing.file_missing", name=name) from None
        with os.fdopen(fd, "rb") as fh:
            data = fh.read(self.max_bytes + 1)
        if len(data) > self.max_bytes:
            raise ValidationError("testing.file_too_large", name=name, limit_mb=self.limit_mb)
        kind = image_kind(data)
        if kind is None:
            raise ValidationError("testing.not_an_image", name=name)
        return f"data:{kind[1]};base64,{base64.b64encode(data).decode('ascii')}"

    def cleanup_unreferenced(self, ctx: TenantContext, min_age_seconds: float = CLEANUP_GRACE_SECONDS) -> list[str]:
        """Remove the tenant's stored files that no prompt version references (older than
        min_age_seconds, so a just-uploaded image survives until its prompt is saved); returns their
        names. Raises PermissionDeniedError."""
        require(ctx, Action.WRITE_PROMPTS)
        return self._cleanup(ctx, min_age_seconds)

    def _cleanup(self, ctx: TenantContext, min_age_seconds: float) -> list[str]:
        directory = self._dir(ctx)
        if not directory.is_dir():
            return []
        with unit_of_work(self.db, ctx, FileRefRepository) as repo:
            referenced = repo.referenced_files()
        removed, now = [], time.time()
        for path in directory.iterdir():
            if path.name in referenced or not path.is_file() or path.is_symlink():
                continue
            if now - path.stat().st_mtime < min_age_seconds:
                continue
            path.unlink(missing_ok=True)
            removed.append(path.name)
        if removed:
            log.info("removed %d unreferenced stored file(s) of tenant %s", len(removed), ctx.tenant_id)
        return sorted(removed)

    def _adopt(self, ctx: TenantContext, name: str) -> bool:
        legacy = self.files_dir / name
        if not self.adopt_legacy or not legacy.is_file() or legacy.is_symlink():
            return False
        with unit_of_work(self.db, ctx, FileRefRepository) as repo:
            if name not in repo.referenced_files():
                return False
        directory = self._dir(ctx, create=True)
        os.replace(legacy, directory / name)
        os.chmod(directory / name, 0o600)
        return True
