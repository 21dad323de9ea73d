"""The audit log: one row per write, appended in the write's own transaction, never changed.

The actor is stored twice on purpose: its id (to filter on) and the name it had at the time (a row
must still say who acted after that user is renamed or removed), so neither column is a foreign key
to the user table. tenant_id is NULL only for events that happen before there is a workspace (a
failed login for an unknown email); tenant-scoped reads never see those."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from .models import utcnow


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_tenant_created", "tenant_id", "created_at"),
        Index("ix_audit_event_tenant_action", "tenant_id", "action"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    tenant_id: Optional[int] = Field(default=None, foreign_key="tenant.id")
    actor_id: Optional[int] = None
    actor: str = Field(default="", max_length=320)
    token_id: Optional[int] = None  # set when an API token acted (hosted mode's REST API)
    action: str = Field(max_length=64)
    target_type: str = Field(default="", max_length=32)
    target: str = Field(default="", max_length=400)
    before: Optional[dict] = Field(default=None, sa_column=Column(JSON, nullable=True))
    after: Optional[dict] = Field(default=None, sa_column=Column(JSON, nullable=True))
    address: Optional[str] = Field(default=None, max_length=64)
    user_agent: Optional[str] = Field(default=None, max_length=400)
    created_at: datetime = Field(default_factory=utcnow)
