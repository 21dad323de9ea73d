"""Experiment runner figures, each printed next to its baseline (issue 9).

1. Engine overhead: 2 variants x 200 rows = 400 calls to the fake server at 100 ms latency,
   concurrency 16, next to the ideal 400 x 0.1 / 16 = 2.5 s (goal <= 1.10x) and next to the same
   400 calls made straight through Gateway.acomplete under a semaphore (no runner, no database):
   the difference between those two is the runner's own cost, the rest is the model layer's.
   Beside it, the same workload through promptfoo when it is installed (PROMPTFOO_BIN or PATH;
   bench/promptfoo_leg.py), timed end to end and by its own duration, and through promptmgr's
   CLI end to end (`promptmgr experiments run`, a new process) so both have a start-up figure.
   Requests are counted at the fake server for every leg (goal: faster than promptfoo).
2. Cached re-run (temperature 0): requests that reach the server (goal 0) and wall time (<= 0.5 s).
3. 100,000 rows x 2 variants at 0 ms latency: cells/s and peak RSS of the running process (goal
   <= 300 MB), with an instant in-process model double so the figure is the runner's (claims,
   rendering, checks, batched writes); plus cells/s over real HTTP on a smaller set.

Run: [PROMPTFOO_BIN=...] python bench/bench_experiments.py [--rows N] [--http-rows N] [--db URL] [--no-promptfoo]"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from promptmgr.llm import offline  # noqa: E402,F401

API_KEY = "sk-bench-experiments-0123456789"


class ServerProcess:
    """tests/fake_llm.py served from its own process: its HTTP work does not share our GIL, as a
    real provider's would not. Requests are counted through its /_stats endpoint."""

    def __init__(self, delay: float):
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fake_llm.py"), str(delay)], cwd=ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.port = int(self.proc.stdout.readline())
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    @property
    def chat_count(self) -> int:
        import httpx

        return httpx.get(self.base_url + "/_stats", timeout=10).json()["chat_requests"]

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(10)


def build(home: Path, url: str | None):
    from promptmgr.bootstrap import build_services
    from promptmgr.config import Settings

    settings = Settings(home=home, database_url=url or f"sqlite:///{home / 'bench.db'}", load_starter=False)
    services = build_services(settings)
    return services, services.local_context(load_starter=False)


TEMPLATES = {"ask": "Question {{ i }}: answer briefly.", "tell": "Tell me about {{ i }} in one line."}


def setup_prompts(services, ctx):
    from tests.experiment_rows import make_prompt

    for name, template in TEMPLATES.items():
        make_prompt(services, ctx, name, template)


def gateway_only(services, ctx, calls: int, concurrency: int) -> float:
    """The same calls through the gateway alone: the floor the runner sits on."""
    from promptmgr.llm import aio

    from promptmgr.llm.openai_compat import lean

    targets = [services.providers.resolve(ctx, m) for m in ("fake/m1", "fake/m2")]
    gateway = lean(services.gateway, max_retries=0)  # the path the runner takes

    async def main():
        gate = asyncio.Semaphore(concurrency)

        async def one(n):
            async with gate:
                return await gateway.acomplete(targets[n % 2], [{"role": "user", "content": f"direct {n}"}],
                                               {"temperature": 0.7})

        start = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(calls)))
        return time.perf_counter() - start

    return aio.run(main())


ROWS, CONCURRENCY, LATENCY = 200, 16, 0.1
PROMPTFOO, PROMPTFOO_WHY = None, "not looked for"  # set in main(): the executable, or why it is skipped


def overhead(services, ctx, fake) -> None:
    rows, concurrency, latency = ROWS, CONCURRENCY, LATENCY
    ideal = 2 * rows * latency / concurrency
    services.gateway.complete(services.providers.resolve(ctx, "fake/m1"), [{"role": "user", "content": "warm"}])
    direct = gateway_only(services, ctx, 2 * rows, concurrency)
    print(f"1. engine overhead: {2 * rows} calls at {latency * 1000:.0f} ms, concurrency {concurrency}")
    # The first run of a process also pays one-time costs (importing the runner, checks and
    # statistics modules); the second, on other models so nothing is cached, is the engine alone.
    for label, name in (("first run in the process", "overhead"), ("warm (second run)", "overhead-warm")):
        before = fake.chat_count
        start = time.perf_counter()
        summary = services.experiment_runs.run(ctx, name, concurrency=concurrency)
        wall = time.perf_counter() - start
        assert summary.done == 2 * rows and summary.errors == 0, summary
        print(f"   runner, {label:24} {wall:6.2f} s   {wall / ideal:5.2f}x ideal {ideal:.2f} s   "
              f"goal <= 1.10x  {'OK' if wall / ideal <= 1.10 else 'OVER'}   ({fake.chat_count - before} requests)")
    print(f"   gateway alone, no runner    {direct:6.2f} s   {direct / ideal:5.2f}x ideal   "
          f"runner / gateway = {wall / direct:.2f}x")
    compare(services, ctx, fake, wall, ideal)

    before = fake.chat_count
    start = time.perf_counter()
    summary = services.experiment_runs.run(ctx, "rerun", concurrency=concurrency)
    wall = time.perf_counter() - start
    sent = fake.chat_count - before
    print(f"2. cached re-run of the same {2 * rows} cells: {sent} requests (goal 0), {wall:.2f} s (goal <= 0.5 s)  "
          f"{'OK' if sent == 0 and wall <= 0.5 else 'OVER'}   cached={summary.cached}")


