"""Tables of datasets and A/B experiments (migration 0004). Tenant-owned like every other row.

Datasets are immutable per version: a change writes a new version with all its rows, so an
experiment pinned to (dataset, version) always sees the rows it ran on. A Cell is one unit of
experiment work, (experiment, variant, row, repeat), unique: the runner claims, calls and
finishes cells, so a crash or a second runner can never produce a second call for a done cell."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from .models import _json, utcnow

# Cell lifecycle: pending -> running (claimed by one runner) -> done | error. `error` is final too
# (a provider failure is data); `resume` runs pending cells and running cells whose claim expired.
CELL_STATUSES = ("pending", "running", "done", "error")
EXPERIMENT_STATUSES = ("draft", "running", "paused", "cancelled", "completed", "failed")


class Dataset(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    name: str = Field(max_length=100)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    latest_version: int = Field(default=1)
    author_id: Optional[int] = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class DatasetVersion(SQLModel, table=True):
    """Immutable: inserted with its rows, never updated."""

    __tablename__ = "dataset_version"
    __table_args__ = (UniqueConstraint("dataset_id", "number"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    dataset_id: int = Field(foreign_key="dataset.id", ondelete="CASCADE")
    number: int
    row_count: int = 0
    columns: list = _json(default_factory=list)      # variable names, in file order
    source: str = Field(default="", max_length=300)  # file name / format it came from
    message: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    author_id: Optional[int] = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow)


class DatasetRow(SQLModel, table=True):
    """`uid` is the row's stable id: kept across versions (from an `id`/`__id` column, else a
    content hash), so results of two versions can be matched row by row."""

    __tablename__ = "dataset_row"
    __table_args__ = (UniqueConstraint("version_id", "position"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    version_id: int = Field(foreign_key="dataset_version.id", ondelete="CASCADE")
    position: int
    uid: str = Field(max_length=64)
    vars: dict = _json(default_factory=dict)
    expected: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    meta: dict = _json(default_factory=dict)  # promptfoo's __description, __metric, other metadata


class Experiment(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    name: str = Field(max_length=100)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    dataset_id: Optional[int] = Field(default=None, foreign_key="dataset.id", ondelete="SET NULL")
    dataset_name: str = Field(default="", max_length=100)
    dataset_version: int
    checks: list = _json(default_factory=list)   # [{"type", "value", "weight", "threshold", "negate"}...]
    threshold: Optional[float] = None             # weighted score a cell needs; None = every check passes
    repeats: int = 1
    seed: int = 0
    concurrency: int = 8
    max_cost: Optional[float] = None
    stop_early: bool = False
    baseline: str = Field(default="", max_length=400)  # a variant name
    status: str = Field(default="draft", max_length=16)
    status_key: Optional[str] = Field(default=None, max_length=100)  # why paused/failed: a message key
    status_params: Optional[dict] = Field(default=None, sa_column=Column(JSON, nullable=True))
    config: dict = _json(default_factory=dict)    # judge model, promptfoo extras kept for export
    author_id: Optional[int] = Field(default=None, foreign_key="user.id")
    author: str = Field(default="", max_length=100)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    started_at: Optional[datetime] = None
    finished_at: Optional[datetime] = None


class Variant(SQLModel, table=True):
    """A prompt pinned to a version on a model with parameters; `prompt_ref` keeps what the user
    asked for ("latest", a label, a number), `version_number` what it resolved to."""

    __tablename__ = "experiment_variant"
    __table_args__ = (UniqueConstraint("experiment_id", "name"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    experiment_id: int = Field(foreign_key="experiment.id", ondelete="CASCADE")
    position: int = 0
    name: str = Field(max_length=400)  # PROMPT@VERSION/MODEL
    prompt_id: Optional[int] = Field(default=None, foreign_key="prompt.id", ondelete="SET NULL")
    prompt_name: str = Field(max_length=100)
    prompt_ref: str = Field(default="latest", max_length=80)
    version_number: int
    model: str = Field(max_length=200)
    params: dict = _json(default_factory=dict)


class Cell(SQLModel, table=True):
    __tablename__ = "experiment_cell"
    __table_args__ = (
        UniqueConstraint("experiment_id", "variant_id", "row_id", "repeat"),
        Index("ix_cell_experiment_status", "experiment_id", "status"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    experiment_id: int = Field(foreign_key="experiment.id", ondelete="CASCADE")
    variant_id: int = Field(foreign_key="experiment_variant.id", ondelete="CASCADE")
    row_id: int = Field(foreign_key="dataset_row.id")
    row_position: int
    repeat: int = 0
    status: str = Field(default="pending", max_length=16)
    claimed_by: Optional[str] = Field(default=None, max_length=120)  # host:pid:token of the runner
    claimed_at: Optional[datetime] = None
    run_id: Optional[int] = Field(default=None, foreign_key="run.id", ondelete="SET NULL")
    error_code: Optional[str] = Field(default=None, max_length=32)
    passed: Optional[bool] = None
    score: Optional[float] = None
    scores: list = _json(default_factory=list)  # [{"check", "pass", "score", "reason", "error"}...]
    cost: float = 0.0                            # the call and its judges
    judge_cost: float = 0.0
    judge_tokens: int = 0
    human_pass: Optional[bool] = None
    human_score: Optional[float] = None
    human_comment: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    human_by: Optional[int] = Field(default=None, foreign_key="user.id")
    human_at: Optional[datetime] = None
    finished_at: Optional[datetime] = None
