"""Password hashing and the password policy (hosted mode).

argon2id through passlib; PBKDF2-SHA256 hashes (from older deployments or imports) still verify and
are replaced by argon2 on the next successful login (verify_and_update). The cost is a setting:
production parameters by default, cheap ones in tests."""
from __future__ import annotations

from functools import lru_cache

from .errors import ValidationError
from .resources import data_path

COMMON_PASSWORDS = data_path("common_passwords.txt")
MAX_PASSWORD_LENGTH = 1024  # argon2 reads all of it: a megabyte "password" must not cost the server


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


class PasswordHasher:
    def __init__(self, memory_kib: int = 19456, time_cost: int = 2, parallelism: int = 1):
        from passlib.context import CryptContext

        parallelism = max(1, min(parallelism, memory_kib // 8))  # argon2 needs 8 KiB per lane
        self.context = CryptContext(schemes=["argon2", "pbkdf2_sha256"], deprecated="auto",
                                    argon2__type="ID", argon2__memory_cost=memory_kib,
                                    argon2__rounds=time_cost, argon2__parallelism=parallelism)
        # Verified against when the account does not exist or has no password, so that an unknown
        # email costs the same work as a known one (no timing difference to enumerate accounts).
        self._dummy = self.context.hash("promptmgr-dummy-password")

    def hash(self, password: str) -> str:
        return self.context.hash(password)

    def verify(self, password: str, stored: str | None) -> tuple[bool, str | None]:
        """(matches, new hash to store or None). A missing or unreadable hash costs a dummy verify."""
        if not stored or len(password) > MAX_PASSWORD_LENGTH:
            self.verify_dummy(password[:MAX_PASSWORD_LENGTH])
            return False, None
        try:
            return self.context.verify_and_update(password, stored)
        except (ValueError, TypeError):  # passlib's UnknownHashError is a ValueError
            self.verify_dummy(password)
            return False, None

    def verify_dummy(self, password: str) -> None:
        self.context.verify(password, self._dummy)


def check_password(password: str, email: str | None = None, min_length: int = 10) -> None:
    """The policy: long enough, not too long, not a common password, not the email. Raises
    ValidationError."""
    if len(password) < min_length:
        raise ValidationError("auth.password_too_short", min=min_length)
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationError("auth.password_too_long", max=MAX_PASSWORD_LENGTH)
    folded = password.strip().lower()
    if folded in common_passwords():
        raise ValidationError("auth.password_common")
    if email and (folded == email.strip().lower() or folded == email.strip().lower().split("@")[0]):
        raise ValidationError("auth.password_is_email")
