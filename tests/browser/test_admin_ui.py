"""The Admin tab as a person sees it (single-user mode: the local user is the owner): a change made in
the tab or elsewhere shows in the audit log, the filters narrow it, the CSV export holds the row, the
workspace settings save (and a bad value keeps what was typed), providers link to Settings."""
from __future__ import annotations

import csv
import io
import uuid

from playwright.sync_api import expect

from tests.browser.usable import assert_no_error_status, assert_usable


def open_admin(open_app):
    page = open_app()
    tab = page.locator("#pm-tabs").get_by_role("tab", name="Admin")
    expect(tab).to_be_visible()
    tab.click()
    page.locator("#pm-audit-table").wait_for()
    return page


def audit_cell(page, text: str):
    return page.locator("#pm-audit-table").get_by_role("gridcell", name=text).first


def test_a_label_move_shows_in_the_audit_log_and_in_its_csv_export(open_app, app_services):
    services, ctx = app_services.services, app_services.ctx
    name = services.library.list(ctx).items[0].name
    label = f"audit-{uuid.uuid4().hex[:6]}"
    services.library.set_label(ctx, name, label)  # a write outside the tab: the tab shows it when opened
    page = open_admin(open_app)
    expect(audit_cell(page, "Label moved")).to_be_visible()
    expect(page.locator("#pm-audit-table")).to_contain_text(f"label: '{label}'")
    # Narrow to this prompt and this action: the row stays, the count says how many match.
    page.locator("#pm-audit-target").locator("input, textarea").first.fill(name)
    page.locator("#pm-audit-action").locator("input").first.click()
    page.get_by_role("option", name="Label moved (prompt.label_set)").click()
    page.locator("#pm-audit-search").click()
    expect(page.locator("#pm-audit-page")).to_contain_text("Events 1–")
    expect(page.locator("#pm-audit-table")).not_to_contain_text("Prompt created")
    expect(audit_cell(page, f"prompt: {name}")).to_be_visible()
    page.locator("#pm-audit-export").click()
    link = page.locator("#pm-audit-file").get_by_role("link").first
    expect(link).to_be_visible()
    with page.expect_download() as download:
        link.click()
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
    assert rows and {(r["action"], r["target"]) for r in rows} == {("prompt.label_set", name)}
    assert any(label in r["after"] for r in rows)
    assert_no_error_status(page)


def test_workspace_settings_save_into_the_audit_log_and_a_bad_value_keeps_the_form(open_app, app_services):
    page = open_admin(open_app)
    page.locator("#pm-admin-sections").get_by_role("tab", name="Workspace").click()
    name_field = page.locator("#pm-ws-name").locator("input, textarea").first
    expect(name_field).not_to_have_value("")
    new_name = f"Team {uuid.uuid4().hex[:6]}"
    name_field.fill(new_name)
    page.locator("#pm-ws-labels").locator("input, textarea").first.fill("production, release")
    page.locator("#pm-ws-save").click()
    expect(page.get_by_text("Workspace settings saved.")).to_be_visible()
    settings = app_services.services.accounts.settings_of(app_services.ctx)
    assert (settings["name"], settings["protected_labels"]) == (new_name, ["production", "release"])
    page.locator("#pm-admin-sections").get_by_role("tab", name="Audit log").click()
    expect(audit_cell(page, "Workspace settings changed")).to_be_visible()
    # A label name that cannot be one: a message, nothing saved, the form still usable as typed.
    page.locator("#pm-admin-sections").get_by_role("tab", name="Workspace").click()
    page.locator("#pm-ws-labels").locator("input, textarea").first.fill("production, " + "x" * 120)
    page.locator("#pm-ws-save").click()
    expect(page.locator(".toast-body").first).to_be_visible()
    assert_no_error_status(page)
    assert_usable(page, "pm-ws-labels", "production, " + "x" * 120)
    assert_usable(page, "pm-ws-name", new_name)
    assert app_services.services.accounts.settings_of(app_services.ctx)["protected_labels"] == ["production", "release"]
    app_services.services.accounts.update_settings(app_services.ctx, protected_labels=["production"])


def test_providers_are_listed_masked_and_edited_in_settings(open_app):
    page = open_admin(open_app)
    page.locator("#pm-admin-sections").get_by_role("tab", name="Providers and keys").click()
    table = page.locator("#pm-admin-providers")
    expect(table.get_by_role("gridcell", name="fake", exact=True).first).to_be_visible()
    expect(table).not_to_contain_text("sk-test-browser-key-0042")
    page.locator("#pm-admin-open-settings").click()
    expect(page.locator("#pm-provider-name")).to_be_visible()


def test_a_change_in_another_tab_is_logged_with_the_browsers_address(open_app, app_services):
    model = f"fake/audit-{uuid.uuid4().hex[:6]}"
    page = open_app()
    page.locator("#pm-tabs").get_by_role("tab", name="Settings").click()
    page.locator("#pm-price-model").locator("input, textarea").first.fill(model)
    page.locator("#pm-price-input").locator("input").first.fill("0.25")
    page.locator("#pm-price-set").click()
    expect(page.locator("#pm-prices").get_by_role("gridcell", name=model).first).to_be_visible()
    page.locator("#pm-tabs").get_by_role("tab", name="Admin").click()
    expect(audit_cell(page, f"model: {model}")).to_be_visible()
    expect(page.locator("#pm-audit-table")).to_contain_text("Price set")
    expect(page.locator("#pm-audit-table")).to_contain_text("127.0.0.1")
    event = app_services.services.audit.list(app_services.ctx, {"target": model}).items[0]
    assert (event.action, event.address) == ("price.set", "127.0.0.1") and "Chrome" in (event.user_agent or "")
    assert event.after["input_per_1k"] == 0.25
