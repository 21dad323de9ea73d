"""Tenants and users. Single-user mode runs as one local tenant and user.

ensure_tenant and local_context are bootstrap helpers, not caller-facing methods: they run before
there is a caller (they are what produces the first TenantContext), so they take none and check no
policy. Interfaces never expose them to users; every other public method starts with require()."""
from __future__ import annotations

from typing import Callable

from sqlalchemy.exc import IntegrityError

from ..context import TenantContext
from ..db import Database
from ..errors import NotFoundError
from ..models import Membership, Tenant, User
from ..policy import Action, require
from ..repositories import TenantRepository

LOCAL_TENANT = "local"
LOCAL_USER = "local"


class AdminService:
    def __init__(self, db: Database, default_locale: str = "en"):
        self.db = db
        self.default_locale = default_locale

    def ensure_tenant(self, slug: str, name: str, username: str,
                      on_create: Callable | None = None) -> tuple[TenantContext, bool]:
        """The context of a tenant's user, creating both when missing; True when just created.

        on_create(session, ctx) runs in the same transaction as the creation (the starter library):
        a concurrent start sees either no tenant or the tenant with everything on_create wrote,
        never an empty one. Bootstrap helper: no caller, no policy check."""
        for attempt in range(3):
            try:
                return self._ensure_tenant(slug, name, username, on_create)
            except IntegrityError:  # PostgreSQL: another process created it first; now it is visible
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _ensure_tenant(self, slug, name, username, on_create) -> tuple[TenantContext, bool]:
        # A write session takes SQLite's write lock first (BEGIN IMMEDIATE): a second process waits
        # here until the first one's tenant and starter library are committed.
        with self.db.session(write=True) as session:
            repo = TenantRepository(session)
            tenant = repo.by_slug(slug)
            created = tenant is None
            if created:
                tenant = repo.add(Tenant(slug=slug, name=name, default_locale=self.default_locale))
            found = repo.member(tenant, username)
            if found is None:
                user = repo.add(User(username=username, display_name=username))
                membership = repo.add(Membership(tenant_id=tenant.id, user_id=user.id, role="owner"))
            else:
                user, membership = found
            locale = user.locale or tenant.default_locale
            ctx = TenantContext(tenant.id, user.id, membership.role, locale)
            if created and on_create is not None:
                on_create(session, ctx)
            return ctx, created

    def local_context(self, on_create: Callable | None = None) -> tuple[TenantContext, bool]:
        """Single-user mode's tenant and user (bootstrap helper, see ensure_tenant)."""
        return self.ensure_tenant(LOCAL_TENANT, "Local library", LOCAL_USER, on_create)

    def preferences(self, ctx: TenantContext) -> dict:
        """The user's saved preferences (locale, theme, default model...). Raises NotFoundError."""
        require(ctx, Action.OWN_PREFERENCES)
        with self.db.session() as session:
            user = TenantRepository(session).user_by_id(ctx.tenant_id, ctx.user_id)
            if user is None:
                raise NotFoundError(what="user", name=str(ctx.user_id))
            return {**user.preferences, "locale": user.locale}

    def save_preferences(self, ctx: TenantContext, **changes) -> dict:
        """Merge preference changes; `locale` is stored on the user. Raises NotFoundError."""
        require(ctx, Action.OWN_PREFERENCES)
        with self.db.session(write=True) as session:
            user = TenantRepository(session).user_by_id(ctx.tenant_id, ctx.user_id)
            if user is None:
                raise NotFoundError(what="user", name=str(ctx.user_id))
            if "locale" in changes:
                user.locale = changes.pop("locale")
            user.preferences = {**user.preferences, **changes}
            session.add(user)
            return {**user.preferences, "locale": user.locale}
