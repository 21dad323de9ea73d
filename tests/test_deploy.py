"""Deployment (docs/deploy.md): the Dockerfile and compose.yaml agree with the settings the app
reads, every such setting is documented, and (no Docker engine on these machines) the compose
topology runs as processes on loopback: the app (`promptmgr serve`), two `promptmgr worker`s,
PostgreSQL and Redis serve a sign-in page and process an experiment."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tests.live_server import free_port

REQUIRED = ("PROMPTMGR_SECRET_KEY", "DATABASE_URL", "PROMPTMGR_MODE")
_HELPERS = re.compile(r'_(?:env|flag|number|number_or_zero)\("([A-Z0-9_]+)"')
_LITERAL = re.compile(r"PROMPTMGR_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_])")  # not prefixes like PROMPTMGR_SMTP_


def variables_read() -> set[str]:
    """Every PROMPTMGR_* variable the package reads: config.py's helpers and literal names."""
    names = {f"PROMPTMGR_{n}" for n in _HELPERS.findall((ROOT / "promptmgr" / "config.py").read_text())}
    for path in (ROOT / "promptmgr").rglob("*.py"):
        names |= set(_LITERAL.findall(path.read_text(encoding="utf-8")))
    return names


def documentation() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8") + "".join(
        p.read_text(encoding="utf-8") for p in sorted((ROOT / "docs").glob("*.md")))


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))


def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text(encoding="utf-8")


def test_every_variable_the_app_reads_is_documented():
    read = variables_read()
    assert {"PROMPTMGR_MODE", "PROMPTMGR_SECRET_KEY", "PROMPTMGR_QUEUE_EXPERIMENTS", "PROMPTMGR_SMTP_HOST"} <= read
    docs = documentation()
    missing = sorted(name for name in read if not re.search(rf"`{name}`", docs))
    assert not missing, f"undocumented settings: {missing}"
    table = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert all(name in table for name in read), "docs/deploy.md's settings table is not complete"


def test_compose_services_set_the_required_settings_consistently():
    spec = compose()
    services = spec["services"]
    assert {"app", "worker", "postgres", "redis"} <= set(services)
    known = variables_read()
    for name in ("app", "worker"):
        env = services[name]["environment"]
        assert all(key in env for key in REQUIRED), f"{name} lacks one of {REQUIRED}"
        assert env["PROMPTMGR_MODE"] == "multi"
        assert ":?" in env["PROMPTMGR_SECRET_KEY"], "the secret must be required, never defaulted"
        unknown = [k for k in env if k.startswith("PROMPTMGR_") and k not in known]
        assert not unknown, f"{name} sets settings the app never reads: {unknown}"
        assert any(v.endswith(":" + env["PROMPTMGR_HOME"]) for v in services[name]["volumes"]), "data volume"
        # The database the app and workers use is the postgres service's.
        url = env["DATABASE_URL"]
        pg = services["postgres"]["environment"]
        assert url.startswith("postgresql+psycopg://") and "@postgres:5432/" in url
        assert url.rsplit("/", 1)[1] == pg["POSTGRES_DB"] and url.split("//")[1].startswith(pg["POSTGRES_USER"] + ":")
        assert env["REDIS_URL"].startswith("redis://redis:")
    assert services["app"]["command"][:2] == ["promptmgr", "serve"]
    assert services["worker"]["command"][:2] == ["promptmgr", "worker"]
    assert services["worker"]["deploy"]["replicas"] >= 2 and services["worker"]["healthcheck"]["disable"] is True
    # The published port is the one the app listens on and the image exposes and checks.
    port = services["app"]["command"][services["app"]["command"].index("--port") + 1]
    assert any(p.endswith(f":{port}:{port}") and p.startswith("127.0.0.1:") for p in services["app"]["ports"])
    assert f"EXPOSE {port}" in dockerfile() and f"127.0.0.1:{port}/healthz" in dockerfile()
    assert set(spec["volumes"]) >= {"data", "pgdata"}


def test_dockerfile_is_multi_stage_non_root_with_a_healthcheck():
    text = dockerfile()
    stages = re.findall(r"^FROM \S+ AS (\w+)", text, flags=re.M)
    assert len(stages) >= 2 and "COPY --from=build" in text
    users = re.findall(r"^USER (\S+)", text, flags=re.M)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK ", text, flags=re.M)
    assert re.search(r"PROMPTMGR_MODE=multi", text) and re.search(r"PROMPTMGR_HOME=/data", text)
    assert re.search(r"^VOLUME /data", text, flags=re.M)
    assert re.search(r"^ARG LOCAL_MODEL=0", text, flags=re.M) and '".[local]"' in text
    # The health route is public in hosted mode (no session needed).
    from promptmgr.web.session import PUBLIC_PATHS

    assert "/healthz" in PUBLIC_PATHS


def redis_url() -> str:
    """Redis on loopback, started when it is down (as PostgreSQL is)."""
    def ping() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", 6379), timeout=2) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    if not ping() and Path("/usr/bin/redis-server").exists():
        subprocess.run(["/usr/bin/redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--save", ""],
                       capture_output=True, timeout=30)
        time.sleep(0.5)
    if not ping():
        if os.environ.get("CI"):
            pytest.fail("Redis is not reachable on 127.0.0.1:6379")
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    return "redis://127.0.0.1:6379/0"


