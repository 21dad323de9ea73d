"""Signing in through an OpenID Connect provider (hosted mode): the provider vouches for the email;
this service maps it to an account and starts a session like a password login does.

- A known account signs in to its workspaces (its last one first), whatever the provider.
- An unknown email (or an account of no workspace) joins the configured workspace
  (PROMPTMGR_OIDC_WORKSPACE) with the configured role, as an account without a password, when the
  workspace's allowed email domains (if any) and member limit let it in. Without a configured
  workspace only people already invited (or created) sign in.
- A deactivated account, or one without any workspace and nowhere to join, is refused.

Like AuthService.login this runs before there is a caller (it produces the TenantContext), so it
takes none and checks no policy; the web layer calls it only after the provider's signed id_token
was verified."""
from __future__ import annotations

from datetime import datetime, timezone

from ..context import ROLES, TenantContext
from ..db import Database
from ..errors import AuthenticationError, ConflictError, ValidationError
from ..models import LoginAttempt, User
from ..repositories.accounts import AccountRepository, MemberRepository
from .auth import AuthService, SessionTokens, normalize_email

_MAX_ADDRESS, _MAX_AGENT = 64, 300


class SsoService:
    def __init__(self, db: Database, auth: AuthService):
        self.db = db
        self.auth = auth

    def login(self, email: str, *, name: str = "", role: str = "viewer", workspace: str | None = None,
              address: str = "", user_agent: str = "") -> SessionTokens:
        """A session for the person the provider signed in. Raises AuthenticationError
        (auth.no_workspace, or a deactivated account: the generic message), ValidationError
        (auth.domain_not_allowed, a bad role), ConflictError (auth.member_limit)."""
        email = normalize_email(email)
        if role not in ROLES or role == "owner":  # an owner is made by an owner, never by a setting
            raise ValidationError("auth.role_invalid", role=role, allowed="viewer, editor, admin")
        address, user_agent = (address or "")[:_MAX_ADDRESS], (user_agent or "")[:_MAX_AGENT]
        with self.db.session(write=True) as session:
            repo = AccountRepository(session)
            user = repo.user_by_email(email)
            if user is not None and not user.active:
                raise AuthenticationError("auth.wrong_credentials")
            memberships = repo.memberships(user.id) if user is not None else []
            if not memberships:
                tenant = repo.tenant_by_slug(workspace.strip().lower()) if workspace else None
                if tenant is None or not tenant.active:
                    raise AuthenticationError("auth.no_workspace")
                if user is None:
                    user = repo.add(User(email=email, username=email[:100], password_hash=None,
                                         display_name=(name.strip() or email.split("@")[0])[:200]))
                members = MemberRepository(session, TenantContext(tenant.id, 0, "owner"))
                domains = (tenant.settings or {}).get("allowed_domains") or []
                if domains and email.rsplit("@", 1)[-1] not in domains:
                    raise ValidationError("auth.domain_not_allowed", domains=", ".join(domains))
                if tenant.max_members is not None and members.count() >= tenant.max_members:
                    raise ConflictError("auth.member_limit", limit=tenant.max_members)
                members.add_member(user.id, role)
                memberships = repo.memberships(user.id)
            preferred = (user.preferences or {}).get("workspace")
            membership, tenant = next((m for m in memberships if m[1].id == preferred), memberships[0])
            repo.add(LoginAttempt(email=email, address=address, succeeded=True))
            user.last_login_at = datetime.now(timezone.utc)
            session.add(user)
            # The same session start as a password login (one refresh family, one access token).
            return self.auth._start(session, user, membership.role, tenant, address, user_agent)
