"""Second factor (hosted mode): TOTP (pyotp) with a QR code for enrolment (segno, pure Python, SVG
data URI), and ten single-use recovery codes.

The TOTP secret is stored encrypted with the SecretBox that protects provider keys. Recovery codes
are stored as HMAC-SHA256 under a key derived from PROMPTMGR_SECRET_KEY: ~50 random bits each, so a
plain hash of a stolen database could be brute-forced, a keyed one cannot without the server's key;
and checking ten of them costs microseconds, not ten argon2 runs."""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import datetime, timezone

from ..context import TenantContext
from ..db import Database
from ..errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from ..models import Tenant, User
from ..policy import Action, require
from ..repositories.accounts import AccountRepository, MemberRepository
from ..tokens import derive

RECOVERY_CODES = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no look-alikes (0/o, 1/l/i)
ISSUER = "promptmgr"
REQUIRE_MFA = ("none", "admins", "everyone")


def _audit(session, *, action: str, actor_user_id: int | None, workspace_id: int | None, target: str = "",
           before: dict | None = None, after: dict | None = None) -> None:
    """Record one audit event in the caller's transaction (wired to the audit log at merge; it never
    receives a secret or a code)."""


def mfa_setup_required(tenant: Tenant, role: str, user: User) -> bool:
    """The workspace requires MFA of this member and they have not set it up."""
    required = (tenant.settings or {}).get("require_mfa", "none")
    applies = required == "everyone" or (required == "admins" and role in ("admin", "owner"))
    return applies and not user.mfa_enabled


def _rank(role: str) -> int:
    from ..context import ROLES

    return ROLES.index(role) if role in ROLES else -1


class SecondFactor:
    """Checks and makes second factors; shared by login (AuthService) and enrolment (MfaService)."""

    def __init__(self, box, secret_key: str | None):
        self.box = box
        self._secret_key = secret_key

    def _recovery_key(self) -> bytes:
        if not self._secret_key:
            raise ValidationError("auth.secret_key_required")
        return derive(self._secret_key, "recovery-codes")

    def recovery_hash(self, code: str) -> str:
        normalized = "".join(ch for ch in (code or "").lower() if ch.isalnum())
        return hmac.new(self._recovery_key(), normalized.encode("utf-8"), hashlib.sha256).hexdigest()

    def new_recovery_codes(self) -> tuple[list[str], list[str]]:
        """(codes shown once to the user, their hashes to store)."""
        codes = []
        for _ in range(RECOVERY_CODES):
            raw = "".join(secrets.choice(_ALPHABET) for _ in range(10))
            codes.append(f"{raw[:5]}-{raw[5:]}")
        return codes, [self.recovery_hash(code) for code in codes]

    def totp_step(self, secret: str, code: str | None, after: int | None = None) -> int | None:
        """The time step of a valid code (this one or a neighbour, for clock drift) later than
        `after`, else None: a code already accepted is not accepted again (RFC 6238, 5.2)."""
        import pyotp

        code = "".join((code or "").split())
        if len(code) != 6 or not code.isdigit():
            return None
        totp = pyotp.TOTP(secret)
        now = int(time.time()) // totp.interval
        for step in (now, now - 1, now + 1):
            if (after is None or step > after) and hmac.compare_digest(totp.generate_otp(step), code):
                return step
        return None

    def totp_ok(self, secret: str, code: str | None) -> bool:
        return self.totp_step(secret, code) is not None

    def check(self, user: User, code: str | None) -> bool:
        """A TOTP code not used before, or an unused recovery code (removed: it works once)."""
        if not code or len(code) > 64 or not user.mfa_secret_encrypted:
            return False
        step = self.totp_step(self.box.decrypt(user.mfa_secret_encrypted), code, user.mfa_last_step)
        if step is not None:
            user.mfa_last_step = step
            return True
        hashed = self.recovery_hash(code)
        codes = list(user.recovery_codes or [])
        match = next((h for h in codes if hmac.compare_digest(h, hashed)), None)
        if match is None:
            return False
        codes.remove(match)
        user.recovery_codes = codes
        return True


