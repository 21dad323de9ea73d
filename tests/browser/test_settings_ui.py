"""The Settings tab in a real browser: providers (keys masked, never echoed), connection test,
price overrides, default model, light/dark theme."""
from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def textbox(page, elem_id: str):
    return page.locator(f"#{elem_id}").get_by_role("textbox")


def open_settings(open_app):
    page = open_app()
    page.locator("#pm-tabs").get_by_role("tab", name="Settings").click()
    page.locator("#pm-providers").get_by_role("gridcell", name="fake", exact=True).first.wait_for()
    return page


def test_provider_key_is_masked_tested_and_removed(open_app, app_services, fake_llm):
    page = open_settings(open_app)
    name = f"prov-{uuid.uuid4().hex[:6]}"
    secret = "sk-browser-secret-key-98765"
    textbox(page, "pm-provider-name").fill(name)
    textbox(page, "pm-provider-url").fill(fake_llm.base_url)
    page.locator("#pm-provider-key").locator("input").fill(secret)
    page.locator("#pm-provider-add").click()
    table = page.locator("#pm-providers")
    expect(table.get_by_role("gridcell", name=name, exact=True).first).to_be_visible()
    expect(table.get_by_role("gridcell", name="sk-…8765").first).to_be_visible()
    # The key field is emptied and the key is nowhere in the page.
    expect(page.locator("#pm-provider-key").locator("input")).to_have_value("")
    assert secret not in page.content()
    stored = app_services.services.providers.get(app_services.ctx, name)
    assert stored.has_key and stored.base_url == fake_llm.base_url

    # Test connection lists the endpoint's models and offers them as default models.
    expect(page.locator("#pm-provider-selected").get_by_role("combobox")).to_have_value(name)
    page.locator("#pm-provider-test").click()
    expect(page.locator("#pm-provider-result")).to_contain_text(re.compile(r"answered in \d+ ms with 1 models"))
    expect(page.locator("#pm-provider-result")).to_contain_text("fake-model")
    assert fake_llm.requests[-1].path.endswith("/models")
    assert fake_llm.requests[-1].headers.get("authorization") == f"Bearer {secret}"
    page.locator("#pm-default-model").get_by_role("combobox").click()
    expect(page.get_by_role("option", name=f"{name}/fake-model")).to_be_visible()
    page.keyboard.press("Escape")

    page.locator("#pm-provider-remove").click()
    expect(table.get_by_role("gridcell", name=name, exact=True)).to_have_count(0)
    assert name not in [p.name for p in app_services.services.providers.list(app_services.ctx)]


def test_price_overrides_and_default_model(open_app, app_services):
    page = open_settings(open_app)
    model = f"fake/priced-{uuid.uuid4().hex[:6]}"
    textbox(page, "pm-price-model").fill(model)
    page.locator("#pm-price-input").get_by_role("spinbutton").fill("0.25")
    page.locator("#pm-price-output").get_by_role("spinbutton").fill("1.5")
    page.locator("#pm-price-set").click()
    expect(page.locator("#pm-prices").get_by_role("gridcell", name=model, exact=True).first).to_be_visible()
    price = next(p for p in app_services.services.providers.prices(app_services.ctx) if p.model == model)
    assert price.input_per_1k == pytest.approx(0.25) and price.output_per_1k == pytest.approx(1.5)

    try:
        combo = page.locator("#pm-default-model").get_by_role("combobox")
        combo.click()
        page.get_by_role("option", name=model, exact=True).click()
        page.locator("#pm-save-default").click()
        expect(page.get_by_text(f"Default model: {model}.")).to_be_visible()
        assert app_services.services.providers.default_model(app_services.ctx) == (model, "user")
    finally:
        app_services.services.providers.set_default_model(app_services.ctx, "fake/test-model")

    page.locator("#pm-price-remove").click()
    expect(page.locator("#pm-prices").get_by_role("gridcell", name=model, exact=True)).to_have_count(0)
    assert model not in [p.model for p in app_services.services.providers.prices(app_services.ctx)]


def test_bad_provider_input_is_a_short_message_and_keeps_the_form(open_app):
    page = open_settings(open_app)
    textbox(page, "pm-provider-name").fill("broken")
    textbox(page, "pm-provider-url").fill("not a url")
    page.locator("#pm-provider-add").click()
    expect(page.get_by_text(re.compile("is not a valid base URL"))).to_be_visible()
    expect(textbox(page, "pm-provider-name")).to_have_value("broken")
    expect(textbox(page, "pm-provider-url")).to_have_value("not a url")


def test_dark_theme_is_applied_and_remembered(open_app, app_services):
    page = open_settings(open_app)
    try:
        page.locator("#pm-theme").get_by_label("Dark").check()
        expect(page.locator("body")).to_have_class(re.compile(r"\bdark\b"))
        assert app_services.services.admin.preferences(app_services.ctx)["theme"] == "dark"
        page.reload()
        page.locator("#pm-table").get_by_role("gridcell").first.wait_for()
        expect(page.locator("body")).to_have_class(re.compile(r"\bdark\b"))
        page.locator("#pm-tabs").get_by_role("tab", name="Settings").click()
        page.locator("#pm-theme").get_by_label("Light").check()
        expect(page.locator("body")).not_to_have_class(re.compile(r"\bdark\b"))
    finally:
        app_services.services.admin.save_preferences(app_services.ctx, theme="system")


def test_default_model_note_follows_the_providers(open_app, app_services, fake_llm):
    """Issue 7, item 10: with no default model chosen, the note must not say "no provider
    configured" once one is added, and it changes on add/remove without a reload."""
    from promptmgr.i18n import t
    from tests.browser.conftest import FAKE_KEY, FAKE_MODEL, FAKE_PROVIDER

    services, ctx = app_services.services, app_services.ctx
    _model, source = services.providers.default_model(ctx)
    services.providers.set_default_model(ctx, None)
    services.providers.remove(ctx, FAKE_PROVIDER)
    try:
        page = open_app()
        page.locator("#pm-tabs").get_by_role("tab", name="Settings").click()
        source = services.providers.default_model(ctx)[1] or "none"
        note = page.locator("#pm-default-source")
        expect(note).to_have_text(t(f"ui.settings.default_source_{source}", "en"))
        name = f"prov-{uuid.uuid4().hex[:6]}"
        textbox(page, "pm-provider-name").fill(name)
        textbox(page, "pm-provider-url").fill(fake_llm.base_url)
        page.locator("#pm-provider-add").click()
        expect(page.locator("#pm-providers").get_by_role("gridcell", name=name, exact=True).first).to_be_visible()
        expect(note).to_have_text(t(f"ui.settings.default_source_{source}_with_providers", "en"))
        expect(note).not_to_contain_text("no provider configured")
        expect(note).not_to_contain_text("add a provider")
        page.locator("#pm-provider-remove").click()
        expect(note).to_have_text(t(f"ui.settings.default_source_{source}", "en"))
    finally:
        for provider in services.providers.list(ctx):
            if provider.name != FAKE_PROVIDER:
                services.providers.remove(ctx, provider.name)
        services.providers.add(ctx, FAKE_PROVIDER, fake_llm.base_url, api_key=FAKE_KEY)
        services.providers.set_default_model(ctx, FAKE_MODEL)
