"""Experiment throughput with 1, 2 and 4 `promptmgr worker` processes (issue 12), each figure next
to the 1-worker baseline (goal: 2 workers >= 1.8x, 4 workers >= 3.4x).

One experiment of ROWS x 2 variants at 100 ms model latency (tests/fake_llm.py in its own process),
PostgreSQL, hosted mode: the experiment is queued in 4 shards; every worker runs one shard at a time
with the experiment's concurrency (--per-worker calls at once), so N workers make N x that many calls
at once. Workers are started and registered before the clock starts: the figure is from enqueue to
`completed`, with the requests counted at the fake server (must equal the cells).

Run: python bench/bench_workers.py [--rows 300] [--per-worker 4] [--latency 0.1] [--pg URL]"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from promptmgr.llm import offline  # noqa: E402,F401

from bench.bench_experiments import ServerProcess  # noqa: E402

SECRET = "bench-workers-secret-key-0123456789abcdef"
PG_ADMIN = os.environ.get("PROMPTMGR_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def database(admin_url: str) -> str:
    from sqlalchemy import create_engine, text

    name = f"promptmgr_bench_{uuid.uuid4().hex[:8]}"
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def drop(admin_url: str, url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    engine.dispose()


def one(workers: int, rows: int, per_worker: int, server: ServerProcess, admin_url: str) -> tuple[float, int]:
    """Seconds from enqueue to completion, and requests the server received."""
    from sqlalchemy import create_engine, text

    from promptmgr.bootstrap import build_services
    from promptmgr.config import Settings
    from tests.experiment_rows import make_experiment, make_prompt

    url = database(admin_url)
    home = Path(tempfile.mkdtemp(prefix="pm-bench-workers-"))
    settings = Settings(home=home, database_url=url, mode="multi", load_starter=False, secret_key=SECRET)
    services = build_services(settings)
    ctx = services.local_context(load_starter=False)
    services.providers.add(ctx, "fake", server.base_url, api_key="sk-bench-workers-0123456789")
    make_prompt(services, ctx, "ask", "Question {{ i }}")
    make_prompt(services, ctx, "tell", "Tell me {{ i }}")
    make_experiment(services, ctx, "bench", rows=rows, concurrency=per_worker,
                    variants=[("ask", "fake/m1", {}), ("tell", "fake/m2", {})])
    from promptmgr import worker

    worker.ensure_schema(services)
    env = {**os.environ, "PROMPTMGR_HOME": str(home), "DATABASE_URL": url, "PROMPTMGR_MODE": "multi",
           "PROMPTMGR_SECRET_KEY": SECRET, "PROMPTMGR_LOAD_STARTER": "false"}
    procs = [subprocess.Popen([sys.executable, "-m", "promptmgr", "worker"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(workers)]
    engine = create_engine(url)
    try:
        deadline = time.monotonic() + 120
        while True:  # every worker registered with the queue: start-up is not the figure
            with engine.connect() as conn:
                ready = conn.execute(text("SELECT count(*) FROM procrastinate_workers")).scalar()
            if ready >= workers:
                break
            assert time.monotonic() < deadline, "workers did not start"
            time.sleep(0.1)
        before = server.chat_count
        began = time.perf_counter()
        services.enqueue_experiment(ctx, "bench", shards=4)
        while services.experiment_runs.progress(ctx, "bench")["status"] == "running":
            time.sleep(0.05)
        elapsed = time.perf_counter() - began
        progress = services.experiment_runs.progress(ctx, "bench")
        assert progress["status"] == "completed" and progress["done"] == 2 * rows, progress
        return elapsed, server.chat_count - before
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(60)
        engine.dispose()
        services.db.dispose()
        drop(admin_url, url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--per-worker", type=int, default=4, help="model calls at once per worker")
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--pg", default=PG_ADMIN, help="an admin URL of the PostgreSQL server")
    args = parser.parse_args()
    cells = 2 * args.rows
    server = ServerProcess(args.latency)
    try:
        print(f"{cells} cells, {args.latency * 1000:.0f} ms latency, {args.per_worker} calls at once per worker, "
              f"{os.cpu_count()} cores")
        base = None
        for n, goal in ((1, None), (2, 1.8), (4, 3.4)):
            seconds, requests = one(n, args.rows, args.per_worker, server, args.pg)
            rate = cells / seconds
            base = base or rate
            ideal = cells * args.latency / (n * args.per_worker)
            verdict = "" if goal is None else f"  goal >= {goal}x: {'met' if rate / base >= goal else 'NOT met'}"
            print(f"{n} worker{'s' if n > 1 else ' '}: {seconds:6.2f} s  {rate:7.1f} cells/s  {rate / base:4.2f}x of 1 "
                  f"worker  (ideal {ideal:.2f} s; requests {requests} for {cells} cells){verdict}")
    finally:
        server.close()


if __name__ == "__main__":
    main()
