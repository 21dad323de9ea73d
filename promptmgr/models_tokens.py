"""API tokens (hosted mode's REST API): a secret that acts as one member of one workspace.

Only the secret's SHA-256 is stored (token_hash) with a short display prefix; the secret itself is
shown once, when the token is made. The role is fixed when the token is made (never above its
creator's) and checked against the member's current role on every request: a token never outranks
the person it acts for, even after they are demoted."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from .models import utcnow


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    created_by: Optional[int] = None  # who made it (an operator's console context has no user)
    name: str = Field(max_length=100)
    role: str = Field(default="viewer", max_length=16)
    prefix: str = Field(max_length=16)  # "pm_" and the secret's first characters: to recognise it in a list
    token_hash: str = Field(max_length=64, unique=True)  # sha256 hex of the whole secret
    expires_at: Optional[datetime] = None
    last_used_at: Optional[datetime] = None
    revoked_at: Optional[datetime] = None
    created_at: datetime = Field(default_factory=utcnow)
