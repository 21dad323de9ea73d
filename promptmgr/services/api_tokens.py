"""API tokens for the REST API (hosted mode): make, list, revoke, and authenticate a request.

A token acts as one member of one workspace with a role fixed when it is made: never above the
role of whoever makes it nor of the member it acts for. On every request the member's current
role caps it again (a demoted member's tokens are demoted with them; a removed or deactivated
member's tokens stop), and a revoked or expired token is refused at once (authenticate reads the
row each time; nothing is cached).

Why SHA-256 and not argon2: the secret is 256 random bits, so no dictionary or brute force can
reach it and a slow hash would add nothing; a salted slow hash would also make the lookup a scan
(no index on a salted hash) and cost ~0.2 s of CPU per API request, itself a denial of service.
The same reasoning covers refresh and link tokens (tokens.token_hash)."""
from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta, timezone

from sqlalchemy.exc import IntegrityError

from ..context import ROLES, TenantContext
from ..db import Database
from ..errors import AuthenticationError, DuplicateError, NotFoundError, PermissionDeniedError, ValidationError
from ..models_tokens import ApiToken
from ..policy import Action, require
from ..repositories.accounts import MemberRepository
from ..repositories.tokens import TokenRepository, token_state, touch
from ..tokens import token_hash
from .audit import record as audit

PREFIX = "pm_"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_EXPIRES = re.compile(r"^\s*(\d{1,5})\s*([hdw])\s*$", re.IGNORECASE)
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}
MAX_DAYS = 3650
LAST_USED_EVERY = timedelta(seconds=60)  # last_used_at is written at most this often per token


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(value: datetime | None) -> datetime | None:
    return value if value is None or value.tzinfo else value.replace(tzinfo=timezone.utc)


def _rank(role: str | None) -> int:
    return ROLES.index(role) if role in ROLES else -1


def parse_expiry(text: str | None, now: datetime | None = None) -> datetime | None:
    """'90d', '12h', '2w' from now; 'never' for no expiry. Raises ValidationError."""
    value = (text or "").strip().lower()
    if value in ("never", "none"):
        return None
    match = _EXPIRES.match(value)
    if not match:
        raise ValidationError("api.tokens.bad_expiry", value=(text or "")[:20])
    delta = timedelta(**{_UNITS[match.group(2).lower()]: int(match.group(1))})
    if delta <= timedelta(0) or delta > timedelta(days=MAX_DAYS):
        raise ValidationError("api.tokens.bad_expiry", value=(text or "")[:20])
    return (now or _now()) + delta


def _public(token: ApiToken, email: str | None, now: datetime) -> dict:
    expires = _aware(token.expires_at)
    status = ("revoked" if token.revoked_at is not None else "expired" if expires is not None and expires <= now
              else "active")
    return {"id": token.id, "name": token.name, "user": email, "role": token.role, "prefix": token.prefix,
            "created_at": _aware(token.created_at), "expires_at": expires, "last_used_at": _aware(token.last_used_at),
            "revoked_at": _aware(token.revoked_at), "status": status}


class ApiTokenService:
    def __init__(self, db: Database):
        self.db = db

    def create(self, ctx: TenantContext, name: str, user: str, role: str | None = None,
               expires: str | None = "90d") -> dict:
        """A new token for a member (by email) of the caller's workspace; its secret is in the
        result's `token` and nowhere else, ever. Raises PermissionDeniedError (a role above the
        caller's or the member's), NotFoundError (not a member), DuplicateError, ValidationError."""
        require(ctx, Action.MANAGE_TOKENS)
        name = (name or "").strip()
        if not NAME.match(name):
            raise ValidationError("api.tokens.bad_name", name=name[:40])
        expires_at = parse_expiry(expires)
        secret = PREFIX + secrets.token_urlsafe(32)
        try:
            with self.db.session(write=True) as session:
                found = MemberRepository(session, ctx).member_by_email((user or "").strip().lower())
                if found is None:
                    raise NotFoundError("auth.user_unknown", who=str(user)[:80])
                membership, member = found
                role = role or membership.role
                if role not in ROLES:
                    raise ValidationError("auth.role_invalid", role=str(role)[:20], allowed=", ".join(ROLES))
                if _rank(role) > min(_rank(ctx.role), _rank(membership.role)):
                    raise PermissionDeniedError("auth.role_above_own", role=role)
                repo = TokenRepository(session, ctx)
                if repo.by_name(name) is not None:
                    raise DuplicateError("api.tokens.duplicate", name=name)
                token = repo.add(ApiToken(user_id=member.id, created_by=ctx.user_id or None, name=name, role=role,
                                          prefix=secret[:10], token_hash=token_hash(secret), expires_at=expires_at))
                audit(session, ctx, "token.create", ("token", name), None,
                      {"member": member.email, "role": role, "expires_at": expires_at})
                result = _public(token, member.email, _now())
        except IntegrityError:  # the same name made concurrently
            raise DuplicateError("api.tokens.duplicate", name=name) from None
        return {**result, "token": secret}

    def list(self, ctx: TenantContext) -> list[dict]:
        """The workspace's tokens (never their secrets), oldest first. Raises PermissionDeniedError."""
        require(ctx, Action.MANAGE_TOKENS)
        now = _now()
        with self.db.session() as session:
            return [_public(token, user.email, now) for token, user in TokenRepository(session, ctx).tokens()]

    def revoke(self, ctx: TenantContext, name: str) -> dict:
        """Refuse a token from now on (its next request fails). Raises NotFoundError, PermissionDeniedError."""
        require(ctx, Action.MANAGE_TOKENS)
        with self.db.session(write=True) as session:
            repo = TokenRepository(session, ctx)
            token = repo.by_name((name or "").strip())
            if token is None:
                raise NotFoundError("api.tokens.unknown", name=str(name)[:100])
            if token.revoked_at is None:
                token.revoked_at = _now()
                session.add(token)
                audit(session, ctx, "token.revoke", ("token", token.name), {"revoked": False}, {"revoked": True})
            email = MemberRepository(session, ctx).member(token.user_id)
            return _public(token, email[1].email if email else None, _now())

    def authenticate(self, secret: str | None, locale: str | None = None) -> TenantContext:
        """The caller a secret stands for (no caller before this: like AuthService.verify_session).
        Raises AuthenticationError for an unknown, revoked or expired token, or one whose member,
        membership or workspace is gone or inactive."""
        if not secret or not secret.startswith(PREFIX) or len(secret) > 200:
            raise AuthenticationError("api.tokens.invalid")
        now = _now()
        with self.db.session() as session:
            state = token_state(session, token_hash(secret))
        if state is None:
            raise AuthenticationError("api.tokens.invalid")
        token, user_active, member_role, tenant_active, user_locale, default_locale = state
        expires = _aware(token.expires_at)
        if (token.revoked_at is not None or (expires is not None and expires <= now) or not user_active
                or not tenant_active or member_role is None):
            raise AuthenticationError("api.tokens.invalid")
        # The member's role today caps the token's (a demotion demotes their tokens too).
        role = token.role if _rank(token.role) <= _rank(member_role) else member_role
        last = _aware(token.last_used_at)
        if last is None or now - last >= LAST_USED_EVERY:
            with self.db.session(write=True) as session:
                touch(session, token.id, now)
        return TenantContext(token.tenant_id, token.user_id, role, locale or user_locale or default_locale,
                             token_id=token.id)
