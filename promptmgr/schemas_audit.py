"""What the audit log shows and how it is filtered."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from pydantic import BaseModel, Field, field_validator

from .schemas import check_text

MAX_PAGE = 500
MAX_FILTER = 200


class AuditQuery(BaseModel):
    actor: Optional[str] = Field(default=None, max_length=MAX_FILTER)
    action: Optional[str] = Field(default=None, max_length=64)
    target: Optional[str] = Field(default=None, max_length=MAX_FILTER)
    since: Optional[datetime] = None
    until: Optional[datetime] = None
    limit: int = Field(default=50, ge=1, le=MAX_PAGE)
    offset: int = Field(default=0, ge=0, le=10_000_000)

    @field_validator("actor", "action", "target")
    @classmethod
    def _clean(cls, value):
        # PostgreSQL refuses NUL bytes in any text parameter; an empty filter is no filter.
        value = check_text(value, "query").strip() if value is not None else None
        return value or None


class AuditEventPublic(BaseModel):
    id: int
    time: datetime
    actor: str
    actor_id: Optional[int] = None
    token_id: Optional[int] = None
    action: str
    target_type: str
    target: str
    before: Optional[dict] = None
    after: Optional[dict] = None
    address: Optional[str] = None
    user_agent: Optional[str] = None
