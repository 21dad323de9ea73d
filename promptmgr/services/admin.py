"""Tenants and users. Single-user mode runs as one local tenant and user."""
from __future__ import annotations

from ..context import TenantContext
from ..db import Database
from ..errors import NotFoundError
from ..models import Tenant, User
from ..repositories import TenantRepository

LOCAL_TENANT = "local"
LOCAL_USER = "local"


class AdminService:
    def __init__(self, db: Database, default_locale: str = "en"):
        self.db = db
        self.default_locale = default_locale

    def ensure_tenant(self, slug: str, name: str, username: str) -> tuple[TenantContext, bool]:
        """The context of a tenant's user, creating both when missing; True when just created."""
        with self.db.session(write=True) as session:
            repo = TenantRepository(session)
            tenant = repo.by_slug(slug)
            created = tenant is None
            if created:
                tenant = repo.add(Tenant(slug=slug, name=name, default_locale=self.default_locale))
            user = repo.user(tenant, username) or repo.add(
                User(tenant_id=tenant.id, username=username, display_name=username, role="owner"))
            locale = user.locale or tenant.default_locale
            return TenantContext(tenant.id, user.id, user.role, locale), created

    def local_context(self) -> tuple[TenantContext, bool]:
        return self.ensure_tenant(LOCAL_TENANT, "Local library", LOCAL_USER)

    def preferences(self, ctx: TenantContext) -> dict:
        """The user's saved preferences (locale, theme, default model...). Raises NotFoundError."""
        with self.db.session() as session:
            user = TenantRepository(session).user_by_id(ctx.tenant_id, ctx.user_id)
            if user is None:
                raise NotFoundError(what="user", name=str(ctx.user_id))
            return {**user.preferences, "locale": user.locale}

    def save_preferences(self, ctx: TenantContext, **changes) -> dict:
        """Merge preference changes; `locale` is stored on the user. Raises NotFoundError."""
        with self.db.session(write=True) as session:
            user = TenantRepository(session).user_by_id(ctx.tenant_id, ctx.user_id)
            if user is None:
                raise NotFoundError(what="user", name=str(ctx.user_id))
            if "locale" in changes:
                user.locale = changes.pop("locale")
            user.preferences = {**user.preferences, **changes}
            session.add(user)
            return {**user.preferences, "locale": user.locale}
