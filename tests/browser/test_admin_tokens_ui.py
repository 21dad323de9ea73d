"""The Admin tab's API tokens as an admin sees them (hosted mode, a real uvicorn on loopback): a refused
token keeps the form usable and says why; a created token's secret shows once, works against
/api/v1, and once revoked (after a confirmation) the API refuses it; no role above the admin's is
offered."""
from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import loopback_page
from tests.live_server import ThreadedServer
from tests.browser.usable import assert_no_error_status, assert_usable
from tests.web_fixtures import PASSWORD, multi_settings, populate

pytestmark = pytest.mark.browser
WAIT = 30_000


@pytest.fixture(scope="module")
def hosted_app(tmp_path_factory):
    """(base URL, Hosted): the multi-user app served by uvicorn in a thread, over SQLite."""
    from promptmgr.bootstrap import build_services
    from promptmgr.web.app import create_app

    folder = tmp_path_factory.mktemp("tokens-app")
    services = build_services(multi_settings(folder / "home", f"sqlite:///{folder / 'hosted.db'}"))
    hosted = populate(services)
    server = ThreadedServer(create_app(services))
    yield server.url, hosted
    server.stop()
    services.db.dispose()


@pytest.fixture
def hosted_page(browser, hosted_app):
    with loopback_page(browser, height=1000) as page:
        yield page


def open_tokens(page, base, email):
    page.goto(base + "/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#pm-signed-in")).to_contain_text("You are admin in Alpha team", timeout=WAIT)
    page.locator("#pm-tabs").get_by_role("tab", name="Admin").click()
    page.locator("#pm-admin-sections").get_by_role("tab", name="API tokens").click()
    expect(page.locator("#pm-token-create")).to_be_visible()


def choose(page, elem_id, option):
    page.locator(f"#{elem_id}").locator("input").first.click()
    page.get_by_role("option", name=option, exact=True).click()


def field(page, elem_id):
    return page.locator(f"#{elem_id}").locator("input, textarea").first


def prompts(base, secret):
    return httpx.get(f"{base}/api/v1/prompts", headers={"authorization": f"Bearer {secret}"}, timeout=30)


def test_create_use_and_revoke_a_token(hosted_page, hosted_app):
    base, hosted = hosted_app
    page = hosted_page
    open_tokens(page, base, hosted.users["admin"])
    # No member chosen: said on the status line and in a toast, the typed name kept.
    field(page, "pm-token-name").fill("ci-browser")
    page.locator("#pm-token-create").click()
    expect(page.locator("#pm-tokens-status")).to_contain_text("Choose the member the token acts as.")
    assert_no_error_status(page)
    assert_usable(page, "pm-token-name", "ci-browser")
    # A name the service refuses: its message, nothing made, the form still as typed.
    choose(page, "pm-token-member", hosted.users["editor"])
    field(page, "pm-token-name").fill("bad name!")
    page.locator("#pm-token-create").click()
    expect(page.locator("#pm-tokens-status")).to_contain_text("is not a valid token name")
    expect(page.locator(".toast-body").first).to_be_visible()
    assert_no_error_status(page)
    assert_usable(page, "pm-token-name", "bad name!")
    assert hosted.services.api_tokens.list(hosted.ctx("alpha")) == []
    # An admin is not offered the owner's role.
    page.locator("#pm-token-role").locator("input").first.click()
    expect(page.get_by_role("option", name="Admin", exact=True)).to_be_visible()
    expect(page.get_by_role("option", name="Owner", exact=True)).to_have_count(0)
    page.get_by_role("option", name="Editor", exact=True).click()
    field(page, "pm-token-name").fill("ci-browser")
    page.locator("#pm-token-create").click()
    # The secret, once, with its warning, copyable.
    expect(page.locator("#pm-token-warning")).to_contain_text("it is shown only once")
    secret_box = field(page, "pm-token-secret")
    expect(secret_box).to_have_value(re.compile(r"^pm_\S{40,}$"))
    expect(page.locator("#pm-token-secret").get_by_role("button").first).to_be_visible()  # the copy button
    secret = secret_box.input_value()
    expect(page.locator("#pm-tokens-table").get_by_role("gridcell", name="ci-browser").first).to_be_visible()
    expect(page.locator("#pm-tokens-table")).to_contain_text(hosted.users["editor"])
    assert prompts(base, secret).status_code == 200
    # Revoke, after a confirmation; from then on the API refuses the secret.
    choose(page, "pm-token-pick", "ci-browser")
    page.locator("#pm-token-revoke").click()
    expect(page.locator("#pm-token-question")).to_contain_text("Revoke token ci-browser?")
    expect(page.locator("#pm-token-once")).to_be_hidden()  # the secret is not shown again
    assert prompts(base, secret).status_code == 200  # asking is not revoking
    page.locator("#pm-token-confirm-yes").click()
    expect(page.locator("#pm-tokens-status")).to_contain_text("Token ci-browser is revoked.")
    expect(page.locator("#pm-tokens-table").get_by_role("gridcell", name="revoked").first).to_be_visible()
    refused = prompts(base, secret)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthenticated"
    assert_no_error_status(page)
    assert_usable(page, "pm-token-name", "")


def test_single_user_mode_says_tokens_are_for_a_hosted_server(open_app):
    page = open_app()
    page.locator("#pm-tabs").get_by_role("tab", name="Admin").click()
    page.locator("#pm-admin-sections").get_by_role("tab", name="API tokens").click()
    expect(page.get_by_text("This single-user app has no REST API.")).to_be_visible()
    expect(page.locator("#pm-token-create")).to_have_count(0)
