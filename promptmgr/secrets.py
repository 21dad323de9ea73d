"""Encryption of stored API keys (Fernet).

The key comes from PROMPTMGR_SECRET_KEY (through HKDF, so any passphrase works), or else from a
random key generated once into <home>/secret.key with mode 0600."""
from __future__ import annotations

import base64
import os
import threading
from pathlib import Path

from .errors import ValidationError

KEY_FILE_NAME = "secret.key"
# Fixed and public on purpose: the salt only separates this use of the passphrase from others.
_HKDF_SALT = b"promptmgr/secretbox/v1"
_HKDF_INFO = b"promptmgr api key encryption"
_MASK = "\u2022\u2022\u2022\u2022"
_MASK_MIN_LENGTH = 16  # shorter secrets would reveal too large a share of themselves


def derive_key(passphrase: str) -> bytes:
    """A Fernet key (urlsafe base64 of 32 bytes) from a passphrase."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=_HKDF_INFO).derive(
        passphrase.encode("utf-8"))
    return base64.urlsafe_b64encode(raw)


def _read_or_create_key_file(path: Path) -> bytes:
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    from cryptography.fernet import Fernet

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(Fernet.generate_key())
            fh.flush()
            os.fsync(fh.fileno())
        try:
            # link() never replaces: if another process created the key first, theirs wins.
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_bytes().strip()


class SecretBox:
    def __init__(self, home: Path, secret_key: str | None):
        self._home = Path(home)
        self._secret_key = secret_key or None
        self._fernet = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        source = "PROMPTMGR_SECRET_KEY" if self._secret_key else str(self.key_path)
        return f"SecretBox(key from {source})"

    @property
    def key_path(self) -> Path:
        return self._home / KEY_FILE_NAME

    def _box(self):
        # Created on first use so that read-only commands never write a key file.
        if self._fernet is None:
            with self._lock:
                if self._fernet is None:
                    from cryptography.fernet import Fernet

                    key = derive_key(self._secret_key) if self._secret_key else \
                        _read_or_create_key_file(self.key_path)
                    self._fernet = Fernet(key)
        return self._fernet

    def encrypt(self, plain: str) -> str:
        return self._box().encrypt(plain.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The plain text; raises ValidationError("llm.secret_undecryptable") for a wrong key or a damaged token."""
        from cryptography.fernet import InvalidToken

        try:
            return self._box().decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError, ValueError, TypeError, AttributeError):
            raise ValidationError("llm.secret_undecryptable") from None

    @staticmethod
    def mask(plain: str | None) -> str:
        """"sk-…1234" for long secrets, "••••" otherwise: enough to tell keys apart, not to use one."""
        if not plain or len(plain) < _MASK_MIN_LENGTH:
            return _MASK
        return f"{plain[:3]}\u2026{plain[-4:]}"
