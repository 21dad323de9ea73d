"""The Settings tab: language and light/dark theme, the default model, model providers (keys are
typed into a password field, stored encrypted and only ever shown masked) and price overrides.

The language switch itself is wired in app.py (it relabels every tab); this module saves it.
Settings is built when first opened (lazy.lazy_tab); the page's theme field stays in app.py,
because the page load writes it before this tab exists."""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from ..i18n import LANGUAGE_NAMES, SUPPORTED_LOCALES
from ..llm.schemas import PROVIDER_KINDS
from ..context import TenantContext
from .common import UI, choices, status_line, text
from .theme import PAGE_JS, THEMES


@dataclass
class SettingsControls:
    language: gr.Dropdown
    theme: gr.Radio
    page_theme: gr.Textbox  # the theme as the browser-side js step reads it


def _number(value) -> float | None:
    return None if value in (None, "") else float(value)


class Providers:
    def __init__(self, ui: UI):
        self.ui = ui
        ui.tr(gr.Markdown(text("ui.settings.providers.title")), value="ui.settings.providers.title")
        self.table = gr.Dataframe(headers=self._headers("en"), interactive=False, max_height=240, show_label=False,
                                  elem_id="pm-providers")
        with gr.Row(equal_height=True):
            self.name = ui.tr(gr.Textbox(label=text("ui.settings.providers.name"), placeholder="ollama",
                                         elem_id="pm-provider-name"), label="ui.settings.providers.name")
            kinds = [(f"ui.settings.providers.kind_{k}", k) for k in PROVIDER_KINDS]
            self.kind = ui.tr(gr.Dropdown(choices("en", kinds),
                                          value=PROVIDER_KINDS[0], label=text("ui.settings.providers.kind"),
                                          elem_id="pm-provider-kind"),
                              label="ui.settings.providers.kind",
                              choices=",".join(f"ui.settings.providers.kind_{k}={k}" for k in PROVIDER_KINDS))
        with gr.Row(equal_height=True):
            self.base_url = ui.tr(gr.Textbox(label=text("ui.settings.providers.base_url"), scale=2,
                                             placeholder="http://127.0.0.1:11434/v1", elem_id="pm-provider-url"),
                                  label="ui.settings.providers.base_url")
            self.api_key = ui.tr(gr.Textbox(type="password", label=text("ui.settings.providers.api_key"), scale=2,
                                            info=text("ui.settings.providers.api_key_info"), elem_id="pm-provider-key"),
                                 label="ui.settings.providers.api_key", info="ui.settings.providers.api_key_info")
        self.add = ui.tr(gr.Button(text("ui.settings.providers.add"), variant="primary", elem_id="pm-provider-add"),
                         value="ui.settings.providers.add")
        with gr.Row(equal_height=True):
            self.selected = ui.tr(gr.Dropdown([], label=text("ui.settings.providers.selected"), scale=2,
                                              elem_id="pm-provider-selected"), label="ui.settings.providers.selected")
            self.test = ui.tr(gr.Button(text("ui.settings.providers.test"), scale=1, elem_id="pm-provider-test"),
                              value="ui.settings.providers.test")
            self.remove = ui.tr(gr.Button(text("ui.settings.providers.remove"), variant="stop", scale=1,
                                          elem_id="pm-provider-remove"), value="ui.settings.providers.remove")
        self.result = gr.Markdown(elem_id="pm-provider-result")

    @staticmethod
    def _headers(locale: str) -> list[str]:
        return [text(f"ui.settings.providers.col_{c}", locale) for c in ("name", "kind", "base_url", "key")]

    def fill(self, ctx: TenantContext, select: str | None = None) -> dict:
        locale = ctx.locale
        providers = self.ui.services.providers.list(ctx)
        rows = [[p.name, text(f"ui.settings.providers.kind_{p.kind}", locale), p.base_url,
                 p.api_key_masked if p.has_key and p.key_readable
                 else text("ui.settings.providers.key_unreadable" if p.has_key else "ui.settings.providers.no_key",
                           locale)] for p in providers]
        names = [p.name for p in providers]
        return {self.table: {"data": rows, "headers": self._headers(locale)},
                self.selected: gr.update(choices=names,
                                         value=select if select in names else (names[0] if names else None))}


