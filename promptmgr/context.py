"""Who is calling: every service method takes a TenantContext first."""
from __future__ import annotations

from dataclasses import dataclass

ROLES = ("viewer", "editor", "admin", "owner")


@dataclass(frozen=True)
class TenantContext:
    tenant_id: int
    user_id: int
    role: str = "owner"
    locale: str = "en"

    def can_write(self) -> bool:
        return self.role in ("editor", "admin", "owner")

    def with_locale(self, locale: str) -> "TenantContext":
        return TenantContext(self.tenant_id, self.user_id, self.role, locale)
