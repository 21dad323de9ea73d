"""The workspace's own settings: its name, default language, whether MFA is required, which labels
only admins may move, and which email domains may join. Changing them is the owner's; admins may
read them (the Admin tab shows them). Every change writes an audit row in the same transaction."""
from __future__ import annotations

import re
import unicodedata

from pydantic import BaseModel

from ..context import TenantContext
from ..db import Database
from ..errors import NotFoundError, ValidationError
from ..i18n import SUPPORTED_LOCALES
from ..policy import DEFAULT_PROTECTED_LABELS, Action, require
from ..repositories.tenants import TenantRepository
from ..schemas import LABEL_RE
from .audit import record as audit

MFA_CHOICES = ("off", "admins", "everyone")
MAX_NAME = 200
MAX_LIST = 50
_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class WorkspaceSettings(BaseModel):
    slug: str
    name: str
    default_locale: str
    require_mfa: str = "off"
    protected_labels: list[str] = list(DEFAULT_PROTECTED_LABELS)
    allowed_domains: list[str] = []


def _name(value) -> str:
    name = " ".join(str(value or "").split())
    if not name or len(name) > MAX_NAME or any(unicodedata.category(c) in ("Cc", "Cf", "Cs") for c in name):
        raise ValidationError("audit.workspace.bad_name", limit=MAX_NAME)
    return name


def _items(values, pattern: re.Pattern, key: str, lower: bool = False) -> list[str]:
    if isinstance(values, str):  # one comma- or line-separated field, as a form sends it
        values = re.split(r"[,\n]", values)
    found = []
    for raw in values or []:
        item = str(raw).strip()
        item = item.lower() if lower else item
        if not item:
            continue
        if not pattern.match(item):
            raise ValidationError(key, value=item[:80])
        if item not in found:
            found.append(item)
    if len(found) > MAX_LIST:
        raise ValidationError("audit.workspace.too_many", limit=MAX_LIST)
    return found


class WorkspaceService:
    def __init__(self, db: Database):
        self.db = db

    def settings(self, ctx: TenantContext) -> WorkspaceSettings:
        """The caller's workspace settings. Raises PermissionDeniedError, NotFoundError."""
        require(ctx, Action.READ_TENANT_SETTINGS)
        with self.db.session() as session:
            return self._public(self._tenant(session, ctx))

    def update_settings(self, ctx: TenantContext, *, name: str | None = None, default_locale: str | None = None,
                        require_mfa: str | None = None, protected_labels: list[str] | str | None = None,
                        allowed_domains: list[str] | str | None = None) -> WorkspaceSettings:
        """Change the settings given (None keeps one). Raises PermissionDeniedError, ValidationError, NotFoundError."""
        require(ctx, Action.TENANT_SETTINGS)
        changes: dict = {}
        if name is not None:
            changes["name"] = _name(name)
        if default_locale is not None:
            if default_locale not in SUPPORTED_LOCALES:
                raise ValidationError("audit.workspace.bad_locale", value=str(default_locale)[:20],
                                      allowed=", ".join(SUPPORTED_LOCALES))
            changes["default_locale"] = default_locale
        if require_mfa is not None:
            if require_mfa not in MFA_CHOICES:
                raise ValidationError("audit.workspace.bad_mfa", value=str(require_mfa)[:20],
                                      allowed=", ".join(MFA_CHOICES))
            changes["require_mfa"] = require_mfa
        if protected_labels is not None:
            changes["protected_labels"] = _items(protected_labels, LABEL_RE, "audit.workspace.bad_label")
        if allowed_domains is not None:
            changes["allowed_domains"] = _items(allowed_domains, _DOMAIN_RE, "audit.workspace.bad_domain", lower=True)
        with self.db.session(write=True) as session:
            tenant = self._tenant(session, ctx)
            before = self._public(tenant)
            if "name" in changes:
                tenant.name = changes.pop("name")
            if "default_locale" in changes:
                tenant.default_locale = changes.pop("default_locale")
            tenant.settings = {**(tenant.settings or {}), **changes}
            session.add(tenant)
            session.flush()
            after = self._public(tenant)
            old, new = before.model_dump(), after.model_dump()
            changed = [f for f in new if old[f] != new[f]]
            audit(session, ctx, "workspace.settings", ("workspace", tenant.slug),
                  {f: old[f] for f in changed}, {f: new[f] for f in changed})
            return after

    @staticmethod
    def _tenant(session, ctx: TenantContext):
        tenant = TenantRepository(session).by_id(ctx.tenant_id)
        if tenant is None:
            raise NotFoundError(what="tenant", name=str(ctx.tenant_id))
        return tenant

    @staticmethod
    def _public(tenant) -> WorkspaceSettings:
        settings = tenant.settings or {}
        labels = settings.get("protected_labels")
        return WorkspaceSettings(
            slug=tenant.slug, name=tenant.name, default_locale=tenant.default_locale,
            require_mfa=settings.get("require_mfa") if settings.get("require_mfa") in MFA_CHOICES else "off",
            protected_labels=list(labels) if isinstance(labels, (list, tuple)) else list(DEFAULT_PROTECTED_LABELS),
            allowed_domains=list(settings.get("allowed_domains") or []))
