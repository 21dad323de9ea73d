"""The REST API's hot path: GET /api/v1/prompts/{name}?label=production with a token, one uvicorn
worker, next to a bare FastAPI route returning a constant (same uvicorn options, same client, same
run); then the same request with If-None-Match (304s).

    /work/main/.venv/bin/python bench/bench_api.py [--rounds 6] [--seconds 3] [--concurrency 16] [--pg [ADMIN_URL]]

Prints requests/s, p50 and p99 latency for each, and the hot path's share of the bare route's
requests/s (the issue's goal: >= 40%). The client (httpx, asyncio, keep-alive) runs in this process
and the servers in subprocesses: on a small shared machine both compete for the cores, so read the
ratio more than the absolute numbers. Both servers run side by side and the three loads take turns,
round after round: the machine's load drifts over a minute (the bare route alone measured 277 and
465 req/s minutes apart), and each round's ratio compares loads a few seconds apart. The ratio
printed is the median of the rounds', with their range. --pg: the app on a fresh PostgreSQL database
(created on the server of PROMPTMGR_TEST_PG or the URL given, dropped after) instead of SQLite. SQLite in a temporary folder; the rate limit is set high
enough not to interfere (its cost, one in-memory moving window per request, is included)."""
from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's promptmgr, not an installed one
PG_ADMIN = os.environ.get("PROMPTMGR_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
ENV = {"PROMPTMGR_MODE": "multi", "PROMPTMGR_LOAD_STARTER": "false", "PROMPTMGR_SECRET_KEY": "bench-secret-key-0123456789abcdef",
       "PROMPTMGR_RATE_LIMIT": "100000000/minute", "PROMPTMGR_WORKSPACE_RATE_LIMIT": "100000000/minute",
       "PROMPTMGR_ARGON2_MEMORY_KIB": "1024", "PROMPTMGR_ARGON2_TIME_COST": "1", "GRADIO_ANALYTICS_ENABLED": "False"}


def serve(kind: str, port: int) -> None:
    import uvicorn

    if kind == "bare":
        from fastapi import FastAPI

        app = FastAPI()

        @app.get("/const")
        def const():
            return {"ok": True}
    else:
        from promptmgr.web.app import create_app

        app = create_app()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def setup() -> str:
    """A workspace with a member, the prompt `greet` labelled production, and a token."""
    from promptmgr.bootstrap import build_services
    from promptmgr.context import TenantContext
    from promptmgr.schemas import PromptCreate, parse

    services = build_services()
    accounts = services.accounts
    accounts.create_workspace(TenantContext(0, 0, "owner"), "bench", "Bench")
    ctx = accounts.operator_context("bench")
    member = accounts.create_user(ctx, "dev@example.com", "a long enough password 1", "editor")
    editor = TenantContext(ctx.tenant_id, member["user_id"], "editor")
    services.library.create(editor, parse(PromptCreate, {"name": "greet", "content": "Hello {{ name }}, welcome to "
                                                       "{{ place }}. " * 8}))
    services.library.set_label(ctx, "greet", "production")  # the owner: a protected label
    token = services.api_tokens.create(ctx, "bench", "dev@example.com")["token"]
    services.db.dispose()
    return token


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(kind: str, env: dict) -> tuple[subprocess.Popen, int]:
    import httpx

    port = _free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", kind, "--port", str(port)], env=env, cwd=ROOT)
    probe = f"http://127.0.0.1:{port}" + ("/const" if kind == "bare" else "/api/v1/health")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(probe, timeout=1).status_code == 200:
                return proc, port
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"the {kind} server did not start")


async def load(url: str, headers: dict, seconds: float, concurrency: int, expect: int) -> dict:
    import httpx

    latencies: list[float] = []
    errors = 0
    async with httpx.AsyncClient(headers=headers, limits=httpx.Limits(max_connections=concurrency)) as client:
        async def one_worker(until: float, record: bool):
            nonlocal errors
            while time.perf_counter() < until:
                t0 = time.perf_counter()
                response = await client.get(url)
                if record:
                    latencies.append(time.perf_counter() - t0)
                    errors += response.status_code != expect
        warm = time.perf_counter() + 1.0
        await asyncio.gather(*(one_worker(warm, False) for _ in range(concurrency)))
        began = time.perf_counter()
        await asyncio.gather(*(one_worker(began + seconds, True) for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {"rps": len(latencies) / elapsed, "p50": statistics.median(latencies) * 1000,
            "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000, "n": len(latencies), "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", choices=["api", "bare"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--pg", nargs="?", const=PG_ADMIN, help="run the app on PostgreSQL (an admin URL)")
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve, args.port)
    import httpx

    home = tempfile.mkdtemp(prefix="pm-bench-api-")
    env = {**os.environ, **ENV, "PROMPTMGR_HOME": home}
    env.pop("DATABASE_URL", None)
    os.environ.update({k: v for k, v in env.items() if k.startswith(("PROMPTMGR_", "GRADIO_"))})
    os.environ.pop("DATABASE_URL", None)
    if args.pg:
        from bench.bench_workers import database, drop

        env["DATABASE_URL"] = os.environ["DATABASE_URL"] = database(args.pg)
    try:
        run(args, env)
    finally:
        if args.pg:
            drop(args.pg, env["DATABASE_URL"])


def run(args, env: dict) -> None:
    import httpx

    token = setup()
    bare, bare_port = start("bare", env)
    api, port = start("api", env)
    try:
        url = f"http://127.0.0.1:{port}/api/v1/prompts/greet?label=production"
        auth = {"authorization": f"Bearer {token}"}
        etag = httpx.get(url, headers=auth).headers["etag"]
        loads = {"bare FastAPI route (constant)": (f"http://127.0.0.1:{bare_port}/const", {}, 200),
                 "GET prompt ?label=production (200)": (url, auth, 200),
                 "same with If-None-Match (304)": (url, {**auth, "if-none-match": etag}, 304)}
        rounds = [{name: asyncio.run(load(target, headers, args.seconds, args.concurrency, expect))
                   for name, (target, headers, expect) in loads.items()} for _ in range(args.rounds)]
    finally:
        for proc in (bare, api):
            proc.terminate(), proc.wait(10)
    base = next(iter(loads))
    print(f"one uvicorn worker, {'PostgreSQL' if args.pg else 'SQLite'}, {args.concurrency} concurrent keep-alive clients, {args.rounds} rounds of "
          f"{args.seconds:.0f} s per load (cpus: {os.cpu_count()}, client in the same machine)")
    print(f"{'':40} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'vs bare (median, range)':>26}")
    for name in loads:
        runs = [r[name] for r in rounds]
        ratios = sorted(r[name]["rps"] / r[base]["rps"] for r in rounds)
        share = f"{statistics.median(ratios):.0%} ({ratios[0]:.0%}-{ratios[-1]:.0%})"
        print(f"{name:40} {statistics.mean(r['rps'] for r in runs):8.0f} {statistics.median(r['p50'] for r in runs):8.2f} "
              f"{statistics.median(r['p99'] for r in runs):8.2f} {sum(r['errors'] for r in runs):7d} {share:>26}")


if __name__ == "__main__":
    main()
