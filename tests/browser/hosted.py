"""Hosted mode in the browser: the multi-user app (sign-in pages + Gradio behind them) served by a
real uvicorn on 127.0.0.1 in a thread, over SQLite with two workspaces and a member of each role,
and the loopback OpenID provider configured for SSO. Fixtures for tests/browser/test_login_ui.py;
the single-user fixtures in conftest.py are untouched."""
from __future__ import annotations

import threading
import time
from urllib.parse import urlparse

import pytest

from tests.browser.conftest import LOOPBACK, free_port
from tests.oidc_provider import OidcProvider
from tests.web_fixtures import PASSWORD, multi_settings, populate


@pytest.fixture(scope="module")
def oidc_provider():
    with OidcProvider() as provider:
        yield provider


@pytest.fixture(scope="module")
def hosted_app(tmp_path_factory, oidc_provider):
    """(base URL, Hosted): the app running, and its services and people."""
    import uvicorn

    from promptmgr.bootstrap import build_services
    from promptmgr.schemas import PromptCreate
    from promptmgr.web.app import create_app

    folder = tmp_path_factory.mktemp("hosted-app")
    services = build_services(multi_settings(folder / "home", f"sqlite:///{folder / 'hosted.db'}"))
    hosted = populate(services)
    owner = services.auth.login(hosted.users["owner"], PASSWORD).session.context
    services.library.create(owner, PromptCreate(name="greeting", title="Greeting", content="Hello {{ name }}"))
    patch = pytest.MonkeyPatch()
    for name, value in oidc_provider.env(PROMPTMGR_OIDC_WORKSPACE="alpha", PROMPTMGR_OIDC_ROLE="viewer").items():
        patch.setenv(name, value)
    app = create_app(services)
    patch.undo()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}", hosted
    server.should_exit = True
    thread.join(timeout=30)
    services.db.dispose()


@pytest.fixture
def hosted_page(browser, hosted_app):
    """A fresh browser context (no cookies) on the hosted app; nothing beyond loopback loads."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")

    def guard(route):
        host = urlparse(route.request.url).hostname or ""
        if route.request.url.startswith(("data:", "blob:")) or host in LOOPBACK:
            route.continue_()
        else:
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()
