"""Tenants and their users. System-level: finding a tenant is what precedes having a context."""
from __future__ import annotations

from sqlmodel import Session, select

from ..models import Membership, Tenant, User


class TenantRepository:
    def __init__(self, session: Session):
        self.session = session

    def by_slug(self, slug: str) -> Tenant | None:
        return self.session.exec(select(Tenant).where(Tenant.slug == slug)).first()

    def by_id(self, tenant_id: int) -> Tenant | None:
        return self.session.get(Tenant, tenant_id)

    def member(self, tenant: Tenant, username: str) -> tuple[User, Membership] | None:
        """The member of `tenant` with this username, and their membership."""
        return self.session.exec(select(User, Membership).join(Membership, Membership.user_id == User.id)
                                 .where(Membership.tenant_id == tenant.id, User.username == username)).first()

    def user(self, tenant: Tenant, username: str) -> User | None:
        found = self.member(tenant, username)
        return found[0] if found else None

    def user_by_id(self, tenant_id: int, user_id: int) -> User | None:
        """The user, when they are a member of the tenant."""
        return self.session.exec(select(User).join(Membership, Membership.user_id == User.id)
                                 .where(Membership.tenant_id == tenant_id, User.id == user_id)).first()

    def add(self, row):
        self.session.add(row)
        self.session.flush()
        return row
