"""Hosted mode as a person uses it: sign in, a wrong password, sign out; an invitation accepted;
MFA set up and used; switching workspace; a viewer without edit controls; SSO.

The multi-user app (sign-in pages + Gradio behind them) runs in a real uvicorn on 127.0.0.1 in a
thread, over SQLite with two workspaces and a member of each role, with the loopback OpenID
provider configured; these fixtures leave the single-user ones in conftest.py untouched."""
from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import loopback_page
from tests.live_server import ThreadedServer
from tests.browser.usable import assert_no_error_status, assert_usable
from tests.oidc_provider import OidcProvider
from tests.web_fixtures import PASSWORD, multi_settings, populate


@pytest.fixture(scope="module")
def oidc_provider():
    with OidcProvider() as provider:
        yield provider


@pytest.fixture(scope="module")
def hosted_app(tmp_path_factory, oidc_provider):
    """(base URL, Hosted): the app running, and its services and people."""
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
    server = ThreadedServer(app)
    yield server.url, hosted
    server.stop()
    services.db.dispose()


@pytest.fixture
def hosted_page(browser, hosted_app):
    with loopback_page(browser, height=900) as page:
        yield page


pytestmark = pytest.mark.browser
WAIT = 30_000


def sign_in(page, base, email, password=PASSWORD):
    page.goto(base + "/")
    expect(page).to_have_url(f"{base}/login?next=%2F")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def in_app(page, role: str, workspace: str = "Alpha team"):
    expect(page.locator("#pm-signed-in")).to_contain_text(f"You are {role} in {workspace}", timeout=WAIT)


def test_sign_in_wrong_password_and_sign_out(hosted_page, hosted_app):
    base, hosted = hosted_app
    page = hosted_page
    sign_in(page, base, hosted.users["editor"], "not my password")
    expect(page.locator("#pm-error")).to_have_text("Email or password is wrong.")
    email = page.get_by_label("Email")
    expect(email).to_have_value(hosted.users["editor"])
    expect(email).to_be_editable()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    in_app(page, "editor")
    expect(page.locator("#pm-table").get_by_role("gridcell", name="greeting").first).to_be_visible()
    page.locator("#pm-sign-out").click()
    expect(page.locator("#pm-info")).to_have_text("You are signed out.")
    page.goto(base + "/")
    expect(page).to_have_url(f"{base}/login?next=%2F")


def test_invitation_accepted_then_sign_in(hosted_page, hosted_app):
    base, hosted = hosted_app
    page = hosted_page
    link = hosted.services.accounts.invite(hosted.ctx("alpha"), "invited@example.com", "editor")["link"]
    page.goto(base + "/invite/" + link.rsplit("/", 1)[-1])
    page.get_by_label("New password").fill("my own long passphrase")
    page.get_by_label("Repeat the password").fill("my own long passphrase")
    page.get_by_role("button", name="Create my account").click()
    expect(page.locator("#pm-info")).to_contain_text("Your account is ready")
    sign_in(page, base, "invited@example.com", "my own long passphrase")
    in_app(page, "editor")