class MfaService:
    def __init__(self, db: Database, second_factor: SecondFactor):
        self.db = db
        self.factor = second_factor

    def _me(self, session, ctx: TenantContext) -> User:
        found = MemberRepository(session, ctx).member(ctx.user_id)
        if found is None:
            raise NotFoundError("auth.user_unknown", who=str(ctx.user_id))
        return found[1]

    def status(self, ctx: TenantContext) -> dict:
        """{"enabled", "required", "recovery_codes_left"} for the caller. Raises NotFoundError."""
        require(ctx, Action.OWN_PREFERENCES)
        with self.db.session() as session:
            user = self._me(session, ctx)
            tenant = session.get(Tenant, ctx.tenant_id)
            required = (tenant.settings or {}).get("require_mfa", "none")
            applies = required == "everyone" or (required == "admins" and ctx.role in ("admin", "owner"))
            return {"enabled": user.mfa_enabled, "required": applies,
                    "recovery_codes_left": len(user.recovery_codes or [])}

    def begin_enrolment(self, ctx: TenantContext) -> dict:
        """A new TOTP secret for the caller: {"secret", "uri", "qr_svg"} (a data: URI). Raises
        ConflictError when MFA is already on."""
        import pyotp
        import segno

        require(ctx, Action.OWN_PREFERENCES)
        secret = pyotp.random_base32()
        with self.db.session(write=True) as session:
            user = self._me(session, ctx)
            if user.mfa_enabled:
                raise ConflictError("auth.mfa_already_on")
            user.mfa_secret_encrypted = self.factor.box.encrypt(secret)
            session.add(user)
            uri = pyotp.TOTP(secret).provisioning_uri(name=user.email or user.username, issuer_name=ISSUER)
        return {"secret": secret, "uri": uri, "qr_svg": segno.make(uri, error="m").svg_data_uri(scale=4)}

    def confirm_enrolment(self, ctx: TenantContext, code: str) -> list[str]:
        """Turn MFA on with a code from the app; returns the recovery codes (shown once). Raises
        ValidationError (wrong code, enrolment not begun), ConflictError (already on)."""
        require(ctx, Action.OWN_PREFERENCES)
        with self.db.session(write=True) as session:
            user = self._me(session, ctx)
            if user.mfa_enabled:
                raise ConflictError("auth.mfa_already_on")
            if not user.mfa_secret_encrypted:
                raise ValidationError("auth.mfa_not_started")
            if not self.factor.totp_ok(self.factor.box.decrypt(user.mfa_secret_encrypted), code):
                raise ValidationError("auth.code_wrong")
            codes, hashes = self.factor.new_recovery_codes()
            user.mfa_enabled, user.recovery_codes = True, hashes
            user.mfa_last_step = self.factor.totp_step(self.factor.box.decrypt(user.mfa_secret_encrypted), code)
            session.add(user)
            _audit(session, action="mfa.enabled", actor_user_id=ctx.user_id, workspace_id=ctx.tenant_id,
                   target=user.email or user.username)
        return codes

    def reset(self, ctx: TenantContext, user_id: int) -> None:
        """An admin turns a member's MFA off (lost phone): their sessions end, they enrol again.
        Raises NotFoundError (not a member), PermissionDeniedError (a higher role than the caller)."""
        require(ctx, Action.MANAGE_MEMBERS)
        with self.db.session(write=True) as session:
            found = MemberRepository(session, ctx).member(user_id)
            if found is None:
                raise NotFoundError("auth.user_unknown", who=str(user_id))
            membership, user = found
            if _rank(membership.role) > _rank(ctx.role):
                raise PermissionDeniedError("auth.role_above_own", role=membership.role)
            user.mfa_enabled, user.mfa_secret_encrypted, user.recovery_codes = False, None, []
            user.mfa_last_step = None
            user.session_epoch += 1
            session.add(user)
            AccountRepository(session).revoke_user(user.id, datetime.now(timezone.utc))
            _audit(session, action="mfa.reset", actor_user_id=ctx.user_id or None, workspace_id=ctx.tenant_id,
                   target=user.email or user.username)
