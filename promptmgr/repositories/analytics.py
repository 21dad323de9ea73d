"""Aggregates over stored runs, computed in the database (GROUP BY over the tenant's runs).

Portable across SQLite and PostgreSQL: day and week buckets and latency percentiles are written
per dialect. Percentiles are exact and match PostgreSQL's percentile_cont (linear interpolation
between the two nearest ranks). SQLite has no percentile function: it counts each model's calls,
then reads the one or two values at the wanted rank with an ordered OFFSET along ix_run_latency,
walking from whichever end is nearer (p95 reads 5% of the index, not 95%)."""
from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import Date, case, cast, func

from ..models import Run
from .base import Repository

PERCENTILES = (0.5, 0.95)


def _count_if(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _totals_columns() -> list:
    """The Totals fields, in order, as aggregate expressions."""
    return [
        func.count().label("calls"),
        func.coalesce(func.sum(Run.prompt_tokens), 0).label("prompt_tokens"),
        func.coalesce(func.sum(Run.completion_tokens), 0).label("completion_tokens"),
        func.coalesce(func.sum(Run.cost), 0.0).label("cost"),  # SUM skips unpriced calls (NULL)
        _count_if(Run.cost.is_(None)).label("unpriced"),
        _count_if(Run.error_code.is_not(None)).label("errors"),
        _count_if(Run.cached).label("cached"),
        _count_if(Run.experiment_id.is_not(None)).label("experiment_calls"),
    ]


def totals_dict(row) -> dict:
    values = row._mapping
    prompt_tokens, completion_tokens = int(values["prompt_tokens"]), int(values["completion_tokens"])
    return {"calls": int(values["calls"]), "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "tokens": prompt_tokens + completion_tokens, "cost": float(values["cost"]),
            "unpriced": int(values["unpriced"]), "errors": int(values["errors"]), "cached": int(values["cached"]),
            "experiment_calls": int(values["experiment_calls"])}


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _bucket_start(moment: datetime, unit: str) -> datetime:
    """Midnight UTC of the moment's day, or of the Monday of its week."""
    day = moment.date()
    if unit == "week":
        day -= timedelta(days=day.weekday())
    return datetime.combine(day, time(), tzinfo=timezone.utc)


class AnalyticsRepository(Repository):
    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name

    def _runs(self, since: datetime | None, until: datetime | None, *entities):
        statement = self._scoped(Run, *entities)
        if since is not None:
            statement = statement.where(Run.created_at >= since)
        if until is not None:
            statement = statement.where(Run.created_at < until)
        return statement

    def totals(self, since: datetime | None, until: datetime | None) -> dict:
        return totals_dict(self.session.exec(self._runs(since, until, *_totals_columns())).one())

    def _bucket(self, unit: str):
        """The UTC day (or the Monday starting its ISO week) a run belongs to."""
        if self.dialect == "postgresql":
            # AT TIME ZONE 'UTC' first: date_trunc on a timestamptz would use the session's zone.
            return cast(func.date_trunc(unit, func.timezone("UTC", Run.created_at)), Date)
        if unit == "week":  # SQLite: forward to Sunday (or stay on it), then back to that week's Monday
            return func.date(Run.created_at, "weekday 0", "-6 days")
        return func.date(Run.created_at)

    def timeline(self, since: datetime | None, until: datetime | None, unit: str, limit: int) -> list[dict]:
        """Totals per bucket, oldest first: the newest `limit` buckets that have runs."""
        if self.dialect != "postgresql":
            return self._timeline_by_ranges(since, until, unit, limit)
        bucket = self._bucket(unit).label("bucket")
        statement = (self._runs(since, until, bucket, *_totals_columns())
                     .group_by(bucket).order_by(bucket.desc()).limit(limit))
        points = []
        for row in self.session.exec(statement).all():
            value = row._mapping["bucket"]
            points.append({"bucket": value if isinstance(value, date) else date.fromisoformat(str(value)[:10]),
                           **totals_dict(row)})
        return points[::-1]

    def _timeline_by_ranges(self, since, until, unit: str, limit: int) -> list[dict]:
        """SQLite: GROUP BY date(created_at) feeds every run through a sorter (15x the cost of the
        sums). One range query per bucket along ix_run_analytics reads each run once, in order."""
        first, last = self.session.exec(self._runs(since, until, func.min(Run.created_at),
                                                   func.max(Run.created_at))).one()
        if first is None:
            return []
        first, last = _utc(first), _utc(last)
        step = timedelta(days=7 if unit == "week" else 1)
        start = _bucket_start(last, unit)
        points = []
        while start >= _bucket_start(first, unit) and len(points) < limit:
            low = max(start, since) if since else start
            high = min(start + step, until) if until else start + step
            values = totals_dict(self.session.exec(self._runs(low, high, *_totals_columns())).one())
            if values["calls"]:
                points.append({"bucket": start.date(), **values})
            start -= step
        return points[::-1]

    def by_model(self, since: datetime | None, until: datetime | None, limit: int) -> list[dict]:
        """Totals per model, most calls first, with latency p50/p95 over uncached calls."""
        statement = (self._runs(since, until, Run.model, *_totals_columns())
                     .group_by(Run.model).order_by(func.count().desc(), Run.model).limit(limit))
        rows = [{"model": row._mapping["model"], **totals_dict(row)} for row in self.session.exec(statement).all()]
        uncached = {row["model"]: row["calls"] - row["cached"] for row in rows}
        latencies = self.latency_percentiles(since, until, uncached)
        for row in rows:
            row["latency_p50_ms"], row["latency_p95_ms"] = latencies.get(row["model"], (None, None))
        return rows

    def by_prompt(self, since: datetime | None, until: datetime | None, limit: int) -> list[dict]:
        """Totals per prompt name, most expensive first (then most calls)."""
        cost = func.coalesce(func.sum(Run.cost), 0.0)
        statement = (self._runs(since, until, Run.prompt_name, *_totals_columns())
                     .group_by(Run.prompt_name).order_by(cost.desc(), func.count().desc(), Run.prompt_name)
                     .limit(limit))
        return [{"prompt": row._mapping["prompt_name"], **totals_dict(row)} for row in self.session.exec(statement)]

    # --- latency percentiles ---------------------------------------------------------------
    def latency_percentiles(self, since: datetime | None, until: datetime | None,
                            uncached: dict[str, int]) -> dict[str, tuple[float | None, float | None]]:
        """{model: (p50, p95)} over the uncached calls of these models ({model: their count})."""
        models = [model for model, count in uncached.items() if count]
        if not models:
            return {}
        if self.dialect == "postgresql":
            columns = [func.percentile_cont(p).within_group(Run.latency_ms).label(f"p{i}")
                       for i, p in enumerate(PERCENTILES)]
            statement = (self._runs(since, until, Run.model, *columns)
                         .where(Run.cached == False, Run.model.in_(models))  # noqa: E712 (SQL, not Python)
                         .group_by(Run.model))
            return {row[0]: (row[1], row[2]) for row in self.session.exec(statement).all()}
        return {model: tuple(self._percentile_sqlite(since, until, model, uncached[model], p) for p in PERCENTILES)
                for model in models}

    def _percentile_sqlite(self, since, until, model: str, n: int, p: float) -> float | None:
        """percentile_cont(p) of the model's n uncached latencies: at most two values read."""
        rank = (n - 1) * p
        low = math.floor(rank)
        high = min(low + 1, n - 1)
        descending = low >= n / 2  # nearer the top: walk the index from its end
        order = Run.latency_ms.desc() if descending else Run.latency_ms.asc()
        offset = n - 1 - high if descending else low
        statement = (self._runs(since, until, Run.latency_ms)
                     .where(Run.cached == False, Run.model == model)  # noqa: E712
                     .order_by(order).limit(high - low + 1).offset(offset))
        values = [float(v) for v in self.session.exec(statement).all()]
        if not values:  # rows removed since they were counted
            return None
        if descending:
            values.reverse()
        lower = values[0]
        upper = values[-1]
        return lower + (rank - low) * (upper - lower)
