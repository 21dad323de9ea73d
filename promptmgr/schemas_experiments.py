"""What the dataset and experiment services return (Public models), separate from the tables."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from pydantic import BaseModel, Field


class DatasetVersionPublic(BaseModel):
    number: int
    row_count: int
    columns: list[str] = Field(default_factory=list)
    source: str = ""
    message: str = ""
    author: str = ""
    created_at: datetime


class DatasetPublic(BaseModel):
    """A dataset at one version (the latest unless another was asked for), with its version history."""

    name: str
    description: str = ""
    latest_version: int
    version: int
    row_count: int
    columns: list[str] = Field(default_factory=list)
    source: str = ""
    created_at: datetime
    updated_at: datetime
    versions: list[DatasetVersionPublic] = Field(default_factory=list)


class DatasetRowPublic(BaseModel):
    position: int
    id: str                       # the row's stable id (from the file's id/__id column, else a content hash)
    vars: dict[str, Any] = Field(default_factory=dict)
    expected: Optional[str] = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class VariantPublic(BaseModel):
    name: str                     # PROMPT@VERSION/MODEL
    prompt: str
    version: int                  # the version it is pinned to
    prompt_ref: str               # what was asked for: "latest", "@3" or ":production"
    model: str
    params: dict[str, Any] = Field(default_factory=dict)


class CellCounts(BaseModel):
    total: int = 0
    pending: int = 0
    running: int = 0
    done: int = 0
    error: int = 0


class ExperimentPublic(BaseModel):
    name: str
    description: str = ""
    status: str
    status_key: Optional[str] = None
    dataset: str
    dataset_version: int
    variants: list[VariantPublic] = Field(default_factory=list)
    checks: list[dict[str, Any]] = Field(default_factory=list)
    threshold: Optional[float] = None
    repeats: int
    seed: int
    concurrency: int
    max_cost: Optional[float] = None
    baseline: str
    judge_model: Optional[str] = None  # grades llm-rubric/factuality; None = the default model
    author: str = ""
    created_at: datetime
    updated_at: datetime
    started_at: Optional[datetime] = None
    finished_at: Optional[datetime] = None
    cells: CellCounts = Field(default_factory=CellCounts)
