"""Accounts: identities, memberships, session token families, one-time links, login attempts.

AccountRepository is system-level like TenantRepository: logging in, refreshing and following a link
happen before there is a caller (they produce the TenantContext). Anything a caller reads or changes
about a workspace's members goes through MemberRepository, scoped to the caller's workspace by
_scoped() like every other tenant-owned row."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, update
from sqlmodel import Session, select

from ..models import LoginAttempt, Membership, OneTimeToken, RefreshToken, Tenant, User
from .base import Repository


class AccountRepository:
    def __init__(self, session: Session):
        self.session = session

    def add(self, row):
        self.session.add(row)
        self.session.flush()
        return row

    def user_by_email(self, email: str) -> User | None:
        return self.session.exec(select(User).where(User.email == email)).first()

    def user(self, user_id: int) -> User | None:
        return self.session.get(User, user_id)

    def tenant(self, tenant_id: int) -> Tenant | None:
        return self.session.get(Tenant, tenant_id)

    def tenant_by_slug(self, slug: str) -> Tenant | None:
        return self.session.exec(select(Tenant).where(Tenant.slug == slug)).first()

    def tenant_slugs(self) -> list[str]:
        return list(self.session.exec(select(Tenant.slug).order_by(Tenant.slug)).all())

    def memberships(self, user_id: int) -> list[tuple[Membership, Tenant]]:
        """The user's memberships in active workspaces, oldest first."""
        return list(self.session.exec(
            select(Membership, Tenant).join(Tenant, Tenant.id == Membership.tenant_id)
            .where(Membership.user_id == user_id, Tenant.active == True)  # noqa: E712 (SQL)
            .order_by(Membership.id)).all())

    def membership(self, user_id: int, tenant_id: int) -> Membership | None:
        return self.session.exec(select(Membership).where(Membership.user_id == user_id,
                                                          Membership.tenant_id == tenant_id)).first()

    def session_state(self, user_id: int, tenant_id: int, family_id: str):
        """(user.active, user.session_epoch, membership.role, tenant.active, family live, user.locale,
        tenant.default_locale) in one query: what verifying an access token checks on every request."""
        live = (select(func.count()).select_from(RefreshToken)
                .where(RefreshToken.family_id == family_id, RefreshToken.user_id == user_id,
                       RefreshToken.revoked_at.is_(None)).scalar_subquery())
        return self.session.exec(
            select(User.active, User.session_epoch, Membership.role, Tenant.active, live, User.locale,
                   Tenant.default_locale)
            .join(Membership, Membership.user_id == User.id).join(Tenant, Tenant.id == Membership.tenant_id)
            .where(User.id == user_id, Membership.tenant_id == tenant_id)).first()

    def count_users_with_email(self) -> int:
        return self.session.exec(select(func.count()).select_from(User).where(User.email.is_not(None))).one()

    # --- refresh token families --------------------------------------------------------------
    def refresh_token(self, hashed: str) -> RefreshToken | None:
        return self.session.exec(select(RefreshToken).where(RefreshToken.token_hash == hashed)).first()

    def mark_rotated(self, token_id: int, now: datetime) -> bool:
        """True when this call rotated the token (an UPDATE guarded by rotated_at IS NULL: of two
        concurrent refreshes with one token, only one marks it)."""
        result = self.session.execute(update(RefreshToken).where(
            RefreshToken.id == token_id, RefreshToken.rotated_at.is_(None), RefreshToken.revoked_at.is_(None))
            .values(rotated_at=now))
        return result.rowcount == 1

    def revoke_family(self, family_id: str, now: datetime) -> None:
        self.session.execute(update(RefreshToken).where(RefreshToken.family_id == family_id,
                                                        RefreshToken.revoked_at.is_(None)).values(revoked_at=now))

    def revoke_user(self, user_id: int, now: datetime, tenant_id: int | None = None) -> None:
        """Revoke every session of the user (in one workspace when tenant_id is given)."""
        query = update(RefreshToken).where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        if tenant_id is not None:
            query = query.where(RefreshToken.workspace_id == tenant_id)
        self.session.execute(query.values(revoked_at=now))

    # --- one-time links ----------------------------------------------------------------------
    def one_time(self, hashed: str, purpose: str) -> OneTimeToken | None:
        return self.session.exec(select(OneTimeToken).where(OneTimeToken.token_hash == hashed,
                                                            OneTimeToken.purpose == purpose)).first()

    def use_one_time(self, token_id: int, now: datetime) -> bool:
        """True when this call used the link (guarded UPDATE: a link works once, even when two
        requests race with it)."""
        result = self.session.execute(update(OneTimeToken).where(
            OneTimeToken.id == token_id, OneTimeToken.used_at.is_(None)).values(used_at=now))
        return result.rowcount == 1

    # --- login attempts ----------------------------------------------------------------------
    def failures(self, *, email: str | None = None, address: str | None = None,
                 since: datetime) -> tuple[int, datetime | None]:
        """Failed attempts for an email or an address since `since` and after its last success:
        (count, time of the latest failure)."""
        column = LoginAttempt.email if email is not None else LoginAttempt.address
        value = email if email is not None else address
        last_ok = self.session.exec(select(func.max(LoginAttempt.created_at)).where(
            column == value, LoginAttempt.succeeded == True)).one()  # noqa: E712 (SQL)
        start = max(since, last_ok) if last_ok is not None else since
        return self.session.exec(select(func.count(), func.max(LoginAttempt.created_at)).where(
            column == value, LoginAttempt.succeeded == False,  # noqa: E712 (SQL)
            LoginAttempt.created_at > start)).one()

    def forget_attempts(self, before: datetime, email: str | None = None) -> None:
        """Delete attempts older than `before` (of one email: an indexed delete)."""
        from sqlalchemy import delete

        query = delete(LoginAttempt).where(LoginAttempt.created_at < before)
        self.session.execute(query.where(LoginAttempt.email == email) if email is not None else query)


class MemberRepository(Repository):
    """The caller's workspace's members (memberships scoped by _scoped)."""

    def members(self) -> list[tuple[Membership, User]]:
        return list(self.session.exec(self._scoped(Membership, Membership, User)
                                      .join(User, User.id == Membership.user_id).order_by(Membership.id)).all())

    def member(self, user_id: int) -> tuple[Membership, User] | None:
        return self.session.exec(self._scoped(Membership, Membership, User).join(User, User.id == Membership.user_id)
                                 .where(Membership.user_id == user_id)).first()

    def member_by_email(self, email: str) -> tuple[Membership, User] | None:
        return self.session.exec(self._scoped(Membership, Membership, User).join(User, User.id == Membership.user_id)
                                 .where(User.email == email)).first()

    def count(self, role: str | None = None) -> int:
        query = self._scoped(Membership, func.count())
        if role is not None:
            query = query.where(Membership.role == role)
        return self.session.exec(query).one()

    def add_member(self, user_id: int, role: str) -> Membership:
        return self._own(Membership(user_id=user_id, role=role))

    def workspace(self) -> Tenant:
        return self.session.get(Tenant, self.ctx.tenant_id)
