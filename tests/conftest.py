"""Shared fixtures: real SQLite files and a real PostgreSQL database per test session."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import promptmgr.llm.offline  # noqa: F401  (offline switches before anything else loads)
import pytest
from hypothesis import HealthCheck, settings as hypothesis_settings
from sqlalchemy import create_engine, text

# Helpers with assertions, imported by test modules before pytest would load them as plugins:
# registered here so their asserts are rewritten (readable failures).
pytest.register_assert_rewrite("tests.api_helpers")

from tests.fake_llm import block_external_network, fake_llm, guard_network  # noqa: E402,F401  (fixtures)

# Property tests must not fail on a loaded machine (a deadline is a timing assertion) nor wander:
# bounded examples, no deadline, and the blob to reproduce any failure. Tests may ask for fewer
# examples with @settings; HYPOTHESIS_PROFILE=dev gives a quick local run.
hypothesis_settings.register_profile(
    "ci", max_examples=50, deadline=None, print_blob=True, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
hypothesis_settings.register_profile("dev", parent=hypothesis_settings.get_profile("ci"), max_examples=10)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("PROMPTMGR_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
TABLES = ("audit_event", "login_attempt", "one_time_token", "refresh_token", "membership", "experiment_cell",
          "experiment_variant", "experiment", "dataset_row", "dataset_version", "dataset", "run", "price_override",
          "provider", "prompt_tag", "label", "prompt_version", "prompt", '"user"', "tenant")


@pytest.fixture(autouse=True)
def _no_external_network(request, monkeypatch):
    """No test reaches beyond loopback: connections and DNS lookups elsewhere fail at once. A test
    that truly needs the outside marks itself `allow_network` (none does today)."""
    if request.node.get_closest_marker("allow_network") is None:
        guard_network(monkeypatch)


def _pg_reachable() -> bool:
    try:
        engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001
        return False


def _start_pg() -> None:
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if versions:
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"],
                       capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def pg_url():
    """A throw-away PostgreSQL database for this test session, migrated to the newest schema."""
    if not _pg_reachable():
        _start_pg()
    if not _pg_reachable():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432; CI must run the PostgreSQL tests")
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432 and could not be started")
    name = f"promptmgr_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    from promptmgr.db import Database

    Database(url).upgrade()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """A fresh, empty database of each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    url = request.getfixturevalue("pg_url")
    _truncate(url)
    return url


@pytest.fixture
def settings(tmp_path, db_url):
    from promptmgr.config import Settings

    # Cheap argon2 parameters: the production ones cost ~0.2 s per hash (hosted-mode tests hash a lot).
    return Settings(home=tmp_path / "home", database_url=db_url, load_starter=False, argon2_memory_kib=64,
                    argon2_time_cost=1)


@pytest.fixture
def services(settings):
    from promptmgr.bootstrap import build_services

    built = build_services(settings)
    yield built
    built.db.dispose()


@pytest.fixture
def hosted(settings):
    """Services in hosted mode (a secret key signs the sessions); tests/accounts_helpers.py makes people."""
    from dataclasses import replace

    from promptmgr.bootstrap import build_services
    from tests.accounts_helpers import SECRET

    built = build_services(replace(settings, secret_key=SECRET, mode="multi"))
    yield built
    built.db.dispose()


@pytest.fixture
def ctx(services):
    return services.local_context(load_starter=False)


@pytest.fixture
def cli_env(monkeypatch, tmp_path, db_url):
    """Point the CLI (in-process and subprocesses) at a fresh data folder and database."""
    from promptmgr.config import get_settings
    from promptmgr.cli import common

    home = tmp_path / "cli-home"
    monkeypatch.setenv("PROMPTMGR_HOME", str(home))
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("PROMPTMGR_LOAD_STARTER", "false")
    monkeypatch.setenv("PROMPTMGR_LOCALE", "en")
    get_settings.cache_clear()
    common.services.cache_clear()
    yield {**os.environ}
    if common.services.cache_info().currsize:
        common.services().db.dispose()
    common.services.cache_clear()
    get_settings.cache_clear()


class CliResult:
    def __init__(self, code: int, out: str, err: str):
        self.code, self.out, self.err = code, out, err

    def json(self):
        import json

        return json.loads(self.out)


@pytest.fixture
def cli(cli_env, capsys):
    """Run `promptmgr ARGS...` in-process; returns exit code, stdout and stderr."""
    from promptmgr.cli import main

    def run(*args: str, input: str | None = None) -> CliResult:
        capsys.readouterr()
        old_stdin = sys.stdin
        if input is not None:
            import io

            sys.stdin = io.StringIO(input)
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            sys.stdin = old_stdin
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def cli_subprocess(cli_env):
    """Run the installed `promptmgr` console script in a real subprocess."""

    def run(*args: str, input: str | None = None) -> CliResult:
        proc = subprocess.run([sys.executable, "-m", "promptmgr", *args], capture_output=True, text=True,
                              input=input, env=cli_env, cwd=ROOT, timeout=120)
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return run


def pytest_collection_modifyitems(items):
    """Browser tests run last: playwright's sync API keeps an event loop running on the main thread
    from the first browser test to the end of the session, and asyncio.run() refuses to start under
    a running loop (the experiment tests use it)."""
    items.sort(key=lambda item: item.nodeid.startswith("tests/browser/"))
