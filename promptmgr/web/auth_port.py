"""The web layer's one doorway to the account services (services/auth.py, services/mfa.py,
services/accounts.py): every call the pages and the session middleware make goes through here,
synchronously (the middleware runs these in a worker thread). Nothing here decides who may do
what: the services do."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone

from ..context import TenantContext
from ..errors import AuthenticationError, LockedOutError, PromptMgrError

log = logging.getLogger("promptmgr.web")


@dataclass(frozen=True)
class Pair:
    """A session as cookies: the two tokens, their lifetimes, and the CSRF token bound to it."""

    access: str
    refresh: str
    access_max_age: int
    refresh_max_age: int
    csrf: str


@dataclass(frozen=True)
class Session:
    ctx: TenantContext
    family: str
    mfa_setup_required: bool


@dataclass(frozen=True)
class LoginOutcome:
    pair: Pair | None = None
    needs_code: bool = False
    code_wrong: bool = False
    locked_minutes: int = 0


def _seconds_until(moment: datetime) -> int:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return max(0, int((moment - datetime.now(timezone.utc)).total_seconds()))


class AuthPort:
    def __init__(self, services):
        self.services = services

    @property
    def auth(self):
        return self.services.auth

    def pair(self, tokens) -> Pair:
        return Pair(tokens.access_token, tokens.refresh_token, _seconds_until(tokens.access_expires_at),
                    _seconds_until(tokens.refresh_expires_at), self.auth.csrf_token(tokens.family_id))

    # --- sessions ----------------------------------------------------------------------------
    def session(self, access: str | None) -> Session | None:
        """The session an access token stands for, or None (expired, tampered, revoked, unknown).
        A session whose workspace requires MFA not yet set up is returned (flagged): it may only
        reach the MFA page."""
        if not access:
            return None
        try:
            verified = self.auth.verify_session(access, allow_mfa_setup=True)
        except PromptMgrError:
            return None
        return Session(verified.context, verified.family_id, verified.mfa_setup_required)

    def refresh(self, refresh: str) -> Pair | None:
        try:
            return self.pair(self.auth.refresh(refresh))
        except PromptMgrError:
            return None

    def login(self, email: str, password: str, code: str | None, address: str | None,
              user_agent: str | None) -> LoginOutcome:
        try:
            result = self.auth.login(email, password, code, address=address or "", user_agent=user_agent or "")
        except LockedOutError as exc:
            return LoginOutcome(locked_minutes=max(1, -(-int(exc.params.get("seconds", 60)) // 60)))
        except AuthenticationError as exc:
            return LoginOutcome(needs_code=exc.message_key == "auth.code_wrong",
                                code_wrong=exc.message_key == "auth.code_wrong")
        if result.status == "mfa_required":
            return LoginOutcome(needs_code=True)
        return LoginOutcome(pair=self.pair(result.session))

    def logout(self, refresh: str | None) -> None:
        self.auth.logout(refresh)

    def switch(self, ctx: TenantContext, refresh: str | None, slug: str, address, user_agent) -> Pair:
        """Raises NotFoundError (not a member), AuthenticationError (the session ended)."""
        return self.pair(self.auth.switch_workspace(ctx, refresh or "", slug, address=address or "",
                                                    user_agent=user_agent or ""))

    # --- CSRF: bound to the session's family, or before sign-in to the pre-session cookie ---------
    def csrf_token(self, binding: str) -> str:
        return self.auth.csrf_token(binding)

    def csrf_ok(self, token: str | None, binding: str | None) -> bool:
        return bool(binding) and self.auth.check_csrf(token, binding)

    # --- MFA ---------------------------------------------------------------------------------
    def mfa_status(self, ctx: TenantContext) -> dict:
        return self.services.mfa.status(ctx)

    def mfa_begin(self, ctx: TenantContext) -> dict:
        return self.services.mfa.begin_enrolment(ctx)

    def mfa_confirm(self, ctx: TenantContext, code: str) -> list[str]:
        return self.services.mfa.confirm_enrolment(ctx, code)

    # --- invitations, resets, workspaces, SSO -----------------------------------------------------
    def accept_invitation(self, token: str, password: str) -> dict:
        """Raises ValidationError (auth.link_invalid, password policy), ConflictError."""
        return self.services.accounts.accept_invitation(token, password)

    def confirm_reset(self, token: str, password: str) -> str:
        """Raises ValidationError (auth.link_invalid, password policy)."""
        return self.services.accounts.confirm_password_reset(token, password)

    def request_reset(self, email: str, address=None, user_agent=None) -> None:
        try:
            self.services.accounts.request_password_reset(email)
        except PromptMgrError as exc:  # the page says the same thing whatever happened
            log.warning("password reset request failed: %s", exc.message_key)

    def sso_login(self, config, claims: dict, email: str, address=None, user_agent=None) -> Pair:
        """Raises AuthenticationError, ValidationError, ConflictError (see SsoService.login)."""
        return self.pair(self.services.sso.login(email, name=str(claims.get("name") or ""), role=config.role,
                                                 workspace=config.workspace, address=address or "",
                                                 user_agent=user_agent or ""))
