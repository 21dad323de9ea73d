"""The engine-overhead workload through promptfoo, for bench_experiments.py (issue 9, Figures).

Used only when PROMPTFOO_BIN is set or `promptfoo` is on PATH, e.g.
    mkdir -p /tmp/pf-scratch && cd /tmp/pf-scratch && npm install promptfoo
    PROMPTFOO_BIN=/tmp/pf-scratch/node_modules/.bin/promptfoo python bench/bench_experiments.py
The same 2 variants (prompt "ask" on model m1, prompt "tell" on model m2) x the same 200 rows
(vars {"i": n}) at temperature 0, against the same fake server, with promptfoo's cache, sharing,
telemetry and update check off. promptfoo is timed end to end (node start, config load, its
SQLite write, out.json) and its own evaluation time (stats.durationMs of out.json) is read too."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import yaml

# Copied from /work/shared/tools/promptfoo-env.sh (the bench must not read /work/shared at run
# time): without these promptfoo posts telemetry, checks npm for updates and may offer to share.
OFFLINE_ENV = {
    "PROMPTFOO_DISABLE_TELEMETRY": "1",
    "PROMPTFOO_DISABLE_UPDATE": "1",
    "PROMPTFOO_DISABLE_SHARING": "1",
    "PROMPTFOO_DISABLE_REMOTE_GENERATION": "1",
    "PROMPTFOO_DISABLE_REDTEAM_REMOTE_GENERATION": "1",
    "PROMPTFOO_DISABLE_RUNTIME_WARNINGS": "1",
    "OPENAI_API_KEY": "dummy",
    "npm_config_update_notifier": "false",
    "NO_UPDATE_NOTIFIER": "1",
    # promptfoo 0.121.x still POSTs a one-off "telemetry disabled" event even with telemetry off;
    # every non-loopback request goes to a dead loopback port so it fails at once, locally. The
    # fake server is on 127.0.0.1, which NO_PROXY keeps direct.
    "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9",
    "NO_PROXY": "127.0.0.1,localhost,::1", "no_proxy": "127.0.0.1,localhost,::1",
}
# PROMPTFOO_CONFIG_DIR and PROMPTFOO_CACHE_PATH are set per run to a scratch folder (env()).


def find() -> tuple[str | None, str]:
    """The promptfoo executable and where it came from, or None and why it was not found."""
    given = os.environ.get("PROMPTFOO_BIN")
    if given:
        if os.access(given, os.X_OK):
            return given, "PROMPTFOO_BIN"
        return None, f"PROMPTFOO_BIN={given} is not an executable file"
    on_path = shutil.which("promptfoo")
    if on_path:
        return on_path, "PATH"
    return None, ("promptfoo not installed: set PROMPTFOO_BIN or put it on PATH "
                  "(mkdir -p /tmp/pf-scratch && cd /tmp/pf-scratch && npm install promptfoo)")


def env(scratch: Path) -> dict[str, str]:
    """This environment plus the offline switches; promptfoo's state stays in the scratch folder."""
    return {**os.environ, **OFFLINE_ENV, "PROMPTFOO_CONFIG_DIR": str(scratch / ".promptfoo"),
            "PROMPTFOO_CACHE_PATH": str(scratch / ".promptfoo" / "cache")}


def config(base_url: str, rows: int, variants: list[tuple[str, str, str]], temperature: float) -> dict:
    """variants: (prompt id, template, model). Each provider is limited to its own prompt, so the
    eval has exactly len(variants) x rows cells, as promptmgr's experiment does (not prompts x providers)."""
    return {
        "description": "promptmgr bench: engine overhead",
        "prompts": [{"id": pid, "label": pid, "raw": template} for pid, template, _ in variants],
        "providers": [{"id": f"openai:chat:{model}", "label": f"{pid}/{model}", "prompts": [pid],
                       "config": {"apiBaseUrl": base_url, "apiKey": "dummy", "temperature": temperature}}
                      for pid, _, model in variants],
        "tests": [{"vars": {"i": n}} for n in range(rows)],
        "sharing": False,
    }


def version(binary: str, scratch: Path) -> tuple[str, float]:
    """`promptfoo --version` and how long it took: roughly node's start and promptfoo's imports."""
    start = time.perf_counter()
    proc = subprocess.run([binary, "--version"], capture_output=True, text=True, cwd=scratch, env=env(scratch),
                          timeout=120)
    return proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "?", time.perf_counter() - start


def run(binary: str, scratch: Path, cfg: dict, concurrency: int) -> dict:
    """One `promptfoo eval`: wall seconds end to end, its own durationMs, its result counts."""
    scratch.mkdir(parents=True, exist_ok=True)
    path, out = scratch / "promptfooconfig.yaml", scratch / "out.json"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    out.unlink(missing_ok=True)
    command = [binary, "eval", "-c", str(path), "--no-cache", "-j", str(concurrency), "-o", str(out),
               "--no-share", "--no-table", "--no-progress-bar"]
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, cwd=scratch, env=env(scratch), timeout=900)
    wall = time.perf_counter() - start
    if proc.returncode or not out.exists():
        raise RuntimeError(f"promptfoo eval failed ({proc.returncode}): {(proc.stderr or proc.stdout)[-2000:]}")
    results = json.loads(out.read_text(encoding="utf-8"))["results"]
    stats = results.get("stats") or {}
    outputs = [((r.get("response") or {}).get("output") or "") for r in results.get("results") or []]
    return {"wall": wall, "own": (stats.get("durationMs") or 0) / 1000 or None,
            "successes": stats.get("successes", 0), "errors": stats.get("errors", 0),
            "cells": len(outputs), "echoed": sum(o.startswith("echo: ") for o in outputs)}
