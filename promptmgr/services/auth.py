"""Logging in and sessions (hosted mode, PROMPTMGR_MODE=multi).

A session is a refresh-token family: login starts one; each refresh rotates its token; presenting a
token that was already rotated (a stolen copy, or the victim after the thief) revokes the family.
(Within refresh_reuse_grace_seconds, default 10, of its rotation a token may rotate again: the
requests of one page refresh at once with the same cookie, and must not log the person out.)
The access token is a 15-minute JWT, and yet sessions end at once: verify_session checks, in one
indexed query per request, that the user is active, their session epoch is the token's (a password
change, deactivation or MFA reset bumps it), they are still a member of the token's workspace, and
the token's family is not revoked (logout). The role comes from that query, not from the token, so a
changed role applies on the next request too.

login, refresh, logout and verify_* take no TenantContext: they run before there is a caller (they
are what produces the TenantContext), like AdminService.ensure_tenant. switch_workspace has a caller."""
from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from ..config import Settings
from ..context import TenantContext
from ..db import Database
from ..errors import AuthenticationError, LockedOutError, NotFoundError, ValidationError
from ..models import LoginAttempt, RefreshToken, Tenant, User
from ..passwords import PasswordHasher
from ..policy import Action, require
from ..repositories.accounts import AccountRepository
from ..tokens import AccessTokens, CsrfTokens, random_token, token_hash
from .mfa import SecondFactor, mfa_setup_required

_MAX_EMAIL, _MAX_ADDRESS, _MAX_AGENT = 254, 64, 300


