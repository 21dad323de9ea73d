"""Analytics over stored runs (services/analytics.py) on SQLite and PostgreSQL: every aggregate equals
the same computation done in Python over the seeded runs, another tenant's runs are never counted,
and periods parse from what people type."""
from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import insert

from promptmgr.errors import PermissionDeniedError, ValidationError
from promptmgr.models import Run
from promptmgr.schemas_analytics import Period
from promptmgr.services.analytics import parse_period, parse_when

BASE = datetime(2026, 10, 1, tzinfo=timezone.utc)
MODELS = ["openai/gpt-4o-mini", "fake/test-model", "local/smollm2"]
PROMPTS = ["greet", "summarize", ""]


def seed(services, ctx, runs: list[dict]) -> None:
    """Insert runs as the caller's tenant's, in one statement."""
    if not runs:
        return
    rows = [{"tenant_id": ctx.tenant_id, "params": {}, "variables": {}, "rendered_input": [], "output": "",
             **run} for run in runs]
    with services.db.session(write=True) as session:
        session.execute(insert(Run), rows)


def tenant(services, name: str | None = None):
    return services.admin.ensure_tenant(name or f"t-{uuid.uuid4().hex[:10]}", "Tenant", "user")[0]


# --- the same numbers, computed in Python -------------------------------------------------
def in_period(runs, period: Period):
    return [r for r in runs if (period.since is None or r["created_at"] >= period.since)
            and (period.until is None or r["created_at"] < period.until)]


def expected_totals(runs) -> dict:
    return {"calls": len(runs), "prompt_tokens": sum(r["prompt_tokens"] for r in runs),
            "completion_tokens": sum(r["completion_tokens"] for r in runs),
            "tokens": sum(r["prompt_tokens"] + r["completion_tokens"] for r in runs),
            "cost": pytest.approx(sum(r["cost"] for r in runs if r["cost"] is not None), rel=1e-9, abs=1e-12),
            "unpriced": sum(r["cost"] is None for r in runs), "errors": sum(r["error_code"] is not None for r in runs),
            "cached": sum(r["cached"] for r in runs),
            "experiment_calls": sum(r["experiment_id"] is not None for r in runs)}


def totals_of(item) -> dict:
    return {k: getattr(item, k) for k in ("calls", "prompt_tokens", "completion_tokens", "tokens", "cost", "unpriced",
                                          "errors", "cached", "experiment_calls")}


def week_of(moment: datetime) -> date:
    day = moment.date()
    return day - timedelta(days=day.weekday())


def percentile(values, p):
    return None if not values else pytest.approx(float(numpy.percentile(values, p * 100)), rel=1e-9, abs=1e-9)


runs_strategy = st.lists(st.fixed_dictionaries({
    "model": st.sampled_from(MODELS),
    "prompt_name": st.sampled_from(PROMPTS),
    "prompt_tokens": st.integers(0, 5000),
    "completion_tokens": st.integers(0, 5000),
    "cost": st.one_of(st.none(), st.floats(0, 2, allow_nan=False).map(lambda v: round(v, 6))),
    "latency_ms": st.floats(0, 60_000, allow_nan=False).map(lambda v: round(v, 3)),
    "cached": st.booleans(),
    "error_code": st.sampled_from([None, None, "timeout", "rate_limit"]),
    "experiment_id": st.sampled_from([None, None, 7]),
    "created_at": st.integers(0, 45 * 24 * 3600).map(lambda s: BASE + timedelta(seconds=s)),
}), max_size=40)
periods = st.sampled_from([(None, None), (BASE + timedelta(days=10), None), (None, BASE + timedelta(days=20)),
                           (BASE + timedelta(days=3, hours=5), BASE + timedelta(days=17, hours=13))])


