"""Browser tests: the app started in-process on 127.0.0.1 (a temporary PROMPTMGR_HOME with SQLite
and the starter library, a provider pointing at the fake LLM server), driven by Debian chromium
through playwright's sync API (never `playwright install`).

Fixtures: `app_url`, `page` (a fresh 1280x800 page; requests leaving loopback are blocked and
listed in `external_requests`), `app_services` (the Services, ctx and environment the app uses:
check the database or run the CLI against the same data), `fake_llm` (the server the app's
"fake" provider points at, reset for each test), `open_app` (navigate and wait for the table)."""
from __future__ import annotations

import contextlib

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.fake_llm import FakeLLMServer
from tests.live_server import free_port  # noqa: F401  (the browser tests import it from here)

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
FAKE_PROVIDER = "fake"
FAKE_MODEL = "fake/test-model"
FAKE_KEY = "sk-test-browser-key-0042"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


@dataclass
class AppServices:
    services: object
    ctx: object
    home: Path
    env: dict = field(default_factory=dict)

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """Run `python -m promptmgr ARGS...` in a subprocess against the app's data folder and database."""
        return subprocess.run([sys.executable, "-m", "promptmgr", *args], capture_output=True, text=True,
                              env=self.env, cwd=ROOT, timeout=timeout)


@pytest.fixture(scope="session")
def fake_llm_server():
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def fake_llm(fake_llm_server):
    """The fake LLM server the app's provider "fake" points at, clean for each test."""
    fake_llm_server.reset()
    yield fake_llm_server
    fake_llm_server.reset()


@pytest.fixture(scope="session")
def app_services(tmp_path_factory, fake_llm_server):
    from promptmgr.bootstrap import build_services
    from promptmgr.config import Settings

    home = tmp_path_factory.mktemp("browser-app") / "home"
    db_url = f"sqlite:///{home / 'promptmgr.db'}"
    settings = Settings(home=home, database_url=db_url, load_starter=True, default_locale="en", default_model=None)
    services = build_services(settings)
    ctx = services.local_context()
    services.providers.add(ctx, FAKE_PROVIDER, fake_llm_server.base_url, api_key=FAKE_KEY)
    services.providers.set_default_model(ctx, FAKE_MODEL)
    services.providers.set_price(ctx, FAKE_MODEL, 0.5, 1.5, 8192)
    env = {**os.environ, "PROMPTMGR_HOME": str(home), "DATABASE_URL": db_url, "PROMPTMGR_LOAD_STARTER": "false",
           "PROMPTMGR_LOCALE": "en", "PYTHONPATH": str(ROOT)}
    env.pop("PROMPTMGR_SECRET_KEY", None)
    yield AppServices(services=services, ctx=ctx, home=home, env=env)
    services.db.dispose()


@pytest.fixture(scope="session")
def app_url(app_services):
    from promptmgr.ui.app import create_demo, launch

    demo = create_demo(app_services.services)
    port = free_port()
    launch(demo, port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (scripts/test does it)")
    from playwright.sync_api import expect, sync_playwright

    # Generous waits: the machines running CI share two cores between many processes.
    expect.set_options(timeout=20_000)

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def external_requests() -> list[str]:
    """URLs the page tried to load from outside loopback (they are aborted)."""
    return []


@contextlib.contextmanager
def loopback_page(browser, height: int = 800, external: list[str] | None = None):
    """A page in a fresh browser context (no cookies) where nothing beyond loopback loads: other
    requests are aborted (and their URLs added to `external`)."""
    context = browser.new_context(viewport={"width": 1280, "height": height}, locale="en-US")

    def guard(route):
        host = urlparse(route.request.url).hostname or ""
        if route.request.url.startswith(("data:", "blob:")) or host in LOOPBACK:
            route.continue_()
        else:
            if external is not None:
                external.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    new_page = context.new_page()
    new_page.set_default_timeout(30_000)
    try:
        yield new_page
    finally:
        context.close()


@pytest.fixture
def page(browser, app_url, external_requests):
    with loopback_page(browser, external=external_requests) as new_page:
        yield new_page


@pytest.fixture
def open_app(page, app_url):
    """Navigate to the app (optionally with a query string) and wait until the library table shows rows."""

    def go(query: str = ""):
        page.goto(app_url + query)
        page.locator("#pm-table").get_by_role("gridcell").first.wait_for()
        page.locator("#pm-page-info").get_by_text("–").wait_for()
        return page

    return go
