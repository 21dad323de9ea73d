"""Figures: the Analytics queries over 1,000,000 stored runs, aggregated in the database, next to a
baseline that loads the tenant's runs into Python and aggregates there.

    .venv/bin/python bench/bench_analytics.py [--n 1000000] [--pg] [--rebuild]

Seeds (bulk insert: executemany on SQLite, COPY on PostgreSQL) `n` runs of the local tenant over
180 days, 8 models, 2,000 prompts (10% cached, 3% errors, 20% from experiments, 5% unpriced) plus
5% as many runs of another tenant (never counted), each run with a ~300-byte input and output like
real rows. The SQLite file is kept in bench/out/ and reused (--rebuild makes it again).

Prints the median of 3 timed calls (after one warm-up) of each AnalyticsService method for all
time and for the last 30 days, the whole dashboard, then `promptmgr stats` in a subprocess
(process start included), then the baseline."""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))
PG_ADMIN = os.environ.get("PROMPTMGR_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
MODELS = ["openai/gpt-4o-mini", "openai/gpt-4o", "anthropic/claude-3-5-haiku", "anthropic/claude-sonnet-4",
          "fake/test-model", "local/smollm2", "groq/llama-3.1-8b", "mistral/mistral-small"]
COLUMNS = ("tenant_id", "prompt_name", "version_number", "model", "params", "variables", "rendered_input", "output",
           "prompt_tokens", "completion_tokens", "cost", "latency_ms", "cached", "error_code", "experiment_id",
           "created_at")
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)
DAYS = 180


def rows(n: int, tenant_id: int, seed: int):
    """n runs as tuples in COLUMNS order (created_at aware), deterministic."""
    rng = random.Random(seed)
    weights = [30, 15, 12, 8, 10, 5, 12, 8]
    prompts = [f"prompt-{i:04d}" for i in range(2000)]
    filler = "lorem ipsum dolor sit amet consectetur adipiscing elit " * 5
    for i in range(n):
        model = rng.choices(MODELS, weights)[0]
        prompt_tokens, completion_tokens = rng.randint(20, 2000), rng.randint(5, 800)
        cached = rng.random() < 0.10
        error = None if rng.random() >= 0.03 else rng.choice(["timeout", "rate_limit", "server"])
        cost = None if rng.random() < 0.05 else round((prompt_tokens * 0.15 + completion_tokens * 0.6) / 1e6, 9)
        latency = 0.0 if cached else round(rng.lognormvariate(6.5, 0.7), 3)
        created = NOW - timedelta(seconds=rng.randint(0, DAYS * 86400))
        rendered = json.dumps([{"role": "user", "content": filler[:rng.randint(100, 250)]}])
        yield (tenant_id, rng.choice(prompts), 1, model, "{}", "{}", rendered, filler[:rng.randint(50, 250)],
               prompt_tokens, completion_tokens, cost, latency, cached, error,
               7 if rng.random() < 0.2 else None, created)


