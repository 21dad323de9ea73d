"""Encryption of stored API keys (Fernet), and keeping keys out of everything stored or shown.

The encryption key is a random key generated once into <home>/secret.key (mode 0600), or comes
from the PROMPTMGR_SECRET_KEY passphrase through scrypt: salted and memory-hard, so a stolen
database costs an attacker ~0.1 s and 32 MB per guess instead of one hash step. Each passphrase
token carries its salt and scrypt parameters ("v2$scrypt$N,r,p$SALT$FERNET"), so the data stays
readable wherever the database goes; tokens of the old single-step derivation still decrypt and
are re-encrypted once (see ProviderService)."""
from __future__ import annotations

import base64
import hashlib
import os
import re
import threading
from pathlib import Path
from urllib.parse import parse_qsl, quote_plus, urlsplit, urlunsplit

from .errors import ValidationError

KEY_FILE_NAME = "secret.key"
# The old derivation (HKDF, one hash step): only to read and upgrade tokens written before scrypt.
_HKDF_SALT = b"promptmgr/secretbox/v1"
_HKDF_INFO = b"promptmgr api key encryption"
_MASK = "\u2022\u2022\u2022\u2022"
_MASK_MIN_LENGTH = 16  # shorter secrets would reveal too large a share of themselves

TOKEN_PREFIX = "v2$scrypt$"
# OWASP's scrypt floor is N=2**17 with r=8; 2**15 keeps each derivation at ~32 MB and ~0.1 s on a
# small server, which a long-running app pays once per salt (cached), not per key.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 15, 8, 1
_SCRYPT_MAXMEM = 128 * 1024 * 1024
_SALT_BYTES = 16

# Scrubbing: this many consecutive characters of a key are treated as the key.
FRAGMENT_LENGTH = 8
SCRUBBED = "***"


