"""Analytics over every stored run (testing bench, builder, enhance, translate, experiments):
calls, tokens, cost and errors over time, by model and by prompt, latency percentiles, cache hits.

Everything is aggregated in the database (repositories/analytics.py); results are bounded (at
most MAX_BUCKETS time buckets, MAX_MODELS models, MAX_PROMPTS prompts) whatever the run count."""
from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone

from ..context import TenantContext
from ..db import Database
from ..errors import ValidationError
from ..policy import Action, require
from ..repositories.analytics import AnalyticsRepository
from ..schemas_analytics import Dashboard, ModelStats, Period, PromptStats, TimelinePoint, Totals
from .base import unit_of_work

__all__ = ["AnalyticsService", "parse_period", "parse_when", "BUCKETS", "MAX_BUCKETS", "MAX_MODELS", "MAX_PROMPTS"]

BUCKETS = ("day", "week")
MAX_BUCKETS = 400    # over a year of days; older buckets of a longer period are left out
MAX_MODELS = 50
MAX_PROMPTS = 100
_MAX_WHEN_CHARS = 40
_RELATIVE = re.compile(r"^(\d{1,6})\s*([hdw])$")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
_MAX_AGO = timedelta(days=365 * 100)


def parse_when(text: str, *, now: datetime | None = None, end_of_day: bool = False,
               option: str = "--since") -> datetime:
    """'7d', '24h', '2w' (that long before now), an ISO date or date-time (UTC unless it names a
    zone) -> an aware UTC datetime. A bare date with end_of_day means the end of that day.
    Raises ValidationError (analytics.bad_when)."""
    value = (text or "").strip().lower()
    now = now or datetime.now(timezone.utc)
    if len(value) > _MAX_WHEN_CHARS:
        raise ValidationError("analytics.bad_when", option=option, value=text[:_MAX_WHEN_CHARS] + "…")
    match = _RELATIVE.match(value)
    if match:
        ago = int(match.group(1)) * _UNITS[match.group(2)]
        if ago > _MAX_AGO:
            raise ValidationError("analytics.bad_when", option=option, value=text)
        return now - ago
    try:
        if len(value) == 10:  # YYYY-MM-DD
            day = date.fromisoformat(value)
            start = datetime.combine(day, time(), tzinfo=timezone.utc)
            return start + timedelta(days=1) if end_of_day else start
        parsed = datetime.fromisoformat(value.upper() if "t" in value else value)
    except ValueError:
        raise ValidationError("analytics.bad_when", option=option, value=text) from None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


def parse_period(since: str | None, until: str | None = None, *, now: datetime | None = None,
                 names: tuple[str, str] = ("--since", "--until")) -> Period:
    """A period from the user's text (empty: open end); `names` are what errors call the two fields.
    Raises ValidationError (analytics.bad_when, analytics.bad_period)."""
    now = now or datetime.now(timezone.utc)
    start = parse_when(since, now=now, option=names[0]) if since and since.strip() else None
    end = parse_when(until, now=now, end_of_day=True, option=names[1]) if until and until.strip() else None
    return _checked(Period(since=start, until=end))


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _checked(period: Period | None) -> Period:
    period = Period(since=_aware(period.since), until=_aware(period.until)) if period else Period()
    if period.since and period.until and period.since >= period.until:
        raise ValidationError("analytics.bad_period", since=period.since.isoformat(), until=period.until.isoformat())
    return period


def _check_bucket(bucket: str) -> None:
    if bucket not in BUCKETS:
        raise ValidationError("analytics.bad_bucket", value=str(bucket)[:20], choices=", ".join(BUCKETS))


def _check_limit(limit: int, most: int) -> None:
    if not 1 <= limit <= most:
        raise ValidationError("analytics.bad_limit", value=limit, max=most)


def _sum(points: list[Totals]) -> Totals:
    return Totals(**{name: sum(getattr(p, name) for p in points) for name in Totals.model_fields})


class AnalyticsService:
    def __init__(self, db: Database):
        self.db = db

    def _repo(self, ctx: TenantContext):
        return unit_of_work(self.db, ctx, AnalyticsRepository)

    def totals(self, ctx: TenantContext, period: Period | None = None) -> Totals:
        """Calls, tokens, cost, errors and cache hits of the period. Raises ValidationError."""
        require(ctx, Action.READ_ANALYTICS)
        period = _checked(period)
        with self._repo(ctx) as repo:
            return Totals(**repo.totals(period.since, period.until))

    def timeline(self, ctx: TenantContext, period: Period | None = None, bucket: str = "day") -> list[TimelinePoint]:
        """Totals per UTC day or week (weeks start on Monday), oldest first; buckets without runs
        are left out. Raises ValidationError."""
        require(ctx, Action.READ_ANALYTICS)
        period = _checked(period)
        _check_bucket(bucket)
        with self._repo(ctx) as repo:
            return [TimelinePoint(**p) for p in repo.timeline(period.since, period.until, bucket, MAX_BUCKETS)]

    def by_model(self, ctx: TenantContext, period: Period | None = None, limit: int = MAX_MODELS) -> list[ModelStats]:
        """Totals per model (most calls first) with latency p50/p95 of uncached calls. Raises ValidationError."""
        require(ctx, Action.READ_ANALYTICS)
        period = _checked(period)
        _check_limit(limit, MAX_MODELS)
        with self._repo(ctx) as repo:
            return [ModelStats(**row) for row in repo.by_model(period.since, period.until, limit)]

    def by_prompt(self, ctx: TenantContext, period: Period | None = None, limit: int = 20) -> list[PromptStats]:
        """Totals per prompt, most expensive first. Raises ValidationError."""
        require(ctx, Action.READ_ANALYTICS)
        period = _checked(period)
        _check_limit(limit, MAX_PROMPTS)
        with self._repo(ctx) as repo:
            return [PromptStats(**row) for row in repo.by_prompt(period.since, period.until, limit)]

    def dashboard(self, ctx: TenantContext, period: Period | None = None, bucket: str = "day",
                  top_prompts: int = 10) -> Dashboard:
        """Everything the Analytics tab shows, read in one transaction. Raises ValidationError."""
        require(ctx, Action.READ_ANALYTICS)
        period = _checked(period)
        _check_bucket(bucket)
        _check_limit(top_prompts, MAX_PROMPTS)
        with self._repo(ctx) as repo:
            since, until = period.since, period.until
            timeline = [TimelinePoint(**p) for p in repo.timeline(since, until, bucket, MAX_BUCKETS)]
            # The buckets hold every run of the period unless older ones were left out: their sum
            # saves another pass over the runs.
            totals = _sum(timeline) if len(timeline) < MAX_BUCKETS else Totals(**repo.totals(since, until))
            return Dashboard(
                period=period, bucket=bucket, totals=totals, timeline=timeline,
                models=[ModelStats(**row) for row in repo.by_model(since, until, MAX_MODELS)],
                prompts=[PromptStats(**row) for row in repo.by_prompt(since, until, top_prompts)])