def test_mfa_enrolment_then_sign_in_with_a_code(hosted_page, hosted_app):
    import pyotp

    base, hosted = hosted_app
    page = hosted_page
    sign_in(page, base, hosted.users["admin"])
    in_app(page, "admin")
    page.goto(base + "/mfa")
    expect(page.locator("#pm-qr")).to_be_visible()
    secret = page.locator("#pm-secret").inner_text().strip()
    page.get_by_label("Authentication code").fill("000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    page.get_by_role("button", name="Turn on").click()
    expect(page.locator("#pm-error")).to_be_visible()  # a wrong code: the same secret, try again
    assert page.locator("#pm-secret").inner_text().strip() == secret
    page.get_by_label("Authentication code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on").click()
    expect(page.locator("#pm-recovery-codes li")).to_have_count(10)
    page.get_by_role("link", name="Continue to the app").click()
    in_app(page, "admin")
    page.locator("#pm-sign-out").click()
    sign_in(page, base, hosted.users["admin"])
    code = page.get_by_label("Authentication code")
    expect(code).to_be_visible()
    expect(page.get_by_label("Password")).to_be_visible()  # the form keeps what was typed
    # A code works once: the next 30-second step's code (accepted one step early) is a new one.
    code.fill(pyotp.TOTP(secret).at(time.time() + 30))
    page.get_by_role("button", name="Sign in").click()
    in_app(page, "admin")


def test_switching_workspace(hosted_page, hosted_app):
    base, hosted = hosted_app
    page = hosted_page
    sign_in(page, base, hosted.both)
    in_app(page, "editor")
    expect(page.locator("#pm-new")).to_be_visible()
    # The page has finished loading (its last loaders fill the table and the pager).
    expect(page.locator("#pm-table").get_by_role("gridcell", name="greeting").first).to_be_visible()
    page.locator("#pm-page-info").get_by_text("–").wait_for()
    page.locator("#pm-workspace").get_by_role("combobox").click()
    page.get_by_role("option", name="Beta team").click()
    in_app(page, "viewer", "Beta team")
    expect(page.locator("#pm-table").get_by_role("gridcell", name="greeting")).to_have_count(0)
    expect(page.locator("#pm-new")).to_be_hidden()


def test_a_viewer_sees_no_edit_controls(hosted_page, hosted_app):
    base, hosted = hosted_app
    page = hosted_page
    sign_in(page, base, hosted.users["viewer"])
    in_app(page, "viewer")
    page.locator("#pm-table").get_by_role("gridcell", name="greeting").first.click()
    expect(page.locator("#pm-save")).to_be_hidden()
    expect(page.locator("#pm-delete")).to_be_hidden()
    expect(page.locator("#pm-new")).to_be_hidden()
    page.locator("#pm-transfer-open").click()
    expect(page.locator("#pm-export")).to_be_visible()  # reading stays: export
    expect(page.locator("#pm-import")).to_be_hidden()
    page.get_by_role("tab", name="Testing").click()
    expect(page.locator("#testing-preview")).to_be_visible()
    expect(page.locator("#testing-run")).to_be_hidden()
    # Tabs built when first opened hide them too: a viewer reads experiments, runs none.
    page.locator("#pm-tabs").get_by_role("tab", name="Experiments").click()
    page.locator("#exp-tabs").get_by_role("tab", name="New experiment").click()
    expect(page.locator("#exp-new-name")).to_be_visible()
    expect(page.locator("#exp-new-estimate")).to_be_hidden()
    expect(page.locator("#exp-new-run")).to_be_hidden()
    expect(page.locator("#pm-tabs").get_by_role("tab", name="Admin")).to_be_hidden()


def test_an_owner_changes_a_role_and_the_audit_log_shows_it(hosted_page, hosted_app):
    base, hosted = hosted_app
    services, page = hosted.services, hosted_page
    services.accounts.create_user(hosted.ctx("alpha"), "bob@example.com", PASSWORD, "editor")
    sign_in(page, base, hosted.users["owner"])
    in_app(page, "owner")
    page.locator("#pm-tabs").get_by_role("tab", name="Admin").click()
    page.locator("#pm-admin-sections").get_by_role("tab", name="Members").click()
    expect(page.locator("#pm-members").get_by_role("gridcell", name="bob@example.com").first).to_be_visible()
    page.locator("#pm-member").locator("input").first.click()
    page.get_by_role("option", name="bob@example.com").click()
    page.locator("#pm-member-role").locator("input").first.click()
    page.get_by_role("option", name="Viewer", exact=True).click()
    page.locator("#pm-member-set-role").click()
    expect(page.get_by_text("bob@example.com is now Viewer.")).to_be_visible()
    assert {m["email"]: m["role"] for m in services.accounts.members(hosted.ctx("alpha"))}["bob@example.com"] == "viewer"
    # An invitation gives a link to send; a bad address is a message and keeps what was typed.
    email = page.locator("#pm-invite-email").locator("input, textarea").first
    email.fill("not-an-email")
    page.locator("#pm-invite").click()
    expect(page.locator(".toast-body").first).to_be_visible()
    assert_usable(page, "pm-invite-email", "not-an-email")
    email.fill("ada@example.com")
    page.locator("#pm-invite").click()
    expect(page.locator("#pm-invite-link").locator("input, textarea").first).to_have_value(re.compile(r"/invite/"))
    page.locator("#pm-admin-sections").get_by_role("tab", name="Audit log").click()
    table = page.locator("#pm-audit-table")
    expect(table.get_by_role("gridcell", name="Role changed").first).to_be_visible()
    expect(table).to_contain_text("role: 'editor' → 'viewer'")
    expect(table.get_by_role("gridcell", name="Member invited").first).to_be_visible()
    assert_no_error_status(page)


def test_sign_in_with_sso(hosted_page, hosted_app, oidc_provider):
    base, _hosted = hosted_app
    page = hosted_page
    oidc_provider.user = {"sub": "sso-1", "email": "sso-person@example.com", "email_verified": True}
    page.goto(base + "/login")
    page.get_by_role("link", name="Sign in with single sign-on").click()
    in_app(page, "viewer")