# --- key derivation ------------------------------------------------------------------------
def derive_key(passphrase: str, salt: bytes, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> bytes:
    """A Fernet key (urlsafe base64 of 32 bytes) from a passphrase and salt, with scrypt."""
    raw = hashlib.scrypt(passphrase.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_SCRYPT_MAXMEM, dklen=32)
    return base64.urlsafe_b64encode(raw)


def derive_legacy_key(passphrase: str) -> bytes:
    """The single-step HKDF derivation used before scrypt (reading old tokens only)."""
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


def _parse_token(token: str) -> tuple[int, int, int, bytes, str]:
    """(n, r, p, salt, fernet token) of a "v2$scrypt$..." token; ValueError when malformed."""
    params, salt, inner = token[len(TOKEN_PREFIX):].split("$", 2)
    n, r, p = (int(v) for v in params.split(","))
    if not (2 ** 10 <= n <= 2 ** 20 and 1 <= r <= 32 and 1 <= p <= 16):  # never let a token exhaust memory
        raise ValueError("scrypt parameters out of range")
    return n, r, p, base64.urlsafe_b64decode(salt.encode("ascii")), inner


class SecretBox:
    def __init__(self, home: Path, secret_key: str | None):
        self._home = Path(home)
        self._secret_key = secret_key or None
        self._fernet = None  # key-file mode
        self._derived: dict[tuple, object] = {}  # passphrase mode: (salt, n, r, p) -> Fernet
        self._salt: bytes | None = None  # the salt new tokens of this process use
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        source = "PROMPTMGR_SECRET_KEY" if self._secret_key else str(self.key_path)
        return f"SecretBox(key from {source})"

    @property
    def key_path(self) -> Path:
        return self._home / KEY_FILE_NAME

    def _file_box(self):
        # Created on first use so that read-only commands never write a key file.
        if self._fernet is None:
            with self._lock:
                if self._fernet is None:
                    from cryptography.fernet import Fernet

                    self._fernet = Fernet(_read_or_create_key_file(self.key_path))
        return self._fernet

    def _passphrase_box(self, salt: bytes | None, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P):
        """The Fernet of (salt, parameters); salt None is the old HKDF derivation."""
        cache_key = (salt, n, r, p)
        box = self._derived.get(cache_key)
        if box is None:
            from cryptography.fernet import Fernet

            with self._lock:
                box = self._derived.get(cache_key)
                if box is None:
                    key = derive_legacy_key(self._secret_key) if salt is None else \
                        derive_key(self._secret_key, salt, n, r, p)
                    box = self._derived[cache_key] = Fernet(key)
        return box

    def encrypt(self, plain: str) -> str:
        data = plain.encode("utf-8")
        if not self._secret_key:
            return self._file_box().encrypt(data).decode("ascii")
        if self._salt is None:
            with self._lock:
                if self._salt is None:
                    self._salt = os.urandom(_SALT_BYTES)
        inner = self._passphrase_box(self._salt).encrypt(data).decode("ascii")
        salt = base64.urlsafe_b64encode(self._salt).decode("ascii")
        return f"{TOKEN_PREFIX}{SCRYPT_N},{SCRYPT_R},{SCRYPT_P}${salt}${inner}"

    def decrypt(self, token: str) -> str:
        """The plain text; raises ValidationError("llm.secret_undecryptable") for a wrong key or a damaged token."""
        from cryptography.fernet import InvalidToken

        try:
            if token.startswith(TOKEN_PREFIX):
                if not self._secret_key:
                    raise ValueError("a passphrase token without a passphrase")
                n, r, p, salt, inner = _parse_token(token)
                box = self._passphrase_box(salt, n, r, p)
            else:
                box, inner = (self._passphrase_box(None) if self._secret_key else self._file_box()), token
            return box.decrypt(inner.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError, ValueError, TypeError, AttributeError):
            raise ValidationError("llm.secret_undecryptable") from None

    def adopt_salt(self, token: str | None) -> None:
        """Encrypt new keys with the salt of an existing token (same parameters), so reading all of a
        tenant's keys costs one scrypt derivation instead of one per key."""
        if self._salt is not None or not self._secret_key or not token or not token.startswith(TOKEN_PREFIX):
            return
        try:
            n, r, p, salt, _inner = _parse_token(token)
        except (ValueError, TypeError):
            return
        if (n, r, p) == (SCRYPT_N, SCRYPT_R, SCRYPT_P):
            self._salt = salt

    def is_legacy(self, token: str | None) -> bool:
        """True for a token of the old single-step passphrase derivation (to re-encrypt once)."""
        return bool(token and self._secret_key and not token.startswith(TOKEN_PREFIX))

    @staticmethod
    def mask(plain: str | None) -> str:
        """"sk-…1234" for long secrets, "••••" otherwise: enough to tell keys apart, not to use one."""
        if not plain or len(plain) < _MASK_MIN_LENGTH:
            return _MASK
        return f"{plain[:3]}\u2026{plain[-4:]}"


# --- credentials in URLs -----------------------------------------------------------------------
_SECRET_PARAM = re.compile(r"key|token|secret|passw|pwd|auth|sig|credential|session|code", re.IGNORECASE)
_URL_IN_TEXT = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>`]+")


def mask_url(url: str | None) -> str:
    """The URL with its password (user:pass@) and secret-looking query values masked."""
    if not url:
        return url or ""
    try:
        parts = urlsplit(url)
        host = parts.netloc
        if "@" in host:
            userinfo, host = host.rsplit("@", 1)
            user = userinfo.split(":", 1)[0]
            host = f"{user}:{_MASK}@{host}" if ":" in userinfo else f"{_MASK}@{host}"
        query = parts.query
        pairs = parse_qsl(query, keep_blank_values=True) if query else []
        if any(v and _SECRET_PARAM.search(k) for k, v in pairs):
            query = "&".join(f"{quote_plus(k)}={_MASK if v and _SECRET_PARAM.search(k) else quote_plus(v)}"
                             for k, v in pairs)
        elif host == parts.netloc:
            return url  # nothing to hide: keep the text exactly as it was
        return urlunsplit((parts.scheme, host, parts.path, query, parts.fragment))
    except ValueError:  # not parseable as a URL: hide everything after the scheme
        return url.split("://", 1)[0] + "://" + _MASK if "://" in url else _MASK


def url_secrets(url: str | None) -> list[str]:
    """The credential values inside a URL (the password, secret-looking query values)."""
    if not url:
        return []
    try:
        parts = urlsplit(url)
        found = [parts.password] if parts.password else []
        found += [v for k, v in parse_qsl(parts.query, keep_blank_values=True) if v and _SECRET_PARAM.search(k)]
    except ValueError:
        return []
    return found


def mask_urls_in_text(text: str) -> str:
    if "://" not in text:
        return text
    return _URL_IN_TEXT.sub(lambda m: mask_url(m.group(0)), text)


# --- scrubbing -----------------------------------------------------------------------------------
def scrub_secrets(text, secrets) -> str:
    """The text with every run of >= FRAGMENT_LENGTH consecutive characters of any secret replaced
    by "***" (providers echo keys partly: "sk-PROBESE...456789"), and URL credentials masked.

    One str.find pass per distinct fragment: ~0.1 ms per key for 10 KB of output, ~40 ms per key per MB."""
    if not isinstance(text, str) or not text:
        return text
    spans: list[tuple[int, int]] = []
    fragments = {secret[start:start + FRAGMENT_LENGTH]
                 for secret in secrets or () if isinstance(secret, str) and len(secret) >= FRAGMENT_LENGTH
                 for start in range(len(secret) - FRAGMENT_LENGTH + 1)}
    for fragment in fragments:
        at = text.find(fragment)
        while at != -1:
            spans.append((at, at + FRAGMENT_LENGTH))
            at = text.find(fragment, at + 1)
    if spans:
        spans.sort()
        out, last = [], 0
        merged_start, merged_end = spans[0]
        for start, end in spans[1:]:
            if start <= merged_end:
                merged_end = max(merged_end, end)
                continue
            out += [text[last:merged_start], SCRUBBED]
            last, (merged_start, merged_end) = merged_end, (start, end)
        out += [text[last:merged_start], SCRUBBED, text[merged_end:]]
        text = "".join(out)
    return mask_urls_in_text(text)


def scrub_value(value, secrets):
    """scrub_secrets over every string inside nested dicts and lists (error params, messages)."""
    if isinstance(value, str):
        return scrub_secrets(value, secrets)
    if isinstance(value, dict):
        return {k: scrub_value(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub_value(v, secrets) for v in value]
    return value


# --- the same for log records ---------------------------------------------------------------------
_LOG_SECRETS: set[str] = set()
_LOG_LOCK = threading.Lock()
_MAX_LOG_SECRETS = 256


def remember_secrets(*secrets: str | None) -> None:
    """Keys in use in this process: log records are scrubbed of them from now on."""
    fresh = {s for s in secrets if isinstance(s, str) and len(s) >= FRAGMENT_LENGTH} - _LOG_SECRETS
    if not fresh:
        return
    with _LOG_LOCK:
        if len(_LOG_SECRETS) + len(fresh) > _MAX_LOG_SECRETS:
            _LOG_SECRETS.clear()
        _LOG_SECRETS.update(fresh)
        _install_log_scrubber()


_installed = False


def _install_log_scrubber() -> None:
    # A record factory sees every record of every logger (litellm's too), before any handler.
    global _installed
    if _installed:
        return
    import logging

    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        if _LOG_SECRETS:
            try:
                message = record.getMessage()
            except Exception:  # a malformed record is the logging module's business
                return record
            scrubbed = scrub_secrets(message, tuple(_LOG_SECRETS))
            if scrubbed != message:
                record.msg, record.args = scrubbed, None
        return record

    logging.setLogRecordFactory(factory)
    _installed = True


# --- which environment variable holds a hosted model's key -------------------------------------------
# Environment variable names that hold credentials (llm/remote.py asks about the same ones).
KEY_NAME = re.compile(r"KEY|TOKEN|SECRET|CREDENTIAL", re.IGNORECASE)


def environment_secrets() -> list[str]:
    """Values of key-like environment variables (OPENAI_API_KEY, PROMPTMGR_SECRET_KEY...), to scrub."""
    return [v for k, v in os.environ.items() if KEY_NAME.search(k) and len(v) >= FRAGMENT_LENGTH]