class Prices:
    def __init__(self, ui: UI):
        self.ui = ui
        ui.tr(gr.Markdown(text("ui.settings.prices.title")), value="ui.settings.prices.title")
        self.table = gr.Dataframe(headers=self._headers("en"), interactive=False, max_height=240, show_label=False,
                                  elem_id="pm-prices")
        with gr.Row(equal_height=True):
            self.model = ui.tr(gr.Textbox(label=text("ui.settings.prices.model"), placeholder="ollama/llama3.2",
                                          scale=2, elem_id="pm-price-model"), label="ui.settings.prices.model")
            self.input = ui.tr(gr.Number(label=text("ui.settings.prices.input"), elem_id="pm-price-input"),
                               label="ui.settings.prices.input")
            self.output = ui.tr(gr.Number(label=text("ui.settings.prices.output"), elem_id="pm-price-output"),
                                label="ui.settings.prices.output")
            self.context = ui.tr(gr.Number(label=text("ui.settings.prices.context"), precision=0,
                                           elem_id="pm-price-context"), label="ui.settings.prices.context")
        with gr.Row():
            self.set = ui.tr(gr.Button(text("ui.settings.prices.set"), elem_id="pm-price-set"),
                             value="ui.settings.prices.set")
            self.remove = ui.tr(gr.Button(text("ui.settings.prices.remove"), variant="stop", elem_id="pm-price-remove"),
                                value="ui.settings.prices.remove")
        self.status = status_line("pm-price-status")

    @staticmethod
    def _headers(locale: str) -> list[str]:
        return [text(f"ui.settings.prices.col_{c}", locale) for c in ("model", "input", "output", "context")]

    def fill(self, ctx: TenantContext) -> dict:
        prices = self.ui.services.providers.prices(ctx)
        rows = [[p.model, f"{p.input_per_1k:g}", f"{p.output_per_1k:g}", p.context_window or ""] for p in prices]
        return {self.table: {"data": rows, "headers": self._headers(ctx.locale)}}


def build(ui: UI, page_theme: gr.Textbox) -> SettingsControls:
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=320):
            ui.tr(gr.Markdown(text("ui.settings.appearance")), value="ui.settings.appearance")
            language = ui.tr(gr.Dropdown([(LANGUAGE_NAMES[code], code) for code in SUPPORTED_LOCALES], value="en",
                                         label=text("ui.settings.language"), elem_id="pm-language"),
                             label="ui.settings.language")
            theme = ui.tr(gr.Radio(choices("en", [(f"ui.settings.theme_{t}", t) for t in THEMES]), value="system",
                                   label=text("ui.settings.theme"), elem_id="pm-theme"),
                          label="ui.settings.theme", choices=",".join(f"ui.settings.theme_{t}={t}" for t in THEMES))
            ui.tr(gr.Markdown(text("ui.settings.default_model_title")), value="ui.settings.default_model_title")
            default_model = ui.tr(gr.Dropdown([], value=None, allow_custom_value=True,
                                              label=text("ui.settings.default_model"),
                                              info=text("ui.settings.default_model_info"), elem_id="pm-default-model"),
                                  label="ui.settings.default_model", info="ui.settings.default_model_info")
            default_source = gr.Markdown(elem_id="pm-default-source")
            save_default = ui.tr(gr.Button(text("ui.settings.save_default"), elem_id="pm-save-default"),
                                 value="ui.settings.save_default")
        with gr.Column(scale=2, min_width=480):
            providers = Providers(ui)
            prices = Prices(ui)
    _wire(ui, language, theme, page_theme, default_model, default_source, save_default, providers, prices)
    return SettingsControls(language=language, theme=theme, page_theme=page_theme)


