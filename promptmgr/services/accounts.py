"""Workspaces, people and their memberships (hosted mode): create, invite, roles, removal,
deactivation, password changes and resets, workspace settings.

Role rules on top of the policy table: nobody grants a role above their own or acts on a member
whose role is above theirs, and a workspace always keeps an owner. Anything that should end a
person's sessions bumps their session epoch and/or revokes their refresh-token families (see
services/auth.py for why that ends them at once).

operator_context, ensure_first_owner, accept_invitation, request_password_reset and
confirm_password_reset take no TenantContext: they run before there is a caller (a server operator
at the console, a person following a link), like AdminService.ensure_tenant."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from ..config import Settings
from ..context import ROLES, TenantContext
from ..db import Database
from ..errors import ConflictError, DuplicateError, NotFoundError, PermissionDeniedError, ValidationError
from ..i18n import SUPPORTED_LOCALES, t
from ..mail import send_mail
from ..models import Membership, OneTimeToken, Tenant, User
from ..passwords import PasswordHasher, check_password
from ..policy import Action, require
from ..repositories.accounts import AccountRepository, MemberRepository
from ..tokens import random_token, token_hash
from .mfa import REQUIRE_MFA

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
OPERATOR = 0  # the user id of a console operator's context (no person behind it)
_MAX_LABELS, _MAX_DOMAINS = 50, 50


def _audit(session, *, action: str, actor_user_id: int | None, workspace_id: int | None, target: str = "",
           before: dict | None = None, after: dict | None = None) -> None:
    """Record one audit event in the caller's transaction (wired to the audit log at merge; it never
    receives a password, token or link)."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _rank(role: str) -> int:
    return ROLES.index(role) if role in ROLES else -1


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def clean_email(email: str | None) -> str:
    """The email lower-cased and checked. Raises ValidationError."""
    value = (email or "").strip().lower()
    if len(value) > 254 or not EMAIL.match(value):
        raise ValidationError("auth.email_invalid", email=(email or "")[:80])
    return value


def _role(role: str) -> str:
    if role not in ROLES:
        raise ValidationError("auth.role_invalid", role=str(role)[:20], allowed=", ".join(ROLES))
    return role