def seed_sqlite(engine, tenant_id: int, other_id: int, n: int) -> float:
    start = time.perf_counter()
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        sql = f"INSERT INTO run ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
        for tenant, count, seed in ((tenant_id, n, 7), (other_id, n // 20, 8)):
            batch = []
            for row in rows(count, tenant, seed):
                # SQLAlchemy's SQLite DATETIME text (UTC, no offset) and 0/1 booleans.
                batch.append((*row[:12], int(row[12]), *row[13:15], row[15].strftime("%Y-%m-%d %H:%M:%S.%f")))
                if len(batch) == 50_000:
                    cursor.executemany(sql, batch)
                    batch.clear()
            if batch:
                cursor.executemany(sql, batch)
        raw.commit()
        cursor.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
    return time.perf_counter() - start


def seed_pg(engine, tenant_id: int, other_id: int, n: int) -> float:
    start = time.perf_counter()
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for tenant, count, seed in ((tenant_id, n, 7), (other_id, n // 20, 8)):
            with cursor.copy(f"COPY run ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for row in rows(count, tenant, seed):
                    copy.write_row(row)
        raw.commit()
    finally:
        raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        from sqlalchemy import text

        conn.execute(text("VACUUM ANALYZE run"))  # index-only scans need the visibility map
    return time.perf_counter() - start


def timed(fn, rounds: int = 3) -> float:
    fn()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def baseline(engine, tenant_id: int, since: datetime | None) -> tuple[float, dict]:
    """Load the tenant's runs (only the columns needed) and aggregate in Python: totals, by day,
    by model with exact percentiles, by prompt."""
    from sqlalchemy import select

    from promptmgr.models import Run

    start = time.perf_counter()
    columns = (Run.created_at, Run.model, Run.prompt_name, Run.prompt_tokens, Run.completion_tokens, Run.cost,
               Run.latency_ms, Run.cached, Run.error_code)
    statement = select(*columns).where(Run.tenant_id == tenant_id)
    if since is not None:
        statement = statement.where(Run.created_at >= since)
    with engine.connect() as conn:
        loaded = conn.execute(statement).all()
    totals = defaultdict(float)
    by_day, by_model, by_prompt = defaultdict(float), defaultdict(list), defaultdict(float)
    for created, model, prompt, p_tok, c_tok, cost, latency, cached, error in loaded:
        totals["calls"] += 1
        totals["tokens"] += p_tok + c_tok
        totals["cost"] += cost or 0
        totals["errors"] += error is not None
        by_day[created.date()] += 1
        by_prompt[prompt] += cost or 0
        if not cached:
            by_model[model].append(latency)
    import numpy

    latencies = {m: (numpy.percentile(v, 50), numpy.percentile(v, 95)) for m, v in by_model.items()}
    top = sorted(by_prompt.items(), key=lambda kv: -kv[1])[:10]
    return (time.perf_counter() - start) * 1000, {"rows": len(loaded), "p": latencies, "top": top,
                                                  "totals": dict(totals)}


def measure(label: str, services, ctx, engine, db_url: str, home: Path, cli: bool) -> None:
    from promptmgr.schemas_analytics import Period

    print(f"\n== {label}")
    last30 = Period(since=NOW - timedelta(days=30))
    analytics = services.analytics
    for name, period in (("all time", None), ("last 30 days", last30)):
        figures = {
            "totals": timed(lambda: analytics.totals(ctx, period)),
            "timeline by day": timed(lambda: analytics.timeline(ctx, period, "day")),
            "timeline by week": timed(lambda: analytics.timeline(ctx, period, "week")),
            "by model + p50/p95": timed(lambda: analytics.by_model(ctx, period)),
            "top 10 prompts": timed(lambda: analytics.by_prompt(ctx, period, limit=10)),
            "dashboard (all of it)": timed(lambda: analytics.dashboard(ctx, period), rounds=3),
        }
        calls = analytics.totals(ctx, period).calls
        print(f"  {name} ({calls:,} runs of this tenant):")
        for what, ms in figures.items():
            print(f"    {what:<24} {ms:9.1f} ms")
        base_ms, base = baseline(engine, ctx.tenant_id, period.since if period else None)
        board = analytics.dashboard(ctx, period)
        check = {m.model: (m.latency_p50_ms, m.latency_p95_ms) for m in board.models}
        same = all(abs(check[m][0] - p50) < 1e-6 and abs(check[m][1] - p95) < 1e-6 for m, (p50, p95) in base["p"].items())
        print(f"    baseline: load {base['rows']:,} rows into Python and aggregate: {base_ms:9.1f} ms "
              f"({base_ms / figures['dashboard (all of it)']:.0f}x the dashboard); same percentiles: {same}")
    if cli:
        env = {**os.environ, "PROMPTMGR_HOME": str(home), "DATABASE_URL": db_url, "PROMPTMGR_LOAD_STARTER": "false",
               "PROMPTMGR_LOCALE": "en", "PYTHONPATH": str(ROOT)}
        for args in (["stats", "--json"], ["stats", "--by", "prompt"], ["stats", "--since", "7d", "--by", "day"]):
            samples = []
            for _ in range(3):
                start = time.perf_counter()
                done = subprocess.run([sys.executable, "-m", "promptmgr", *args], env=env, cwd=ROOT,
                                      capture_output=True, text=True, timeout=300)
                samples.append(time.perf_counter() - start)
                assert done.returncode == 0, done.stderr
            print(f"  CLI promptmgr {' '.join(args):<28} {statistics.median(samples) * 1000:9.1f} ms (process included)")


def open_services(db_url: str, home: Path):
    import promptmgr.llm.offline  # noqa: F401  (offline switches before anything else loads)
    from promptmgr.bootstrap import build_services
    from promptmgr.config import Settings

    services = build_services(Settings(home=home, database_url=db_url, load_starter=False))
    ctx = services.local_context(load_starter=False)
    other = services.admin.ensure_tenant("bench-other", "Other", "user")[0]
    return services, ctx, other


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--pg", action="store_true", help="also on PostgreSQL (a throw-away database)")
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    from promptmgr.db import SCHEMA_HEAD

    OUT.mkdir(parents=True, exist_ok=True)
    home = OUT / f"analytics-{args.n}-{SCHEMA_HEAD}"
    path = home / "promptmgr.db"
    if args.rebuild and home.exists():
        import shutil

        shutil.rmtree(home)
    fresh = not path.exists()
    db_url = f"sqlite:///{path}"
    services, ctx, other = open_services(db_url, home)
    if fresh:
        seconds = seed_sqlite(services.db.engine, ctx.tenant_id, other.tenant_id, args.n)
        print(f"seeded {args.n:,} + {args.n // 20:,} runs into SQLite in {seconds:.0f} s "
              f"({path.stat().st_size / 1e6:.0f} MB)")
    else:  # a file kept from an earlier run of the same revision: add any index it lacks
        from sqlalchemy import inspect

        from promptmgr.models import Run

        start = time.perf_counter()
        present = {index["name"] for index in inspect(services.db.engine).get_indexes("run")}
        created = [index.name for index in Run.__table__.indexes if index.name not in present]
        for index in Run.__table__.indexes:
            index.create(services.db.engine, checkfirst=True)
        if created:
            with services.db.engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
            print(f"added indexes {created} to the kept file in {time.perf_counter() - start:.0f} s")
    measure(f"SQLite ({path})", services, ctx, services.db.engine, db_url, home, cli=True)
    services.db.dispose()

    if args.pg:
        from sqlalchemy import create_engine, text

        name = f"promptmgr_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        pg_url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
        try:
            pg_home = OUT / f"analytics-pg-{name}"
            services, ctx, other = open_services(pg_url, pg_home)
            seconds = seed_pg(services.db.engine, ctx.tenant_id, other.tenant_id, args.n)
            print(f"\nseeded {args.n:,} + {args.n // 20:,} runs into PostgreSQL in {seconds:.0f} s")
            measure("PostgreSQL", services, ctx, services.db.engine, pg_url, pg_home, cli=True)
            services.db.dispose()
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