def _wire(ui: UI, language, theme, page_theme, default_model, default_source, save_default,
          providers: Providers, prices: Prices) -> None:
    locale = ui.locale

    def model_state(ctx: TenantContext, extra: list[str] | None = None) -> dict:
        model, source = ui.services.providers.default_model(ctx)
        known = ([model] if model else []) + [p.model for p in ui.services.providers.prices(ctx)] + (extra or [])
        note = f"ui.settings.default_source_{source or 'none'}"
        if source in ("local", None) and ui.services.providers.list(ctx):
            note += "_with_providers"  # the note must not say that no provider is configured
        return {default_model: gr.update(choices=list(dict.fromkeys(known)), value=model),
                default_source: text(note, ctx.locale)}

    @ui.handler
    def load(ctx):
        prefs = ui.services.admin.preferences(ctx)
        chosen = prefs.get("theme") if prefs.get("theme") in THEMES else "system"
        return {language: ctx.locale, theme: chosen, page_theme: chosen, **model_state(ctx),
                **providers.fill(ctx), **prices.fill(ctx)}

    @ui.handler
    def save_theme(ctx, chosen):
        chosen = chosen if chosen in THEMES else "system"
        ui.services.admin.save_preferences(ctx, theme=chosen)
        return {page_theme: chosen}

    @ui.handler
    def set_default(ctx, model):
        saved = ui.services.providers.set_default_model(ctx, model)
        gr.Info(text("ui.settings.default_saved", ctx.locale, model=saved) if saved
                else text("ui.settings.default_cleared", ctx.locale))
        return model_state(ctx)

    @ui.handler
    def add_provider(ctx, name, kind, base_url, api_key):
        added = ui.services.providers.add(ctx, name, base_url, kind=kind, api_key=api_key or None)
        gr.Info(text("ui.settings.providers.added", ctx.locale, name=added.name))
        # The key field is emptied: a stored key is never sent back to the browser.
        return {**providers.fill(ctx, select=added.name), providers.name: "", providers.base_url: "",
                providers.api_key: "", **model_state(ctx)}

    @ui.handler
    def test_provider(ctx, name, progress=gr.Progress()):
        loc = ctx.locale
        if not name:
            raise gr.Error(text("ui.settings.providers.pick", loc), print_exception=False)
        progress(0.2, desc=text("ui.settings.providers.testing", loc, name=name))
        result = ui.services.providers.test_connection(ctx, name)
        if not result.ok:
            return {providers.result: "✗ " + (result.error or text("ui.common.unexpected", loc))}
        models = [f"{name}/{m}" for m in result.models]
        shown = ", ".join(f"`{m}`" for m in result.models[:20]) + (" …" if len(result.models) > 20 else "")
        message = text("ui.settings.providers.test_ok", loc, name=name, count=len(result.models),
                       ms=f"{result.latency_ms:.0f}")
        return {providers.result: f"✓ {message}" + (f"\n\n{shown}" if shown else ""), **model_state(ctx, models)}

    @ui.handler
    def remove_provider(ctx, name):
        if not name:
            raise gr.Error(text("ui.settings.providers.pick", ctx.locale), print_exception=False)
        ui.services.providers.remove(ctx, name)
        gr.Info(text("ui.settings.providers.removed", ctx.locale, name=name))
        return {**providers.fill(ctx), providers.result: "", **model_state(ctx)}

    @ui.handler
    def set_price(ctx, model, input_per_1k, output_per_1k, context):
        price = ui.services.providers.set_price(ctx, model, _number(input_per_1k) or 0.0,
                                                _number(output_per_1k) or 0.0,
                                                int(context) if context else None)  # empty field: 0
        gr.Info(text("ui.settings.prices.saved", ctx.locale, model=price.model))
        return {**prices.fill(ctx), **model_state(ctx)}

    @ui.handler
    def remove_price(ctx, model):
        ui.services.providers.remove_price(ctx, (model or "").strip())
        gr.Info(text("ui.settings.prices.removed", ctx.locale, model=model))
        return {**prices.fill(ctx), **model_state(ctx)}

    ui.on_load(load, [], [language, theme, page_theme, default_model, default_source, providers.table,
                          providers.selected, prices.table])
    ui.on_locale_change(ui.handler(lambda ctx: {**providers.fill(ctx), **prices.fill(ctx), **model_state(ctx)}), [],
                        [providers.table, providers.selected, prices.table, default_model, default_source])
    # Every action shows its progress and errors on a status line next to its form, never over the
    # fields (common.status_line): the provider form's result line, the prices' line, the model note.
    on_providers, on_prices = {"show_progress_on": [providers.result]}, {"show_progress_on": [prices.status]}
    theme.input(save_theme, [locale, theme], [page_theme], show_progress="hidden").then(
        None, [language, page_theme], None, js=PAGE_JS)
    save_default.click(set_default, [locale, default_model], [default_model, default_source],
                       show_progress_on=[default_source])
    provider_form = [providers.name, providers.kind, providers.base_url, providers.api_key]
    model_outputs = [default_model, default_source]
    providers.add.click(add_provider, [locale, *provider_form],
                        [providers.table, providers.selected, providers.name, providers.base_url, providers.api_key,
                         *model_outputs], **on_providers)
    providers.test.click(test_provider, [locale, providers.selected], [providers.result, *model_outputs],
                         **on_providers)
    providers.remove.click(remove_provider, [locale, providers.selected],
                           [providers.table, providers.selected, providers.result, *model_outputs], **on_providers)
    price_form = [prices.model, prices.input, prices.output, prices.context]
    prices.set.click(set_price, [locale, *price_form], [prices.table, *model_outputs], **on_prices)
    prices.remove.click(remove_price, [locale, prices.model], [prices.table, *model_outputs], **on_prices)