class AccountService:
    def __init__(self, db: Database, settings: Settings, hasher: PasswordHasher):
        self.db = db
        self.settings = settings
        self.hasher = hasher

    # --- helpers -------------------------------------------------------------------------------
    def _check_password(self, password: str, email: str | None) -> str:
        check_password(password or "", email, self.settings.password_min_length)
        return self.hasher.hash(password)

    def _link(self, kind: str, token: str) -> str:
        return f"{self.settings.public_url}/{kind}/{token}"

    @staticmethod
    def _member_dict(membership: Membership, user: User) -> dict:
        return {"user_id": user.id, "email": user.email, "display_name": user.display_name or user.username,
                "role": membership.role, "active": user.active, "mfa_enabled": user.mfa_enabled,
                "last_login_at": user.last_login_at}

    @staticmethod
    def _workspace_dict(tenant: Tenant, role: str | None = None) -> dict:
        found = {"id": tenant.id, "slug": tenant.slug, "name": tenant.name, "default_locale": tenant.default_locale}
        return {**found, "role": role} if role else found

    def _target(self, members: MemberRepository, ctx: TenantContext, member: int | str) -> tuple[Membership, User]:
        """A member of the caller's workspace, by user id or email, whom the caller may act on."""
        found = members.member(member) if isinstance(member, int) else members.member_by_email(
            (member or "").strip().lower())
        if found is None:
            raise NotFoundError("auth.user_unknown", who=str(member)[:80])
        if _rank(found[0].role) > _rank(ctx.role):
            raise PermissionDeniedError("auth.role_above_own", role=found[0].role)
        return found

    def _check_new_member(self, tenant: Tenant, members: MemberRepository, email: str, role: str,
                          ctx: TenantContext) -> None:
        if _rank(role) > _rank(ctx.role):
            raise PermissionDeniedError("auth.role_above_own", role=role)
        domains = (tenant.settings or {}).get("allowed_domains") or []
        if domains and email.rsplit("@", 1)[1] not in domains:
            raise ValidationError("auth.domain_not_allowed", domains=", ".join(domains))
        if tenant.max_members is not None and members.count() >= tenant.max_members:
            raise ConflictError("auth.member_limit", limit=tenant.max_members)

    def _keeps_an_owner(self, members: MemberRepository, membership: Membership, new_role: str | None) -> None:
        if membership.role == "owner" and new_role != "owner" and members.count("owner") <= 1:
            raise ConflictError("auth.last_owner")

    # --- bootstrap (no caller yet) -------------------------------------------------------------
    def operator_context(self, slug: str | None = None) -> TenantContext:
        """An owner's context in a workspace (none: only for create_workspace) for a console
        operator (the `admin` CLI): whoever runs it on the server already holds the database.
        Raises NotFoundError."""
        if slug is None:
            return TenantContext(0, OPERATOR, "owner", self.settings.default_locale)
        with self.db.session() as session:
            tenant = AccountRepository(session).tenant_by_slug((slug or "").strip().lower())
            if tenant is None:
                raise NotFoundError("auth.workspace_unknown", slug=slug)
            return TenantContext(tenant.id, OPERATOR, "owner", tenant.default_locale)

    def operator_workspaces(self) -> list[str]:
        """Every workspace's slug, for a console operator (see operator_context)."""
        with self.db.session() as session:
            return AccountRepository(session).tenant_slugs()

    def ensure_first_owner(self) -> str:
        """Create the first owner from PROMPTMGR_ADMIN_EMAIL/PASSWORD once: "created", "exists"
        (someone can log in already) or "missing" (no one can, and the variables are not set).
        Raises ValidationError (password policy, email)."""
        with self.db.session(write=True) as session:
            repo = AccountRepository(session)
            if repo.count_users_with_email():
                return "exists"
            if not (self.settings.admin_email and self.settings.admin_password):
                return "missing"
            email = clean_email(self.settings.admin_email)
            password_hash = self._check_password(self.settings.admin_password, email)
            # Single-user data moving to a server stays where it is: the first owner owns it.
            tenant = repo.tenant_by_slug("local") or repo.add(Tenant(
                slug="main", name="Main", default_locale=self.settings.default_locale))
            user = repo.add(User(email=email, username=email[:100], display_name=email.split("@")[0][:200],
                                 password_hash=password_hash))
            repo.add(Membership(tenant_id=tenant.id, user_id=user.id, role="owner"))
            _audit(session, action="member.first_owner", actor_user_id=None, workspace_id=tenant.id, target=email)
            return "created"

    def accept_invitation(self, token: str, password: str | None = None, display_name: str = "") -> dict:
        """Join the workspace of an invitation link (setting the password of a new account):
        {"email", "workspace"}. Raises ValidationError (link expired or used, password policy),
        ConflictError (member limit)."""
        now = _now()
        with self.db.session(write=True) as session:
            repo = AccountRepository(session)
            link = self._live_link(repo, token, "invite", now)
            user, tenant = repo.user(link.user_id), repo.tenant(link.workspace_id)
            if user is None or tenant is None or not tenant.active:
                raise ValidationError("auth.link_invalid")
            if not user.password_hash:
                user.password_hash = self._check_password(password or "", user.email)
            if display_name.strip():
                user.display_name = display_name.strip()[:200]
            if repo.membership(user.id, tenant.id) is None:
                ctx = TenantContext(tenant.id, link.created_by or OPERATOR, "owner")
                members = MemberRepository(session, ctx)
                if tenant.max_members is not None and members.count() >= tenant.max_members:
                    raise ConflictError("auth.member_limit", limit=tenant.max_members)
                members.add_member(user.id, link.role or "viewer")
            if not repo.use_one_time(link.id, now):
                raise ValidationError("auth.link_invalid")
            session.add(user)
            _audit(session, action="member.joined", actor_user_id=user.id, workspace_id=tenant.id,
                   target=user.email, after={"role": link.role})
            return {"email": user.email, "workspace": tenant.slug}

    def request_password_reset(self, email: str) -> None:
        """Mail a reset link when the account exists and SMTP is configured. Says nothing either way
        (no account enumeration); without SMTP an admin makes the link (reset_link)."""
        try:
            email = clean_email(email)
        except ValidationError:
            return
        with self.db.session(write=True) as session:
            repo = AccountRepository(session)
            user = repo.user_by_email(email)
            if user is None or not user.active:
                return
            token = self._new_link(repo, user, "reset", None, None, None)
            _audit(session, action="password.reset_requested", actor_user_id=user.id, workspace_id=None, target=email)
        self._send(email, "reset", token, user.locale or self.settings.default_locale)

    def confirm_password_reset(self, token: str, password: str) -> str:
        """Set a new password through a reset link; every session of the account ends. Returns the
        email. Raises ValidationError (link expired or used, password policy)."""
        now = _now()
        with self.db.session(write=True) as session:
            repo = AccountRepository(session)
            link = self._live_link(repo, token, "reset", now)
            user = repo.user(link.user_id)
            if user is None or not user.active:
                raise ValidationError("auth.link_invalid")
            user.password_hash = self._check_password(password, user.email)
            if not repo.use_one_time(link.id, now):
                raise ValidationError("auth.link_invalid")
            self._end_sessions(repo, user, now)
            _audit(session, action="password.reset", actor_user_id=user.id, workspace_id=None, target=user.email)
            return user.email

    # --- links ---------------------------------------------------------------------------------
    @staticmethod
    def _live_link(repo: AccountRepository, token: str, purpose: str, now: datetime) -> OneTimeToken:
        link = repo.one_time(token_hash(token or ""), purpose) if token and len(token) < 200 else None
        if link is None or link.used_at is not None or _aware(link.expires_at) <= now:
            raise ValidationError("auth.link_invalid")
        return link

    def _new_link(self, repo: AccountRepository, user: User, purpose: str, tenant_id: int | None,
                  role: str | None, created_by: int | None) -> str:
        token = random_token()
        lifetime = (timedelta(hours=self.settings.invite_hours) if purpose == "invite"
                    else timedelta(minutes=self.settings.reset_minutes))
        repo.add(OneTimeToken(token_hash=token_hash(token), purpose=purpose, user_id=user.id, workspace_id=tenant_id,
                              role=role, created_by=created_by or None, expires_at=_now() + lifetime))
        return token

    def _send(self, email: str, kind: str, token: str, locale: str, workspace: str = "") -> bool:
        link = self._link(kind, token)
        return send_mail(self.settings, email, t(f"auth.mail_{kind}_subject", locale, workspace=workspace),
                         t(f"auth.mail_{kind}_body", locale, workspace=workspace, link=link))

    @staticmethod
    def _end_sessions(repo: AccountRepository, user: User, now: datetime) -> None:
        user.session_epoch += 1
        repo.session.add(user)
        repo.revoke_user(user.id, now)

    # --- workspaces ----------------------------------------------------------------------------
    def create_workspace(self, ctx: TenantContext, slug: str, name: str, default_locale: str | None = None) -> dict:
        """A new workspace; the caller (a person, not the console operator) becomes its owner.
        Raises ValidationError (slug, locale), DuplicateError (slug taken)."""
        require(ctx, Action.CREATE_WORKSPACE)
        slug, name = (slug or "").strip().lower(), (name or "").strip()
        if not SLUG.match(slug):
            raise ValidationError("auth.slug_invalid", slug=slug[:80])
        if not name or len(name) > 200:
            raise ValidationError("auth.name_invalid")
        locale = default_locale or self.settings.default_locale
        if locale not in SUPPORTED_LOCALES:
            raise ValidationError("auth.locale_invalid", locale=str(locale)[:10], allowed=", ".join(SUPPORTED_LOCALES))
        with self.db.session(write=True) as session:
            repo = AccountRepository(session)
            if repo.tenant_by_slug(slug) is not None:
                raise DuplicateError("auth.workspace_exists", slug=slug)
            tenant = repo.add(Tenant(slug=slug, name=name, default_locale=locale))
            if ctx.user_id != OPERATOR and repo.user(ctx.user_id) is not None:
                repo.add(Membership(tenant_id=tenant.id, user_id=ctx.user_id, role="owner"))
            _audit(session, action="workspace.created", actor_user_id=ctx.user_id or None, workspace_id=tenant.id,
                   target=slug)
            return self._workspace_dict(tenant)

    def workspaces(self, ctx: TenantContext) -> list[dict]:
        """The caller's workspaces with their role in each (the workspace switcher)."""
        require(ctx, Action.OWN_PREFERENCES)
        with self.db.session() as session:
            return [self._workspace_dict(tenant, membership.role)
                    for membership, tenant in AccountRepository(session).memberships(ctx.user_id)]

    def settings_of(self, ctx: TenantContext) -> dict:
        """The workspace's name, default locale, limits and security settings."""
        require(ctx, Action.MANAGE_MEMBERS)
        with self.db.session() as session:
            tenant = MemberRepository(session, ctx).workspace()
            settings = tenant.settings or {}
            return {**self._workspace_dict(tenant), "max_members": tenant.max_members,
                    "require_mfa": settings.get("require_mfa", "none"),
                    "protected_labels": list(settings.get("protected_labels") or ["production"]),
                    "allowed_domains": list(settings.get("allowed_domains") or [])}

    def update_settings(self, ctx: TenantContext, **changes) -> dict:
        """Change name, default_locale, require_mfa, protected_labels, allowed_domains, max_members.
        Raises ValidationError (an unknown or bad value: nothing changes)."""
        require(ctx, Action.TENANT_SETTINGS)
        allowed = {"name", "default_locale", "require_mfa", "protected_labels", "allowed_domains", "max_members"}
        unknown = sorted(set(changes) - allowed)
        if unknown:
            raise ValidationError("auth.setting_unknown", name=unknown[0][:40], allowed=", ".join(sorted(allowed)))
        with self.db.session(write=True) as session:
            tenant = MemberRepository(session, ctx).workspace()
            before = dict(tenant.settings or {})
            settings = dict(before)
            if "name" in changes:
                name = str(changes["name"] or "").strip()
                if not name or len(name) > 200:
                    raise ValidationError("auth.name_invalid")
                tenant.name = name
            if "default_locale" in changes:
                if changes["default_locale"] not in SUPPORTED_LOCALES:
                    raise ValidationError("auth.locale_invalid", locale=str(changes["default_locale"])[:10],
                                          allowed=", ".join(SUPPORTED_LOCALES))
                tenant.default_locale = changes["default_locale"]
            if "require_mfa" in changes:
                if changes["require_mfa"] not in REQUIRE_MFA:
                    raise ValidationError("auth.setting_invalid", name="require_mfa", allowed=", ".join(REQUIRE_MFA))
                settings["require_mfa"] = changes["require_mfa"]
            if "protected_labels" in changes:
                settings["protected_labels"] = _names(changes["protected_labels"], "protected_labels", _MAX_LABELS)
            if "allowed_domains" in changes:
                domains = _names(changes["allowed_domains"], "allowed_domains", _MAX_DOMAINS)
                settings["allowed_domains"] = [d.lstrip("@").lower() for d in domains]
            if "max_members" in changes:
                limit = changes["max_members"]
                if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
                    raise ValidationError("auth.setting_invalid", name="max_members", allowed="1, 2, 3...")
                tenant.max_members = limit
            tenant.settings = settings
            session.add(tenant)
            _audit(session, action="workspace.settings", actor_user_id=ctx.user_id or None,
                   workspace_id=ctx.tenant_id, target=tenant.slug, before=before, after=settings)
        return self.settings_of(ctx)

    # --- members -------------------------------------------------------------------------------
    def members(self, ctx: TenantContext) -> list[dict]:
        """The workspace's members: user_id, email, display_name, role, active, mfa_enabled, last_login_at."""
        require(ctx, Action.MANAGE_MEMBERS)
        with self.db.session() as session:
            return [self._member_dict(m, u) for m, u in MemberRepository(session, ctx).members()]

    def create_user(self, ctx: TenantContext, email: str, password: str | None, role: str,
                    display_name: str = "") -> dict:
        """Add a person with a password (the operator's console path; invitations are the web path).
        An existing account joins with its own password (`password` is ignored). Raises
        ValidationError (auth.password_required for a new account without one), DuplicateError
        (already a member), ConflictError (member limit), PermissionDeniedError (role above own)."""
        require(ctx, Action.MANAGE_MEMBERS)
        email, role = clean_email(email), _role(role)
        with self.db.session(write=True) as session:
            repo, members = AccountRepository(session), MemberRepository(session, ctx)
            tenant = members.workspace()
            self._check_new_member(tenant, members, email, role, ctx)
            user = repo.user_by_email(email)
            if user is not None and members.member(user.id) is not None:
                raise DuplicateError("auth.already_member", email=email)
            if user is None:
                if not password:
                    raise ValidationError("auth.password_required")
                user = repo.add(User(email=email, username=email[:100],
                                     password_hash=self._check_password(password, email),
                                     display_name=(display_name.strip() or email.split("@")[0])[:200]))
            membership = members.add_member(user.id, role)
            _audit(session, action="member.added", actor_user_id=ctx.user_id or None, workspace_id=ctx.tenant_id,
                   target=email, after={"role": role})
            return {**self._member_dict(membership, user), "workspace": tenant.slug}

    def invite(self, ctx: TenantContext, email: str, role: str = "viewer") -> dict:
        """A one-time invitation link: {"email", "role", "link", "expires_at", "emailed"}; mailed when
        SMTP is configured, else for the admin to send. Raises ValidationError, DuplicateError,
        ConflictError, PermissionDeniedError (as create_user)."""
        require(ctx, Action.MANAGE_MEMBERS)
        email, role = clean_email(email), _role(role)
        with self.db.session(write=True) as session:
            repo, members = AccountRepository(session), MemberRepository(session, ctx)
            tenant = members.workspace()
            self._check_new_member(tenant, members, email, role, ctx)
            user = repo.user_by_email(email) or repo.add(User(email=email, username=email[:100],
                                                               display_name=email.split("@")[0][:200]))
            if members.member(user.id) is not None:
                raise DuplicateError("auth.already_member", email=email)
            token = self._new_link(repo, user, "invite", tenant.id, role, ctx.user_id)
            _audit(session, action="member.invited", actor_user_id=ctx.user_id or None, workspace_id=ctx.tenant_id,
                   target=email, after={"role": role})
            locale, name = user.locale or tenant.default_locale, tenant.name
        emailed = self._send(email, "invite", token, locale, name)
        return {"email": email, "role": role, "link": self._link("invite", token), "token": token,
                "expires_at": _now() + timedelta(hours=self.settings.invite_hours), "emailed": emailed}

    def reset_link(self, ctx: TenantContext, member: int | str) -> dict:
        """A password reset link for a member, for the admin to send (mailed too when SMTP is set):
        {"email", "link", "expires_at", "emailed"}. Raises NotFoundError, PermissionDeniedError."""
        require(ctx, Action.MANAGE_MEMBERS)
        with self.db.session(write=True) as session:
            _, user = self._target(MemberRepository(session, ctx), ctx, member)
            token = self._new_link(AccountRepository(session), user, "reset", None, None, ctx.user_id)
            _audit(session, action="password.reset_link", actor_user_id=ctx.user_id or None,
                   workspace_id=ctx.tenant_id, target=user.email or user.username)
            email, locale = user.email, user.locale or self.settings.default_locale
        emailed = bool(email) and self._send(email, "reset", token, locale)
        return {"email": email, "link": self._link("reset", token), "token": token,
                "expires_at": _now() + timedelta(minutes=self.settings.reset_minutes), "emailed": emailed}

    def set_role(self, ctx: TenantContext, member: int | str, role: str) -> dict:
        """Change a member's role (effective on their next request). Raises NotFoundError,
        ValidationError, PermissionDeniedError (role above own), ConflictError (last owner)."""
        require(ctx, Action.MANAGE_MEMBERS)
        role = _role(role)
        if _rank(role) > _rank(ctx.role):
            raise PermissionDeniedError("auth.role_above_own", role=role)
        with self.db.session(write=True) as session:
            members = MemberRepository(session, ctx)
            membership, user = self._target(members, ctx, member)
            self._keeps_an_owner(members, membership, role)
            before = membership.role
            membership.role = role
            session.add(membership)
            _audit(session, action="member.role", actor_user_id=ctx.user_id or None, workspace_id=ctx.tenant_id,
                   target=user.email or user.username, before={"role": before}, after={"role": role})
            return self._member_dict(membership, user)

    def remove_member(self, ctx: TenantContext, member: int | str) -> None:
        """Remove a member from the workspace; their sessions there end at once. Raises
        NotFoundError, PermissionDeniedError, ConflictError (last owner)."""
        require(ctx, Action.MANAGE_MEMBERS)
        with self.db.session(write=True) as session:
            members = MemberRepository(session, ctx)
            membership, user = self._target(members, ctx, member)
            self._keeps_an_owner(members, membership, None)
            session.delete(membership)
            AccountRepository(session).revoke_user(user.id, _now(), tenant_id=ctx.tenant_id)
            _audit(session, action="member.removed", actor_user_id=ctx.user_id or None, workspace_id=ctx.tenant_id,
                   target=user.email or user.username, before={"role": membership.role})

    def set_active(self, ctx: TenantContext, member: int | str, active: bool) -> dict:
        """Deactivate (every session ends, login refused, in every workspace) or reactivate an
        account. Raises NotFoundError, PermissionDeniedError (yourself or a higher role)."""
        require(ctx, Action.DEACTIVATE_USERS)
        with self.db.session(write=True) as session:
            membership, user = self._target(MemberRepository(session, ctx), ctx, member)
            if user.id == ctx.user_id:
                raise PermissionDeniedError("auth.not_yourself")
            before = user.active
            user.active = bool(active)
            if not active:
                self._end_sessions(AccountRepository(session), user, _now())
            session.add(user)
            _audit(session, action="member.active", actor_user_id=ctx.user_id or None, workspace_id=ctx.tenant_id,
                   target=user.email or user.username, before={"active": before}, after={"active": user.active})
            return self._member_dict(membership, user)

    def change_password(self, ctx: TenantContext, current: str, new: str) -> None:
        """Change the caller's password; every session of theirs ends (log in again). Raises
        ValidationError (current password wrong, policy), NotFoundError."""
        require(ctx, Action.OWN_PREFERENCES)
        with self.db.session(write=True) as session:
            found = MemberRepository(session, ctx).member(ctx.user_id)
            if found is None:
                raise NotFoundError("auth.user_unknown", who=str(ctx.user_id))
            user = found[1]
            ok, _ = self.hasher.verify(current or "", user.password_hash)
            if not ok:
                raise ValidationError("auth.current_password_wrong")
            user.password_hash = self._check_password(new, user.email)
            self._end_sessions(AccountRepository(session), user, _now())
            _audit(session, action="password.changed", actor_user_id=ctx.user_id, workspace_id=ctx.tenant_id,
                   target=user.email or user.username)


def _names(values, setting: str, limit: int) -> list[str]:
    """A list setting: strings, trimmed, no blanks or duplicates, bounded. Raises ValidationError."""
    if isinstance(values, str):
        values = [v for v in re.split(r"[,\n]", values)]
    if not isinstance(values, (list, tuple)) or len(values) > limit:
        raise ValidationError("auth.setting_invalid", name=setting, allowed=f"a list of at most {limit} names")
    cleaned: list[str] = []
    for value in values:
        value = str(value).strip()
        if len(value) > 100:
            raise ValidationError("auth.setting_invalid", name=setting, allowed="names of at most 100 characters")
        if value and value not in cleaned:
            cleaned.append(value)
    return cleaned
