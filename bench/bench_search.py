"""Figure: full-text search over 100,000 realistic prompts (~200 words each).

Runs ~200 realistic queries (1-3 words, common and rare words, prefixes, category and tag filters)
through LibraryService.list(ctx, PromptQuery(q=..., limit=50)) - the first page and the total -
and prints p50/p95/max on SQLite, next to the baseline of loading every prompt and filtering in
Python (on a subset of the queries), then the same figures on PostgreSQL.

    .venv/bin/python bench/bench_search.py [--n 100000] [--queries 200] [--baseline 12] [--no-pg]

The SQLite library is built once with TransferService.import_ and cached under bench/out/ (keyed
by the corpus and the schema files); PostgreSQL gets a throw-away database, dropped at the end.
"""
from __future__ import annotations

import os

# The bench corpus is one document of ~240 MB: far above the import limit a user gets by default.
os.environ.setdefault("PROMPTMGR_MAX_DOCUMENT_BYTES", str(10**10))

import argparse
import hashlib
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from corpus import ADJECTIVES, GENERAL, OUT, SEED, Corpus, document_file

import promptmgr.llm.offline  # noqa: F401  (offline switches before anything else loads)

GOAL_P95_MS = 10.0
GOAL_SPEEDUP = 100.0
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SCHEMA_FILES = ("bench/corpus.py", "promptmgr/migrations/search_index.py",
                "promptmgr/migrations/versions/0001_initial_schema.py",
                "promptmgr/migrations/versions/0003_search_prefix.py")


# --- the library --------------------------------------------------------------------------
def _services(url: str, home: Path):
    from promptmgr.bootstrap import build_services
    from promptmgr.config import Settings

    services = build_services(Settings(home=home, database_url=url, load_starter=False))
    return services, services.local_context(load_starter=False)


def _load(services, ctx, n: int, seed: int) -> float:
    from promptmgr.services.transfer import load_document

    start = time.perf_counter()
    document = load_document(document_file(n, seed).read_text(encoding="utf-8"), "json")
    services.transfer.import_(ctx, document)
    return time.perf_counter() - start


def sqlite_library(n: int, seed: int, home: Path):
    """The cached SQLite library of n prompts (built on first use), its services and context."""
    key = hashlib.sha1(b"".join((ROOT / f).read_bytes() for f in SCHEMA_FILES)).hexdigest()[:10]
    path = OUT / f"search-{n}-{seed}-{key}.db"
    if not path.exists():
        OUT.mkdir(exist_ok=True)
        for stale in OUT.glob(f"search-{n}-{seed}-*.db*"):
            stale.unlink()
        build = OUT / f"building-{uuid.uuid4().hex[:8]}.db"
        services, ctx = _services(f"sqlite:///{build}", home)
        seconds = _load(services, ctx, n, seed)
        services.db.dispose()
        print(f"built the SQLite library of {n:,} prompts in {seconds:.0f} s (cached as {path.relative_to(ROOT)})")
        build.replace(path)
    return _services(f"sqlite:///{path}", home)


# --- the queries ----------------------------------------------------------------------------
def make_queries(count: int, seed: int) -> list[dict]:
    """Realistic searches: mostly topic and domain words, some very common words, some rare names,
    two- and three-word queries, prefixes as typed, and category/tag filters."""
    corpus, rng = Corpus(seed), random.Random(seed + 1)
    categories = corpus.categories
    common = ADJECTIVES[:8] + GENERAL[:8]

    def topic_word(cat):
        return rng.choice(cat.topics[rng.choice(cat.topic_names)])

    queries = []
    for i in range(count):
        cat = rng.choice(categories)
        roll = rng.random()
        if roll < 0.12:
            kind, q = "common", rng.choice(common)
        elif roll < 0.30:
            kind, q = "domain", rng.choice(cat.words)
        elif roll < 0.52:
            kind, q = "topic", topic_word(cat)
        elif roll < 0.60:
            kind, q = "rare name", rng.choice(corpus.entities[:2000])
        elif roll < 0.76:
            kind, q = "2 words", f"{topic_word(cat)} {rng.choice(cat.words + common)}"
        elif roll < 0.84:
            kind, q = "3 words", f"{rng.choice(cat.words)} {topic_word(cat)} {rng.choice(common)}"
        elif roll < 0.94:
            word = rng.choice([w for w in cat.words + common if len(w) >= 6])
            kind, q = "prefix", word[:rng.randint(3, 5)]
        else:
            kind, q = "2 common", " ".join(rng.sample(common, 2))
        query = {"kind": kind, "q": q}
        filter_roll = rng.random()
        if filter_roll < 0.2:
            query["category"] = cat.name
        elif filter_roll < 0.3:
            query["tag"] = rng.choice(cat.tags + [t.replace("_", "-") for t in cat.topic_names])
        queries.append(query)
    return queries


