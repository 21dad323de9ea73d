"""What the analytics service returns: aggregates over stored runs, computed in the database."""
from __future__ import annotations

from datetime import date, datetime
from typing import Literal, Optional

from pydantic import BaseModel, computed_field

Bucket = Literal["day", "week"]


class Period(BaseModel):
    """Runs with since <= created_at < until (either end open when None), timezone-aware UTC."""

    since: Optional[datetime] = None
    until: Optional[datetime] = None


class Totals(BaseModel):
    """Calls and what they used. Cost sums priced calls; `unpriced` counts calls without a price."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokens: int = 0
    cost: float = 0.0
    unpriced: int = 0
    errors: int = 0
    cached: int = 0
    experiment_calls: int = 0  # runs an experiment made (the rest: testing bench, builder, enhance, translate)

    @computed_field
    @property
    def cache_hit_rate(self) -> float | None:
        return self.cached / self.calls if self.calls else None

    @computed_field
    @property
    def error_rate(self) -> float | None:
        return self.errors / self.calls if self.calls else None


class TimelinePoint(Totals):
    """One day (or the week starting on that Monday), UTC."""

    bucket: date


class ModelStats(Totals):
    """One model's totals; latency percentiles over its uncached calls (None when it has none)."""

    model: str
    latency_p50_ms: Optional[float] = None
    latency_p95_ms: Optional[float] = None


class PromptStats(Totals):
    """One prompt's totals, by the name the run stored ("" for runs of a text with no prompt)."""

    prompt: str


class Dashboard(BaseModel):
    """Everything the Analytics tab shows, for one period."""

    period: Period
    bucket: Bucket
    totals: Totals
    timeline: list[TimelinePoint]
    models: list[ModelStats]
    prompts: list[PromptStats]
