"""The Python client's cached get next to an uncached fetch, in the same run: one thread calling
`Client.get_prompt("greet", label="production")` (a cache hit, no request) and the same prompt
fetched over HTTP each time (GET with the token: what an application without the cache pays), and
the If-None-Match revalidation (304) that replaces a fetch once the TTL has passed.

    /work/main/.venv/bin/python bench/bench_client.py [--fetches 300] [--hits 20000]

The server (the hosted app, one uvicorn worker, SQLite) runs in a subprocess started by
bench/bench_api.py's helpers; on a shared machine read the ratio more than the absolute numbers."""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_api import ENV, setup, start  # noqa: E402


def timed(call, count: int) -> dict:
    latencies = []
    for _ in range(count):
        began = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - began)
    latencies.sort()
    return {"n": count, "p50_us": statistics.median(latencies) * 1e6,
            "p99_us": latencies[max(0, int(count * 0.99) - 1)] * 1e6, "per_s": count / sum(latencies)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fetches", type=int, default=300)
    parser.add_argument("--hits", type=int, default=20000)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="pm-bench-client-")
    env = {**os.environ, **ENV, "PROMPTMGR_HOME": home}
    env.pop("DATABASE_URL", None)
    os.environ.update({k: v for k, v in env.items() if k.startswith(("PROMPTMGR_", "GRADIO_"))})
    os.environ.pop("DATABASE_URL", None)
    token = setup()
    server, port = start("api", env)
    try:
        from promptmgr.client import Client

        with Client(f"http://127.0.0.1:{port}", token) as client:
            key = ("greet", "production", None)
            fetch = timed(lambda: client._fetch(key), args.fetches)
            etag = client.cache.get(key).etag
            revalidate = timed(lambda: client._request(key, etag), args.fetches)
            client.get_prompt("greet", label="production")
            hit = timed(lambda: client.get_prompt("greet", label="production"), args.hits)
            prompt = client.get_prompt("greet", label="production")
            render = timed(lambda: prompt.render(name="Ada", place="Paris"), args.fetches)
    finally:
        server.terminate()
        server.wait(10)
    for name, row in (("fetch (GET, 200)", fetch), ("revalidate (If-None-Match, 304)", revalidate),
                      ("cached get_prompt (hit)", hit), ("local render", render)):
        print(f"{name:34} n={row['n']:>6}  p50 {row['p50_us']:9.1f} us  p99 {row['p99_us']:9.1f} us  "
              f"{row['per_s']:10.0f}/s")
    print(f"cache hit vs fetch: {fetch['p50_us'] / hit['p50_us']:.0f}x faster at p50")


if __name__ == "__main__":
    main()