def describe(query: dict) -> str:
    extra = "".join(f" {key}={query[key]}" for key in ("category", "tag") if key in query)
    return f"{query['q']!r}{extra}"


def picker_queries(services, count: int, seed: int) -> list[dict]:
    """What the Testing/Builder prompt pickers send as a name is typed: prefixes of prompt names."""
    from sqlalchemy import text

    rng = random.Random(seed + 2)
    with services.db.engine.connect() as conn:
        names = [row[0] for row in conn.execute(text("SELECT name FROM prompt ORDER BY id"))]
    picked = rng.sample(names, count)
    return [{"kind": "picker", "q": name[:rng.randint(2, len(name))], "limit": 20} for name in picked]


def run_service(services, ctx, queries: list[dict]) -> list[tuple[float, int]]:
    """(milliseconds, total) of LibraryService.list for each query."""
    from promptmgr.schemas import PromptQuery

    results = []
    for query in queries:
        args = PromptQuery(q=query["q"], category=query.get("category"), tag=query.get("tag"),
                           limit=query.get("limit", 50))
        start = time.perf_counter()
        page = services.library.list(ctx, args)
        results.append(((time.perf_counter() - start) * 1000, page.total))
    return results


# --- the baseline ---------------------------------------------------------------------------
_WEIGHTS = (10.0, 8.0, 4.0, 6.0, 1.0)  # name, title, description, tags, content (as the FTS ranking)


def run_baseline(services, ctx, query: dict) -> tuple[float, int]:
    """Load every prompt with its content and filter in Python: all words must match, the last as a
    word prefix (from 2 characters); rank by weighted occurrences; take the first 50. (milliseconds, total)"""
    from sqlalchemy import text

    start = time.perf_counter()
    with services.db.engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT id, name, title, description, tags_text, content_text, category FROM prompt "
            "WHERE tenant_id = :tenant"), {"tenant": ctx.tenant_id}).all()
        tagged = None
        if query.get("tag"):
            tagged = {r[0] for r in conn.execute(text(
                "SELECT prompt_id FROM prompt_tag WHERE tenant_id = :tenant AND tag = :tag"),
                {"tenant": ctx.tenant_id, "tag": query["tag"]})}
    words = re.findall(r"[^\W_]+", query["q"].lower())
    patterns = [re.compile(r"(?<![^\W_])" + re.escape(word) + ("" if i == len(words) - 1 and len(word) >= 2
                                                                 else r"(?![^\W_])"))
                for i, word in enumerate(words)]
    scored = []
    for row in rows:
        if query.get("category") and row[6] != query["category"]:
            continue
        if tagged is not None and row[0] not in tagged:
            continue
        fields = [value.lower() for value in row[1:6]]
        score = 0.0
        for pattern in patterns:
            hits = sum(weight * len(pattern.findall(value)) for weight, value in zip(_WEIGHTS, fields))
            if not hits:
                break
            score += hits
        else:
            scored.append((-score, row[0], row[1]))
    scored.sort()
    page = [name for _, _, name in scored[:50]]
    assert len(page) == min(50, len(scored))
    return (time.perf_counter() - start) * 1000, len(scored)


# --- reporting ------------------------------------------------------------------------------
def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def summary(label: str, millis: list[float]) -> str:
    return (f"{label:28} p50 {statistics.median(millis):7.2f} ms   p95 {percentile(millis, 95):7.2f} ms   "
            f"max {max(millis):7.2f} ms   ({len(millis)} queries)")


def slowest(queries, results, count=5) -> str:
    worst = sorted(zip(results, queries), key=lambda pair: -pair[0][0])[:count]
    return "\n".join(f"    {ms:7.2f} ms  {total:6,} hits  [{q['kind']}] {describe(q)}" for (ms, total), q in worst)


def timed_runs(services, ctx, queries, label: str, rounds: int = 3) -> list[tuple[float, int]]:
    """Each query's median over `rounds` timed rounds (the machines are shared and noisy), after
    one round that warms the caches (as a library in use has them warm)."""
    run_service(services, ctx, queries)
    runs = [run_service(services, ctx, queries) for _ in range(rounds)]
    results = [(statistics.median(ms for ms, _ in per_query), per_query[0][1]) for per_query in zip(*runs)]
    print(summary(label, [ms for ms, _ in results]))
    print("  slowest:\n" + slowest(queries, results))
    return results