def cli_run(services, name: str, concurrency: int) -> float:
    """`promptmgr experiments run` in a new process, wall time end to end (start, imports, database).
    Its cache is off: these cells' requests are already cached by the in-process run (temperature 0)."""
    env = {**os.environ, "PROMPTMGR_HOME": str(services.settings.home), "DATABASE_URL": services.settings.db_url,
           "PROMPTMGR_LOAD_STARTER": "false", "PROMPTMGR_CACHE_ENABLED": "false"}
    start = time.perf_counter()
    argv = [sys.executable, *os.environ.get("BENCH_CLI_PYFLAGS", "").split(), "-m", "promptmgr"]
    proc = subprocess.run([*argv, "experiments", "run", name, "-c", str(concurrency), "--json"],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=900)
    if os.environ.get("BENCH_CLI_PYFLAGS"):
        Path("/tmp/bench-cli-stderr.txt").write_text(proc.stderr)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"promptmgr experiments run failed: {proc.stderr[-3000:]}")
    return wall


def compare(services, ctx, fake, runner: float, ideal: float) -> None:
    """The same 400 calls through promptmgr's CLI and through promptfoo, beside the runner's figure."""
    rows, concurrency = ROWS, CONCURRENCY
    before = fake.chat_count
    cli = cli_run(services, "overhead-cli", concurrency)
    sent = fake.chat_count - before
    print(f"   promptmgr CLI, end to end   {cli:6.2f} s   {cli / ideal:5.2f}x ideal   ({sent} requests; "
          f"new process: start, imports, database)")
    if not PROMPTFOO:
        print(f"   promptfoo: skipped ({PROMPTFOO_WHY})")
        return
    from bench import promptfoo_leg

    scratch = Path(tempfile.mkdtemp(prefix="bench-promptfoo-"))
    version, startup = promptfoo_leg.version(PROMPTFOO, scratch)
    cfg = promptfoo_leg.config(fake.base_url, rows, [(name, TEMPLATES[name], model) for name, model in
                                                     (("ask", "m1"), ("tell", "m2"))], temperature=0)
    before = fake.chat_count
    result = promptfoo_leg.run(PROMPTFOO, scratch, cfg, concurrency)
    sent = fake.chat_count - before
    ok = result["successes"] == 2 * rows and result["echoed"] == 2 * rows and sent == 2 * rows
    print(f"   promptfoo {version} ({PROMPTFOO_WHY}): eval --no-cache -j {concurrency}, "
          f"{result['successes']} ok / {result['errors']} errors, {sent} requests{'' if ok else '  MISMATCH'}")
    print(f"   promptfoo, end to end       {result['wall']:6.2f} s   {result['wall'] / ideal:5.2f}x ideal   "
          f"promptfoo / promptmgr CLI = {result['wall'] / cli:.2f}x")
    if result["own"]:
        print(f"   promptfoo, own durationMs   {result['own']:6.2f} s   {result['own'] / ideal:5.2f}x ideal   "
              f"promptfoo / promptmgr runner = {result['own'] / runner:.2f}x")
    print(f"   (promptfoo --version alone: {startup:.2f} s)   goal faster than promptfoo: "
          f"{'OK' if cli < result['wall'] and (not result['own'] or runner < result['own']) else 'SLOWER'}")


class InstantBackend:
    """Answers at once in-process: a 0 ms provider without HTTP (see bench docstring)."""

    def make(self):
        from promptmgr.llm.backend import Backend
        from promptmgr.llm.types import Reply

        class Instant(Backend):
            name = "instant"

            async def complete(self, target, messages, params, *, timeout):
                text = messages[-1]["content"]
                return Reply("ok: " + text[:40], len(text.split()), 3, "stop")

            async def stream(self, target, messages, params, *, timeout):
                raise NotImplementedError

        return Instant()