@pytest.mark.postgres
def test_topology_as_processes_serves_login_and_runs_an_experiment(tmp_path, pg_url, fake_llm):
    import httpx

    from promptmgr.bootstrap import build_services
    from promptmgr.config import Settings
    from tests.conftest import _truncate
    from tests.experiment_rows import make_experiment, make_prompt
    from tests.test_workers import reset_queue

    _truncate(pg_url)
    reset_queue(pg_url)
    # The compose services' environment, with loopback addresses for the service names.
    env_spec = compose()["services"]["app"]["environment"]
    port = free_port()
    env = {**os.environ, "PROMPTMGR_MODE": env_spec["PROMPTMGR_MODE"], "PROMPTMGR_HOME": str(tmp_path / "data"),
           "PROMPTMGR_SECRET_KEY": "deploy-test-secret-key-0123456789abcdef", "DATABASE_URL": pg_url,
           "REDIS_URL": redis_url(), "PROMPTMGR_LOAD_STARTER": "false", "PROMPTMGR_ADMIN_EMAIL": "owner@example.com",
           "PROMPTMGR_ADMIN_PASSWORD": "a long enough passphrase", "PROMPTMGR_ARGON2_MEMORY_KIB": "1024",
           "PROMPTMGR_ARGON2_TIME_COST": "1", "PROMPTMGR_LOCALE": "en"}
    # Logs go to files (a pipe nobody reads would block a process that logs a lot).
    logs = [tmp_path / f"{name}.log" for name in ("app", "worker-1", "worker-2")]
    metric_ports = [free_port(), free_port()]
    procs = [subprocess.Popen([sys.executable, "-m", "promptmgr", "serve", "--host", "127.0.0.1", "--port", str(port)],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=logs[0].open("w"), text=True)]
    procs += [subprocess.Popen([sys.executable, "-m", "promptmgr", "worker", "--concurrency", "2", "--metrics-port",
                                str(metric_port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=log.open("w"), text=True) for log, metric_port in zip(logs[1:], metric_ports)]
    services = None
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            assert procs[0].poll() is None, logs[0].read_text()
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the app did not start"
            time.sleep(0.3)
        page = httpx.get(base + "/login", timeout=10)
        assert page.status_code == 200 and 'name="password"' in page.text
        signed_in = httpx.post(base + "/login", data={"email": "owner@example.com",
                                                      "password": "a long enough passphrase",
                                                      "csrf_token": _csrf(page.text)}, cookies=page.cookies, timeout=20)
        assert signed_in.status_code == 303 and "pm_access" in signed_in.cookies
        # An experiment queued by the CLI (as from the app) is run by the two workers.
        settings = Settings(home=tmp_path / "data", database_url=pg_url, mode="multi", load_starter=False,
                            secret_key=env["PROMPTMGR_SECRET_KEY"])
        services = build_services(settings)
        ctx = services.local_context(load_starter=False)
        services.providers.add(ctx, "fake", fake_llm.base_url, api_key="sk-deploy-0123456789abcdef")
        make_prompt(services, ctx, "ask", "Question {{ i }}")
        make_experiment(services, ctx, "deployed", rows=30, variants=[("ask", "fake/m1", {})])
        fake_llm.delay = 0.02
        queued = subprocess.run([sys.executable, "-m", "promptmgr", "experiments", "run", "deployed", "--json"],
                                cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert queued.returncode == 0, queued.stderr
        assert '"status": "queued"' in queued.stdout
        deadline = time.monotonic() + 120
        while services.experiment_runs.progress(ctx, "deployed")["status"] == "running":
            assert time.monotonic() < deadline, "the workers did not finish the experiment"
            time.sleep(0.2)
        progress = services.experiment_runs.progress(ctx, "deployed")
        assert (progress["status"], progress["done"], fake_llm.chat_count) == ("completed", 30, 30)
        # Run by the worker processes, not by the CLI that queued it.
        from sqlmodel import select

        from promptmgr.models_experiments import Cell

        with services.db.session() as session:
            claimers = set(session.exec(select(Cell.claimed_by)).all())
        assert {c.split(":")[1] for c in claimers} <= {str(p.pid) for p in procs[1:]}
        # Operations: the workers' model calls in their metrics, the queue's depth in the app's.
        from tests.test_observability import _sample

        calls = sum(_sample(httpx.get(f"http://127.0.0.1:{p}/metrics", timeout=10).text,
                            "promptmgr_model_calls_total", result="ok") for p in metric_ports)
        assert calls == 30
        app_metrics = httpx.get(base + "/metrics", timeout=10)
        assert app_metrics.status_code == 200
        # Nothing is being run any more (a finished run may leave one scheduled look for stranded cells).
        assert 'promptmgr_experiment_queue_jobs{status="todo"}' in app_metrics.text
        assert _sample(app_metrics.text, "promptmgr_experiment_queue_jobs", status="doing") == 0
        traced = httpx.get(base + "/healthz", headers={"x-request-id": "deploy-trace-1"}, timeout=10)
        assert traced.headers["x-request-id"] == "deploy-trace-1"
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        if services is not None:
            services.db.dispose()
    assert all(proc.returncode in (0, -signal.SIGTERM) for proc in procs), [p.returncode for p in procs]
    # JSON log lines with the request id (PROMPTMGR_LOG_FORMAT's default).
    import json

    lines = [json.loads(line) for line in logs[0].read_text().splitlines() if line.startswith("{")]
    assert any(line.get("request_id") == "deploy-trace-1" and line.get("path") == "/healthz" for line in lines)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token"\s+value="([^"]+)"', html)
    return found.group(1) if found else ""