def bench_sqlite(args, queries, home: Path) -> None:
    services, ctx = sqlite_library(args.n, args.seed, home / "sqlite")
    print(f"\nSQLite {services.db.engine.dialect.dbapi.sqlite_version}: {services.library.list(ctx).total:,} prompts")
    results = timed_runs(services, ctx, queries, "LibraryService.list")
    p95 = percentile([ms for ms, _ in results], 95)
    by_kind: dict[str, list[float]] = {}
    for (ms, _), query in zip(results, queries):
        by_kind.setdefault(query["kind"], []).append(ms)
    print("  by kind (p50 / max ms, median hits):")
    for kind, millis in by_kind.items():
        hits = statistics.median(total for (_, total), q in zip(results, queries) if q["kind"] == kind)
        print(f"    {kind:10} {statistics.median(millis):7.2f} / {max(millis):7.2f}   {hits:8,.0f}")

    pickers = picker_queries(services, 100, args.seed)
    print("\npicker: prefixes of 100 prompt names, limit 20 (the Testing/Builder prompt choices)")
    picker_p95 = percentile([ms for ms, _ in timed_runs(services, ctx, pickers, "LibraryService.list")], 95)

    # The baseline on an evenly spread subset (each run reads every row, ~1 s or more).
    subset = list(range(0, len(queries), max(1, len(queries) // args.baseline)))[:args.baseline]
    print(f"\nbaseline: load all rows and filter in Python, {len(subset)} of the queries")
    print(f"    {'query':44}{'hits':>8}{'service ms':>12}{'baseline ms':>13}{'speed-up':>10}")
    service_ms, baseline_ms = [], []
    for i in subset:
        ms, total = run_baseline(services, ctx, queries[i])
        ours, our_total = results[i]
        service_ms.append(ours)
        baseline_ms.append(ms)
        mark = "" if total == our_total else f"  (service: {our_total:,} hits)"
        print(f"    {describe(queries[i])[:44]:44}{total:8,}{ours:12.2f}{ms:13.1f}{ms / ours:9.0f}x{mark}")
    speedup = statistics.median(baseline_ms) / statistics.median(service_ms)
    print(summary("baseline (Python filter)", baseline_ms))
    print(f"\nSQLite: p95 {p95:.2f} ms (goal <= {GOAL_P95_MS:.0f} ms: {'met' if p95 <= GOAL_P95_MS else 'MISSED'}); "
          f"median speed-up over the baseline {speedup:,.0f}x on the same queries "
          f"(goal >= {GOAL_SPEEDUP:.0f}x: {'met' if speedup >= GOAL_SPEEDUP else 'MISSED'}); "
          f"baseline p50 {statistics.median(baseline_ms):,.0f} ms vs {statistics.median(service_ms):.2f} ms; "
          f"picker p95 {picker_p95:.2f} ms")
    services.db.dispose()


def bench_postgres(args, queries, home: Path) -> None:
    from sqlalchemy import create_engine, text

    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            version = conn.execute(text("SHOW server_version")).scalar()
    except Exception as exc:  # noqa: BLE001  (any failure to connect means: no server to measure)
        print(f"\nPostgreSQL skipped: the server on 127.0.0.1:5432 is unreachable ({type(exc).__name__})")
        return
    name = f"promptmgr_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    services = None
    try:
        services, ctx = _services(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}", home / "pg")
        seconds = _load(services, ctx, args.n, args.seed)
        # The steady state autovacuum reaches: planner statistics and the visibility map.
        with services.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
        print(f"\nPostgreSQL {version}: {services.library.list(ctx).total:,} prompts (imported in {seconds:.0f} s)")
        timed_runs(services, ctx, queries, "LibraryService.list")
    finally:
        if services is not None:
            services.db.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="prompts in the library")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--baseline", type=int, default=12, help="queries to run through the baseline")
    parser.add_argument("--no-pg", action="store_true", help="skip PostgreSQL")
    parser.add_argument("--pg-only", action="store_true", help="skip SQLite")
    args = parser.parse_args()

    queries = make_queries(args.queries, args.seed)
    home = Path(tempfile.mkdtemp(prefix="promptmgr-bench-search-"))
    try:
        if not args.pg_only:
            bench_sqlite(args, queries, home)
        if not args.no_pg:
            bench_postgres(args, queries, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