def _audit(session, *, action: str, actor_user_id: int | None, workspace_id: int | None, target: str = "",
           before: dict | None = None, after: dict | None = None, address: str | None = None,
           user_agent: str | None = None) -> None:
    """Record one audit event in the caller's transaction (wired to the audit log at merge; it never
    receives a password, token or secret)."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def normalize_email(email: str | None) -> str:
    return (email or "").strip().lower()[:_MAX_EMAIL]


@dataclass(frozen=True)
class SessionTokens:
    """What the web layer sets as cookies after a login, refresh or workspace switch."""

    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime
    family_id: str
    context: TenantContext
    mfa_setup_required: bool = False  # the workspace requires MFA and the user has none yet


@dataclass(frozen=True)
class LoginResult:
    status: str  # "ok" (session set) | "mfa_required" (ask for the code, then call login again with it)
    session: SessionTokens | None = None


@dataclass(frozen=True)
class VerifiedSession:
    context: TenantContext
    family_id: str
    expires_at: datetime
    mfa_setup_required: bool


class AuthService:
    def __init__(self, db: Database, settings: Settings, hasher: PasswordHasher, second_factor: SecondFactor):
        self.db = db
        self.settings = settings
        self.hasher = hasher
        self.second_factor = second_factor
        self._access: AccessTokens | None = None
        self._csrf: CsrfTokens | None = None

    # --- keys ----------------------------------------------------------------------------------
    def _key(self) -> str:
        if not self.settings.secret_key:
            raise ValidationError("auth.secret_key_required")
        return self.settings.secret_key

    @property
    def access_tokens(self) -> AccessTokens:
        if self._access is None:
            self._access = AccessTokens(self._key(), self.settings.access_token_minutes)
        return self._access

    def _csrf_tokens(self) -> CsrfTokens:
        if self._csrf is None:
            self._csrf = CsrfTokens(self._key())
        return self._csrf

    def csrf_token(self, binding: str) -> str:
        """A CSRF token bound to `binding` (the session's family id, or before login a pre-session
        cookie value). Raises ValidationError without PROMPTMGR_SECRET_KEY."""
        return self._csrf_tokens().issue(binding)

    def check_csrf(self, token: str | None, binding: str | None) -> bool:
        """True when `token` was issued for `binding` by this server. Raises ValidationError
        without PROMPTMGR_SECRET_KEY."""
        return self._csrf_tokens().check(token, binding)

    # --- login ---------------------------------------------------------------------------------
    def login(self, email: str, password: str, code: str | None = None, *, address: str = "",
              user_agent: str = "", workspace: str | None = None) -> LoginResult:
        """Check the password (and the MFA code when the user has MFA). Raises AuthenticationError
        (one generic message), LockedOutError after repeated failures."""
        email = normalize_email(email)
        address, user_agent = (address or "")[:_MAX_ADDRESS], (user_agent or "")[:_MAX_AGENT]
        password = password or ""
        self._check_lockout(email, address)
        failure: AuthenticationError | None = None
        with self.db.session(write=True) as session:
            repo = AccountRepository(session)
            user = repo.user_by_email(email) if email else None
            if user is None or not user.password_hash:
                self.hasher.verify_dummy(password[:1024])  # the same work as a known email
                failure = AuthenticationError("auth.wrong_credentials")
            else:
                ok, new_hash = self.hasher.verify(password, user.password_hash)
                if not ok or not user.active:
                    failure = AuthenticationError("auth.wrong_credentials")
                else:
                    if new_hash:  # PBKDF2, or argon2 with old parameters: upgraded now
                        user.password_hash = new_hash
                        session.add(user)
                    if user.mfa_enabled and not code:
                        return LoginResult("mfa_required")
                    if user.mfa_enabled and not self.second_factor.check(user, code):
                        failure = AuthenticationError("auth.code_wrong")
            if failure is None:
                memberships = repo.memberships(user.id)
                if not memberships:
                    failure = AuthenticationError("auth.no_workspace")
            if failure is not None:
                repo.add(LoginAttempt(email=email, address=address, succeeded=False))
                _audit(session, action="login.failure", actor_user_id=user.id if user else None, workspace_id=None,
                       target=email, address=address, user_agent=user_agent)
            else:
                chosen = next((m for m in memberships if m[1].slug == workspace), None) if workspace else None
                if chosen is None:
                    preferred = (user.preferences or {}).get("workspace")
                    chosen = next((m for m in memberships if m[1].id == preferred), memberships[0])
                membership, tenant = chosen
                repo.add(LoginAttempt(email=email, address=address, succeeded=True))
                self._forget_old_attempts(repo)
                user.last_login_at = _now()
                session.add(user)
                tokens = self._start(session, user, membership.role, tenant, address, user_agent)
                _audit(session, action="login.success", actor_user_id=user.id, workspace_id=tenant.id,
                       target=email, address=address, user_agent=user_agent)
        if failure is not None:
            raise failure
        return LoginResult("ok", tokens)

    def _forget_old_attempts(self, repo: AccountRepository) -> None:
        # Attempts only matter within the window. Now and then (1 login in 200) a success sweeps
        # the whole table, so failures for unknown emails do not pile up forever.
        if secrets.randbelow(200) == 0:
            repo.forget_attempts(_now() - timedelta(days=1))

    def _check_lockout(self, email: str, address: str) -> None:
        now = _now()
        window = timedelta(minutes=self.settings.login_window_minutes)
        limit = self.settings.login_max_failures
        with self.db.session() as session:
            repo = AccountRepository(session)
            for key in ({"email": email} if email else {}), ({"address": address} if address else {}):
                if not key:
                    continue
                count, last = repo.failures(**key, since=now - window)
                if count >= limit and last is not None:
                    # Backoff: 1 minute at the limit, doubling with each further failure, at most the window.
                    wait = min(timedelta(minutes=2 ** (count - limit)), window)
                    last = _aware(last)
                    if now < last + wait:
                        raise LockedOutError(seconds=int((last + wait - now).total_seconds()) + 1)

    # --- sessions ------------------------------------------------------------------------------
    def _start(self, session, user: User, role: str, tenant: Tenant, address: str, user_agent: str,
               family_id: str | None = None) -> SessionTokens:
        """A new refresh token (of a new family unless given) and its access token."""
        now = _now()
        family_id = family_id or str(uuid.uuid4())
        refresh = random_token()
        expires = now + timedelta(days=self.settings.refresh_token_days)
        AccountRepository(session).add(RefreshToken(
            token_hash=token_hash(refresh), family_id=family_id, user_id=user.id, workspace_id=tenant.id,
            expires_at=expires, address=address, user_agent=user_agent))
        setup = mfa_setup_required(tenant, role, user)
        access, access_expires = self.access_tokens.issue(
            {"sub": str(user.id), "ws": tenant.id, "role": role, "ep": user.session_epoch, "fam": family_id,
             "mfa_setup": setup}, now)
        ctx = TenantContext(tenant.id, user.id, role, user.locale or tenant.default_locale)
        return SessionTokens(access, access_expires, refresh, expires, family_id, ctx, setup)

    def refresh(self, refresh_token: str, *, address: str = "", user_agent: str = "") -> SessionTokens:
        """Rotate a refresh token into a new pair. A token already rotated revokes its whole family.
        Raises AuthenticationError."""
        return self._rotate(refresh_token, address, user_agent)

    def _rotate(self, refresh_token: str, address: str, user_agent: str, *, user_id: int | None = None,
                workspace: Tenant | None = None) -> SessionTokens:
        now = _now()
        grace = timedelta(seconds=self.settings.refresh_reuse_grace_seconds)
        failure: str | None = None
        with self.db.session(write=True) as session:
            repo = AccountRepository(session)
            row = repo.refresh_token(token_hash(refresh_token or "")) if refresh_token else None
            if row is None or row.revoked_at is not None or (user_id is not None and row.user_id != user_id):
                raise AuthenticationError("auth.session_invalid")
            if row.rotated_at is not None and now - _aware(row.rotated_at) > grace:
                failure = "reused"
            elif row.rotated_at is None:
                # Of two requests rotating one token at the same moment, the loser lands within the grace.
                repo.mark_rotated(row.id, now)
            # A token rotated within the grace: several requests of one page refreshed at once (the
            # browser sends the same cookie with each); each gets a sibling in the family.
            if failure is None and _aware(row.expires_at) <= now:
                raise AuthenticationError("auth.session_invalid")
            if failure is None:
                user = repo.user(row.user_id)
                tenant = workspace or repo.tenant(row.workspace_id)
                membership = repo.membership(row.user_id, tenant.id) if tenant else None
                if user is None or not user.active or membership is None or not tenant.active:
                    failure = "ended"
                else:
                    tokens = self._start(session, user, membership.role, tenant, (address or "")[:_MAX_ADDRESS],
                                         (user_agent or "")[:_MAX_AGENT], family_id=row.family_id)
        if failure is not None:
            # Its own transaction: the revocation must stay even though this call fails.
            with self.db.session(write=True) as session:
                AccountRepository(session).revoke_family(row.family_id, now)
                if failure == "reused":
                    _audit(session, action="session.reuse_detected", actor_user_id=row.user_id,
                           workspace_id=row.workspace_id, target=row.family_id, address=address,
                           user_agent=user_agent)
            raise AuthenticationError("auth.session_invalid")
        return tokens

    def logout(self, refresh_token: str | None) -> None:
        """Revoke the session the refresh token belongs to (unknown tokens are ignored)."""
        if not refresh_token:
            return
        with self.db.session(write=True) as session:
            repo = AccountRepository(session)
            row = repo.refresh_token(token_hash(refresh_token))
            if row is not None:
                repo.revoke_family(row.family_id, _now())
                _audit(session, action="logout", actor_user_id=row.user_id, workspace_id=row.workspace_id,
                       target=row.family_id)

    def verify_session(self, access_token: str, *, allow_mfa_setup: bool = False) -> VerifiedSession:
        """The caller of a request. Raises AuthenticationError for a bad, expired or ended session,
        and (unless allow_mfa_setup) while the workspace's required MFA is not set up."""
        claims = self.access_tokens.decode(access_token)
        try:
            user_id, tenant_id = int(claims["sub"]), int(claims["ws"])
            epoch, family = int(claims["ep"]), str(claims["fam"])
        except (KeyError, TypeError, ValueError):
            raise AuthenticationError("auth.session_invalid") from None
        with self.db.session() as session:
            state = AccountRepository(session).session_state(user_id, tenant_id, family)
        if state is None:
            raise AuthenticationError("auth.session_invalid")
        active, current_epoch, role, tenant_active, live, locale, default_locale = state
        if not (active and tenant_active and live and current_epoch == epoch):
            raise AuthenticationError("auth.session_invalid")
        setup = bool(claims.get("mfa_setup"))
        if setup and not allow_mfa_setup:
            raise AuthenticationError("auth.mfa_setup_required")
        return VerifiedSession(TenantContext(tenant_id, user_id, role, locale or default_locale), family,
                               datetime.fromtimestamp(int(claims["exp"]), timezone.utc), setup)

    def verify_access(self, access_token: str) -> TenantContext:
        """The TenantContext of a valid access token. Raises AuthenticationError."""
        return self.verify_session(access_token).context

    def switch_workspace(self, ctx: TenantContext, refresh_token: str, slug: str, *, address: str = "",
                         user_agent: str = "") -> SessionTokens:
        """A new session pair in another workspace the caller belongs to (same session family).
        Raises NotFoundError (not a member), AuthenticationError (session ended)."""
        require(ctx, Action.OWN_PREFERENCES)
        with self.db.session() as session:
            repo = AccountRepository(session)
            tenant = repo.tenant_by_slug((slug or "").strip().lower())
            if tenant is None or not tenant.active or repo.membership(ctx.user_id, tenant.id) is None:
                raise NotFoundError("auth.workspace_unknown", slug=slug)
        tokens = self._rotate(refresh_token, address, user_agent, user_id=ctx.user_id, workspace=tenant)
        with self.db.session(write=True) as session:
            user = AccountRepository(session).user(ctx.user_id)
            user.preferences = {**(user.preferences or {}), "workspace": tenant.id}
            session.add(user)
        return tokens


def check_hosted_settings(settings: Settings, workers: int = 1) -> None:
    """Refuse to serve hosted mode unsafely: it needs PROMPTMGR_SECRET_KEY (sessions are signed with
    it), and SQLite cannot be shared by several worker processes (use PostgreSQL). The web layer and
    `promptmgr serve` call this before starting. Raises ValidationError."""
    from ..db import sqlite_path

    if not settings.secret_key or len(settings.secret_key) < 16:
        raise ValidationError("auth.secret_key_required")
    if workers > 1 and settings.db_url.startswith("sqlite"):
        raise ValidationError("auth.sqlite_workers", workers=workers,
                              path=str(sqlite_path(settings.db_url) or settings.db_url))