@settings(max_examples=25)
@given(runs=runs_strategy, ends=periods, bucket=st.sampled_from(["day", "week"]))
def test_every_aggregate_equals_python_over_the_runs(services, runs, ends, bucket):
    ctx = tenant(services)  # a fresh tenant per example: the other examples' runs must never count
    seed(services, ctx, runs)
    period = Period(since=ends[0], until=ends[1])
    chosen = in_period(runs, period)
    board = services.analytics.dashboard(ctx, period, bucket=bucket, top_prompts=100)

    assert totals_of(board.totals) == expected_totals(chosen)
    assert board.totals.cache_hit_rate == (sum(r["cached"] for r in chosen) / len(chosen) if chosen else None)

    buckets = defaultdict(list)
    for run in chosen:
        buckets[run["created_at"].date() if bucket == "day" else week_of(run["created_at"])].append(run)
    assert [p.bucket for p in board.timeline] == sorted(buckets)
    for point in board.timeline:
        assert totals_of(point) == expected_totals(buckets[point.bucket]), point.bucket

    by_model = defaultdict(list)
    for run in chosen:
        by_model[run["model"]].append(run)
    assert {m.model for m in board.models} == set(by_model)
    assert [m.calls for m in board.models] == sorted((m.calls for m in board.models), reverse=True)
    for stats in board.models:
        runs_of = by_model[stats.model]
        assert totals_of(stats) == expected_totals(runs_of)
        latencies = [r["latency_ms"] for r in runs_of if not r["cached"]]
        assert stats.latency_p50_ms == percentile(latencies, 0.5)
        assert stats.latency_p95_ms == percentile(latencies, 0.95)

    by_prompt = defaultdict(list)
    for run in chosen:
        by_prompt[run["prompt_name"]].append(run)
    assert {p.prompt for p in board.prompts} == set(by_prompt)
    costs = [p.cost for p in board.prompts]
    assert costs == sorted(costs, reverse=True)  # the most expensive first
    for stats in board.prompts:
        assert totals_of(stats) == expected_totals(by_prompt[stats.prompt])


def test_exact_percentiles_over_many_runs_skip_cached_calls(services, ctx):
    import random

    rng = random.Random(7)
    runs = []
    for model, count in (("a/odd", 1001), ("b/even", 1000), ("c/one", 1)):
        for i in range(count):
            runs.append({"model": model, "latency_ms": round(rng.uniform(1, 9000), 3), "cached": False,
                         "created_at": BASE + timedelta(minutes=i)})
    runs += [{"model": "a/odd", "latency_ms": 0.0, "cached": True, "created_at": BASE} for _ in range(300)]
    seed(services, ctx, runs)
    stats = {m.model: m for m in services.analytics.by_model(ctx)}
    for model in ("a/odd", "b/even", "c/one"):
        latencies = [r["latency_ms"] for r in runs if r["model"] == model and not r["cached"]]
        assert stats[model].latency_p50_ms == percentile(latencies, 0.5), model
        assert stats[model].latency_p95_ms == percentile(latencies, 0.95), model
    assert stats["a/odd"].calls == 1301 and stats["a/odd"].cached == 300
    # Only cached calls in the period: no latency to speak of.
    seed(services, ctx, [{"model": "d/cached", "latency_ms": 0.0, "cached": True, "created_at": BASE}])
    only_cached = next(m for m in services.analytics.by_model(ctx) if m.model == "d/cached")
    assert only_cached.latency_p50_ms is None and only_cached.latency_p95_ms is None


def test_another_tenants_runs_are_never_counted(services, ctx):
    other = tenant(services, "other")
    mine = [{"model": "m/a", "prompt_name": "greet", "prompt_tokens": 10, "completion_tokens": 5, "cost": 0.5,
             "latency_ms": 100.0, "created_at": BASE + timedelta(days=1)}]
    theirs = [{"model": "m/secret", "prompt_name": "secret-prompt", "prompt_tokens": 1000, "completion_tokens": 1000,
               "cost": 99.0, "latency_ms": 1.0, "error_code": "timeout", "created_at": BASE + timedelta(days=1)}] * 5
    seed(services, ctx, mine)
    seed(services, other, theirs)
    board = services.analytics.dashboard(ctx)
    assert (board.totals.calls, board.totals.tokens, board.totals.cost, board.totals.errors) == (1, 15, 0.5, 0)
    assert [m.model for m in board.models] == ["m/a"] and board.models[0].latency_p50_ms == 100.0
    assert [p.prompt for p in board.prompts] == ["greet"]
    assert [p.calls for p in board.timeline] == [1]
    theirs_board = services.analytics.dashboard(other)
    assert theirs_board.totals.calls == 5 and [m.model for m in theirs_board.models] == ["m/secret"]