def peak_rss_mb() -> float:
    """This process's peak RSS. Not getrusage's ru_maxrss: Linux carries it over exec() from the
    forked parent's memory, so a child started by a large parent reports the parent's size."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(home: str, url: str, name: str, concurrency: int, instant: bool) -> None:
    """Run one experiment in this process and print cells/s and peak RSS as JSON."""
    services, ctx = build(Path(home), url)
    if instant:
        from promptmgr.llm.registry import register_backend

        register_backend(InstantBackend().make(), prefixes=["instant"])
    else:  # prices come from litellm's map: its import (seconds) is not the run's time
        from promptmgr.llm.remote import litellm_module

        litellm_module()
    start = time.perf_counter()
    summary = services.experiment_runs.run(ctx, name, concurrency=concurrency)
    wall = time.perf_counter() - start
    peak_mb = peak_rss_mb()
    print(json.dumps({"cells": summary.finished_this_run, "errors": summary.errors, "seconds": wall,
                      "peak_rss_mb": peak_mb, "status": summary.status, "litellm": "litellm" in sys.modules,
                      "tiktoken": "tiktoken" in sys.modules}))


def large(home: Path, url: str, rows: int, http_rows: int) -> None:
    def run_child(name, instant, concurrency=16):
        proc = subprocess.run([sys.executable, __file__, "--child", str(home), url, name, str(concurrency),
                               "1" if instant else "0"], capture_output=True, text=True, cwd=ROOT, timeout=7200)
        if proc.returncode:
            raise SystemExit(proc.stderr[-3000:])
        return json.loads(proc.stdout.strip().splitlines()[-1])

    print(f"3. {rows:,} rows x 2 variants at 0 ms")
    result = run_child("large", True)
    print(f"   (litellm loaded: {result['litellm']}, tiktoken loaded: {result['tiktoken']})")
    print(f"   instant model double: {result['cells']:,} cells in {result['seconds']:.1f} s = "
          f"{result['cells'] / result['seconds']:,.0f} cells/s, peak RSS {result['peak_rss_mb']:.0f} MB "
          f"(goal <= 300 MB)  {'OK' if result['peak_rss_mb'] <= 300 else 'OVER'}")
    if http_rows:
        result = run_child("large-http", False)
        print(f"   over HTTP (lean path -> fake server process, 0 ms): {result['cells']:,} cells in {result['seconds']:.1f} s = "
              f"{result['cells'] / result['seconds']:,.0f} cells/s, peak RSS {result['peak_rss_mb']:.0f} MB")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _, _, home, url, name, concurrency, instant = sys.argv
        child(home, url, name, int(concurrency), instant == "1")
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--http-rows", type=int, default=2_000)
    parser.add_argument("--db", default=None, help="a database URL (default: a new SQLite file)")
    parser.add_argument("--no-promptfoo", action="store_true", help="skip the promptfoo leg even if installed")
    args = parser.parse_args()
    global PROMPTFOO, PROMPTFOO_WHY
    from bench import promptfoo_leg

    PROMPTFOO, PROMPTFOO_WHY = (None, "--no-promptfoo") if args.no_promptfoo else promptfoo_leg.find()
    from tests.experiment_rows import make_experiment

    home = Path(tempfile.mkdtemp(prefix="bench-experiments-"))
    services, ctx = build(home, args.db)
    url = services.settings.database_url
    print(f"database: {services.db.dialect}; cpus: {os.cpu_count()}; load average: {os.getloadavg()[0]:.1f}")
    slow, instant = ServerProcess(LATENCY), ServerProcess(0.0)
    try:
        services.providers.add(ctx, "fake", slow.base_url, api_key=API_KEY)
        services.providers.add(ctx, "fast", instant.base_url, api_key=API_KEY)
        setup_prompts(services, ctx)
        # Every experiment is written before any runs: nothing writes while the child processes run.
        start = time.perf_counter()
        for name in ("overhead", "rerun", "overhead-cli"):
            make_experiment(services, ctx, name, rows=ROWS, variants=[("ask", "fake/m1", {"temperature": 0}),
                                                                      ("tell", "fake/m2", {"temperature": 0})])
        make_experiment(services, ctx, "overhead-warm", rows=ROWS, variants=[("ask", "fake/m3", {"temperature": 0}),
                                                                             ("tell", "fake/m4", {"temperature": 0})])
        make_experiment(services, ctx, "large", rows=args.rows, variants=[("ask", "instant/a", {}),
                                                                          ("tell", "instant/b", {})])
        if args.http_rows:
            make_experiment(services, ctx, "large-http", rows=args.http_rows,
                            variants=[("ask", "fast/m1", {}), ("tell", "fast/m2", {})])
        print(f"setup: {time.perf_counter() - start:.1f} s to write the experiments and their cells")
        overhead(services, ctx, slow)
        services.db.dispose()
        large(home, url, args.rows, args.http_rows)
    finally:
        slow.close()
        instant.close()


if __name__ == "__main__":
    main()
