"""Tables. Every row a tenant owns carries tenant_id; repositories filter on it in one place.

All tables exist from the first migration, including the ones hosted mode and experiments use
(providers, runs with everything an experiment needs), so later features add no rewrites."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _json(**kw) -> Any:
    return Field(sa_column=Column(JSON, nullable=False), **kw)


class Tenant(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    default_locale: str = Field(default="en", max_length=8)
    # protected_labels (list), require_mfa ("none" | "admins" | "everyone"), allowed_domains (list)
    settings: dict = _json(default_factory=dict)
    active: bool = Field(default=True)
    max_members: Optional[int] = None  # None: no limit
    created_at: datetime = Field(default_factory=utcnow)


class User(SQLModel, table=True):
    """An identity: one person, who may belong to several workspaces through Membership.

    Single-user mode's local user has no email and no password. session_epoch grows whenever the
    person's credentials or standing change (password, deactivation, MFA reset): access tokens carry
    the epoch they were issued under and are refused once it is older."""

    id: Optional[int] = Field(default=None, primary_key=True)
    email: Optional[str] = Field(default=None, max_length=254, unique=True)  # stored lower-case
    username: str = Field(max_length=100)
    display_name: str = Field(default="", max_length=200)
    password_hash: Optional[str] = Field(default=None, max_length=255)
    active: bool = Field(default=True)
    locale: Optional[str] = Field(default=None, max_length=8)
    preferences: dict = _json(default_factory=dict)
    mfa_secret_encrypted: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    mfa_enabled: bool = Field(default=False)
    mfa_last_step: Optional[int] = None  # the TOTP time step last accepted: a code works once
    recovery_codes: list = _json(default_factory=list)  # hashes; a used code is removed
    last_login_at: Optional[datetime] = None
    session_epoch: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow)


class Membership(SQLModel, table=True):
    """A user's role in one workspace (tenant_id: the workspace, so repositories scope it like any
    other tenant-owned row)."""

    __table_args__ = (UniqueConstraint("tenant_id", "user_id"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    role: str = Field(default="viewer", max_length=16)
    created_at: datetime = Field(default_factory=utcnow)


class RefreshToken(SQLModel, table=True):
    """One refresh token of a login session. A session is a family: each refresh rotates the token
    (the old row gets rotated_at); presenting a rotated token again revokes the whole family."""

    __tablename__ = "refresh_token"
    id: Optional[int] = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)  # sha256 hex of the random token
    family_id: str = Field(max_length=36, index=True)
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    workspace_id: int = Field(foreign_key="tenant.id", ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    rotated_at: Optional[datetime] = None
    revoked_at: Optional[datetime] = None
    address: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=300)


class OneTimeToken(SQLModel, table=True):
    """An invitation or password-reset link: stored hashed, expires, works once (used_at)."""

    __tablename__ = "one_time_token"
    id: Optional[int] = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    purpose: str = Field(max_length=16)  # invite | reset
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    workspace_id: Optional[int] = Field(default=None, foreign_key="tenant.id", ondelete="CASCADE")
    role: Optional[str] = Field(default=None, max_length=16)  # an invitation's role
    created_by: Optional[int] = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: Optional[datetime] = None


class LoginAttempt(SQLModel, table=True):
    """Recent login attempts, counted per account and per address for the lockout."""

    __tablename__ = "login_attempt"
    __table_args__ = (Index("ix_login_attempt_email_at", "email", "created_at"),
                      Index("ix_login_attempt_address_at", "address", "created_at"))
    id: Optional[int] = Field(default=None, primary_key=True)
    email: str = Field(max_length=254)
    address: str = Field(default="", max_length=64)
    succeeded: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow)


class Prompt(SQLModel, table=True):
    """The identity and catalogue fields of a prompt; content lives in immutable versions.

    content_text mirrors the latest version's text so search can index one row."""

    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        Index("ix_prompt_tenant_updated", "tenant_id", "updated_at"),
        Index("ix_prompt_tenant_category", "tenant_id", "category"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id")
    name: str = Field(max_length=100)
    title: str = Field(default="", max_length=300)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    category: str = Field(default="", max_length=100)
    tags: list = _json(default_factory=list)
    tags_text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    is_enhancement: bool = Field(default=False)
    visibility: str = Field(default="private", max_length=16)
    kind: str = Field(default="text", max_length=8)
    owner_id: Optional[int] = Field(default=None, foreign_key="user.id")
    meta: dict = _json(default_factory=dict)
    latest_version: int = Field(default=1)
    content_text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class PromptVersion(SQLModel, table=True):
    """Immutable: rows are inserted, never updated."""

    __tablename__ = "prompt_version"
    __table_args__ = (UniqueConstraint("prompt_id", "number"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    prompt_id: int = Field(foreign_key="prompt.id", ondelete="CASCADE")
    number: int
    content: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    messages: Optional[list] = Field(default=None, sa_column=Column(JSON, nullable=True))
    variables: list = _json(default_factory=list)
    author_id: Optional[int] = Field(default=None, foreign_key="user.id")
    author: str = Field(default="", max_length=100)
    message: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: datetime = Field(default_factory=utcnow)


class Label(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("prompt_id", "name"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    prompt_id: int = Field(foreign_key="prompt.id", ondelete="CASCADE")
    name: str = Field(max_length=64)
    version_number: int
    updated_at: datetime = Field(default_factory=utcnow)


class PromptTag(SQLModel, table=True):
    """One row per (prompt, tag): filters and counts use an index instead of scanning JSON."""

    __tablename__ = "prompt_tag"
    __table_args__ = (Index("ix_prompt_tag_tenant_tag", "tenant_id", "tag"),)
    prompt_id: int = Field(foreign_key="prompt.id", primary_key=True, ondelete="CASCADE")
    tag: str = Field(max_length=64, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id")


class Provider(SQLModel, table=True):
    """A configured model provider; models are addressed as NAME/MODEL."""

    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    name: str = Field(max_length=64)
    kind: str = Field(default="openai_compatible", max_length=32)
    base_url: str = Field(default="", max_length=500)
    api_key_encrypted: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow)


class PriceOverride(SQLModel, table=True):
    __tablename__ = "price_override"
    __table_args__ = (UniqueConstraint("tenant_id", "model"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    model: str = Field(max_length=200)
    input_cost_per_token: float = 0.0
    output_cost_per_token: float = 0.0
    context_window: Optional[int] = None


class Run(SQLModel, table=True):
    """One model call on a prompt version, stored with everything an experiment needs."""

    __table_args__ = (
        Index("ix_run_tenant_prompt_created", "tenant_id", "prompt_id", "created_at"),
        Index("ix_run_tenant_experiment", "tenant_id", "experiment_id"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id")
    prompt_id: Optional[int] = Field(default=None, foreign_key="prompt.id", ondelete="SET NULL")
    prompt_name: str = Field(default="", max_length=100)
    version_number: Optional[int] = None
    model: str = Field(max_length=200)
    params: dict = _json(default_factory=dict)
    variables: dict = _json(default_factory=dict)
    rendered_input: list = _json(default_factory=list)
    output: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: Optional[float] = None
    latency_ms: float = 0.0
    cached: bool = False
    error_code: Optional[str] = Field(default=None, max_length=32)
    error: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))  # text of runs before 0002
    error_key: Optional[str] = Field(default=None, max_length=100)  # the message key; edges translate
    error_params: Optional[dict] = Field(default=None, sa_column=Column(JSON, nullable=True))
    batch_id: Optional[str] = Field(default=None, max_length=36, index=True)
    experiment_id: Optional[int] = None
    variant: Optional[str] = Field(default=None, max_length=400)  # an experiment variant: PROMPT@VERSION/MODEL
    dataset_row: Optional[int] = None
    user_id: Optional[int] = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow)