def test_stored_runs_of_the_testing_bench_are_counted(services, ctx, fake_llm):
    from promptmgr.schemas import PromptCreate, parse

    services.providers.add(ctx, "fake", fake_llm.base_url, api_key="sk-analytics-0000")
    services.providers.set_price(ctx, "fake/m", 1.0, 2.0)
    services.library.create(ctx, parse(PromptCreate, {"name": "greet", "content": "Hello {{ name }}"}))
    for name in ("Ada", "Bob"):
        services.testing.run(ctx, "greet", model="fake/m", variables={"name": name}, use_cache=False)
    board = services.analytics.dashboard(ctx, parse_period("1d"))
    runs = services.testing.list_runs(ctx).items
    assert board.totals.calls == 2 == len(runs)
    assert board.totals.tokens == sum(r.prompt_tokens + r.completion_tokens for r in runs) > 0
    assert board.totals.cost == pytest.approx(sum(r.cost for r in runs))
    assert [(p.prompt, p.calls) for p in board.prompts] == [("greet", 2)]
    assert board.timeline[-1].bucket == datetime.now(timezone.utc).date()


def test_only_callers_with_the_analytics_right_read(services, ctx):
    with pytest.raises(PermissionDeniedError):
        services.analytics.dashboard(replace(ctx, role="intruder"))
    assert services.analytics.totals(replace(ctx, role="viewer")).calls == 0


def test_bad_arguments_are_validation_errors(services, ctx):
    with pytest.raises(ValidationError) as err:
        services.analytics.timeline(ctx, bucket="month")
    assert "month" in err.value.translate("en")
    for limit in (0, 101):
        with pytest.raises(ValidationError):
            services.analytics.by_prompt(ctx, limit=limit)
    with pytest.raises(ValidationError) as err:
        services.analytics.totals(ctx, Period(since=BASE, until=BASE))
    assert err.value.message_key == "analytics.bad_period"


# --- periods from text ------------------------------------------------------------------
NOW = datetime(2026, 12, 3, 10, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("text, expected", [
    ("7d", NOW - timedelta(days=7)), ("24h", NOW - timedelta(hours=24)), ("2w", NOW - timedelta(weeks=2)),
    (" 3D ", NOW - timedelta(days=3)), ("2026-11-01", datetime(2026, 11, 1, tzinfo=timezone.utc)),
    ("2026-11-01T08:30:00Z", datetime(2026, 11, 1, 8, 30, tzinfo=timezone.utc)),
    ("2026-11-01T10:30:00+02:00", datetime(2026, 11, 1, 8, 30, tzinfo=timezone.utc)),
    ("2026-11-01 08:30", datetime(2026, 11, 1, 8, 30, tzinfo=timezone.utc)),
])
def test_when_parses_relative_and_iso_times(text, expected):
    assert parse_when(text, now=NOW) == expected


@pytest.mark.parametrize("text", ["", "7", "d7", "7y", "-7d", "yesterday", "2026-13-01", "2026-11-01T25:00",
                                  "9999999d", "1" * 200])
def test_when_refuses_anything_else_with_a_message_naming_the_value(text):
    with pytest.raises(ValidationError) as err:
        parse_when(text, now=NOW)
    assert err.value.message_key == "analytics.bad_when"
    assert "--since" in err.value.translate("en")


def test_period_until_a_date_includes_that_day_and_must_follow_since():
    period = parse_period("2026-11-01", "2026-11-30", now=NOW)
    assert period.until == datetime(2026, 12, 1, tzinfo=timezone.utc)
    assert parse_period(None, "", now=NOW) == Period()
    with pytest.raises(ValidationError) as err:
        parse_period("1d", "2d", now=NOW)
    assert err.value.message_key == "analytics.bad_period"
