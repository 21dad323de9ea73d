"""Who is calling: every service method takes a TenantContext first."""
from __future__ import annotations

from dataclasses import dataclass, replace

ROLES = ("viewer", "editor", "admin", "owner")


@dataclass(frozen=True)
class TenantContext:
    tenant_id: int
    user_id: int
    role: str = "owner"
    locale: str = "en"
    # Where the request came from, filled once by the interface that builds the context (the UI from
    # gr.Request, the CLI "local"): the audit log records them with every write.
    address: str | None = None
    user_agent: str | None = None
    # The API token acting (hosted mode's REST API), recorded with every write it makes; None from the
    # UI and the CLI.
    token_id: int | None = None

    def can_write(self) -> bool:
        return self.role in ("editor", "admin", "owner")

    def with_locale(self, locale: str) -> "TenantContext":
        return replace(self, locale=locale)

    def with_origin(self, address: str | None, user_agent: str | None) -> "TenantContext":
        """The same caller, seen from this request's address and user agent."""
        return replace(self, address=address, user_agent=user_agent)
