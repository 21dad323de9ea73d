"""The Gradio app: a header, then the Library, Builder, Testing, Experiments, Analytics, Settings and
Admin tabs.

Single-user mode: no login, the local tenant (with the starter library on first start). The page
picks its language on load (?lang=, saved preference, browser language, tenant default, English)
and relabels every tab; switching language in Settings does the same without a restart.

Only the Library's search, filters and table are built with the page: the other tabs are built the
first time they are opened (lazy.lazy_tab; its docstring says how a new tab opts in), the Library's
editor and import/export panel the first time they are needed (library_tab.py), which keeps the
first render close to an empty Gradio page (bench/bench_ui.py)."""
from __future__ import annotations

import logging
import os
import threading

from ..llm import offline  # noqa: F401  (before gradio reaches for the network)

import gradio as gr  # noqa: E402

from ..i18n import normalize_locale  # noqa: E402
from . import admin_tab, analytics_tab, builder_tab, experiments_tab, library_tab, settings_tab, testing_tab  # noqa: E402
from .common import UI, merge_updates, text  # noqa: E402
from .lazy import lazy_tab  # noqa: E402
from .theme import AFTER_FIRST_PAINT_JS, CSS, PAGE_JS, THEMES, make_theme  # noqa: E402

log = logging.getLogger("promptmgr.ui")
BUILT_IN_LOCALE = "en"


def create_demo(services=None) -> gr.Blocks:
    """Build the app over `services` (default: from the environment's settings)."""
    if services is None:
        from ..bootstrap import build_services

        services = build_services()
    hosted = services.settings.mode == "multi"
    # Hosted mode has no local user: every caller comes from the request's session (UI.caller).
    ui = UI(services, None if hosted else services.local_context())
    header = None
    with gr.Blocks(title="promptmgr", analytics_enabled=False) as demo:
        # None until the page load picked the language: a handler called before that (or through
        # the HTTP API, which has no page) gets the language from its request (UI.caller).
        ui.locale = gr.State(None)
        # What the browser-side js step needs to know (gr.State never reaches the browser).
        page_locale = gr.Textbox("en", visible=False)
        # The theme as the browser-side js step reads it (set on load and by Settings).
        page_theme = gr.Textbox("", visible=False)
        with gr.Row(elem_id="pm-header"):
            ui.tr(gr.Markdown(text("ui.app.header")), value="ui.app.header")
        if hosted:
            from .hosted import HostedHeader

            header = HostedHeader(ui)
        with gr.Tabs(elem_id="pm-tabs"):
            with ui.tr(gr.Tab(text("ui.tabs.library"), id="library", elem_id="pm-tab-library"),
                       label="ui.tabs.library"):
                library_tab.build(ui)
            with ui.tr(gr.Tab(text("ui.tabs.builder"), id="builder", elem_id="pm-tab-builder"),
                       label="ui.tabs.builder") as tab:
                lazy_tab(ui, tab, builder_tab.build)
            with ui.tr(gr.Tab(text("ui.tabs.testing"), id="testing", elem_id="pm-tab-testing"),
                       label="ui.tabs.testing") as tab:
                lazy_tab(ui, tab, testing_tab.build)
            with ui.tr(gr.Tab(text("ui_experiments.tab"), id="experiments", elem_id="pm-tab-experiments"),
                       label="ui_experiments.tab") as tab:
                lazy_tab(ui, tab, experiments_tab.build)
            with ui.tr(gr.Tab(text("ui_analytics.tab"), id="analytics", elem_id="pm-tab-analytics"),
                       label="ui_analytics.tab") as tab:
                lazy_tab(ui, tab, analytics_tab.build)
            with ui.tr(gr.Tab(text("ui.tabs.settings"), id="settings", elem_id="pm-tab-settings"),
                       label="ui.tabs.settings") as tab:
                # Lazy too: the language switch is wired when Settings is built (its events may
                # write the page's eager components and language state from inside the render).
                lazy_tab(ui, tab, lambda scope: _wire_language_switch(
                    ui, page_locale, page_theme, settings_tab.build(scope, page_theme)))
            # Admins and owners only: hidden until the page load knows the caller's role (admin_tab.py).
            with ui.tr(gr.Tab(text("ui_admin.tab"), id="admin", elem_id="pm-tab-admin", visible=False),
                       label="ui_admin.tab") as admin:
                lazy_tab(ui, admin, lambda scope: admin_tab.build(scope, admin))
            admin_tab.show_for_role(ui, admin)
        if header is not None:
            header.collect_controls(demo)
        _wire_page_load(demo, ui, page_locale, page_theme, header)
    # The handlers are the UI's plumbing, not an API (the REST API is): described in every page
    # they would add ~300 KB to it. They stay callable, for gradio_client in tests.
    for fn in demo.fns.values():
        if fn.api_visibility == "public":
            fn.api_visibility = "undocumented"
    return demo


def _wire_page_load(demo: gr.Blocks, ui: UI, page_locale: gr.Textbox, page_theme: gr.Textbox,
                    header=None) -> None:
    """One direct request (no queue: a queued event costs a visible extra round trip) chooses
    the language, relabels every tab and runs the first-paint loaders; the other loaders then
    run side by side, once the first rows have painted."""
    first = ui.first_loaders
    inputs = [ui.locale, *(component for _fn, fn_inputs, _outputs in first for component in fn_inputs)]
    outputs = list(dict.fromkeys([ui.locale, page_locale, page_theme, *ui.translated_components,
                                  *(component for _fn, _inputs, fn_outputs in first for component in fn_outputs),
                                  *(header.outputs if header is not None else [])]))

    @ui.handler
    def start(ctx, *values):
        locale = ctx.locale
        theme = ui.services.admin.preferences(ctx).get("theme")
        updates = {ui.locale: locale, page_locale: locale, page_theme: theme if theme in THEMES else ""}
        if locale != BUILT_IN_LOCALE:  # components are built with their English text
            updates.update(ui.relabel(locale))
        if header is not None:  # hosted mode: who is signed in, and what their role may use
            merge_updates(updates, header.on_load(ctx))
        updates = _run_loaders(ui, first, ctx, values, updates)
        warm_model_list(ctx)
        return updates

    warmed = threading.Event()

    def warm_model_list(ctx) -> None:
        """Once per app, after the first page is served: the first model list (Builder, Testing)
        imports litellm, seconds of work. Those tabs are built when opened, so their loaders no
        longer hide it behind the page load; a background thread does it instead."""
        if warmed.is_set():
            return
        warmed.set()

        def warm():
            try:
                ui.services.providers.overview(ctx, limit=1)
            except Exception:  # noqa: BLE001 — a warm-up: the tab's own loader reports errors
                log.debug("model list warm-up failed", exc_info=True)

        # A second later: the import holds the interpreter in bursts, and the page being served
        # should paint first.
        timer = threading.Timer(1.0, warm)
        timer.daemon = True
        timer.name = "promptmgr-warm-models"
        timer.start()

    started = demo.load(start, inputs, outputs, queue=False, show_progress="hidden")
    started.then(None, [page_locale, page_theme], None, js=PAGE_JS)
    # What the first viewport does not show (the filters' choices) is loaded once the table has
    # painted: their request and the updates it brings would otherwise delay the first rows.
    painted = started.then(None, None, None, js=AFTER_FIRST_PAINT_JS, queue=False, show_progress="hidden")
    for fn, fn_inputs, fn_outputs in ui.loaders:
        painted.then(fn, [ui.locale, *fn_inputs], fn_outputs, show_progress="hidden")



def _run_loaders(ui: UI, loaders: list, ctx, values: tuple, updates: dict) -> dict:
    """Run loaders inside one request: `values` holds their inputs one after another."""
    position = 0
    for fn, fn_inputs, _outputs in loaders:
        merge_updates(updates, ui.call_loader(fn, ctx, *values[position:position + len(fn_inputs)]))
        position += len(fn_inputs)
    return updates

def _wire_language_switch(ui: UI, page_locale: gr.Textbox, page_theme: gr.Textbox, settings) -> None:
    """One request switches the language: it saves the choice, relabels the page's eager part and
    refreshes what handlers wrote (page counters, tables), so the page changes at once. Tabs built
    later (lazy.TabScope) follow the language state this request writes.

    Called while Settings is built (a lazy tab): `ui` is the page's UI, not Settings' scope."""
    listeners = ui.locale_listeners
    inputs = [ui.locale, settings.language,
              *(component for _fn, fn_inputs, _outputs in listeners for component in fn_inputs)]
    outputs = list(dict.fromkeys([ui.locale, page_locale, *ui.translated_components,
                                  *(component for _fn, _inputs, fn_outputs in listeners for component in fn_outputs)]))

    @ui.handler
    def switch(ctx, chosen, *values):
        chosen = normalize_locale(chosen) or "en"
        ui.services.admin.save_preferences(ctx, locale=chosen)
        if chosen != ctx.locale:  # the dropdown can report one choice twice
            gr.Info(text("ui.settings.language_saved", chosen))
        ctx = ctx.with_locale(chosen)
        updates = {ui.locale: chosen, page_locale: chosen, **ui.relabel(chosen)}
        return _run_loaders(ui, listeners, ctx, values, updates)

    # Queued (the default): the opened lazy tabs follow the language state's change event, which
    # an unqueued event does not fire.
    switched = settings.language.input(switch, inputs, outputs, show_progress="hidden")
    switched.success(None, [page_locale, page_theme], None, js=PAGE_JS)


def launch(demo: gr.Blocks, host: str | None = None, port: int | None = None, *, expose: bool | None = None,
           settings=None, **kw):
    """Serve the app on host:port with its theme; never shared, no analytics.

    Defaults: GRADIO_SERVER_NAME / GRADIO_SERVER_PORT when set (Hugging Face Spaces sets them),
    else 127.0.0.1:7860. In single-user mode a non-loopback host is refused unless `expose` (or
    PROMPTMGR_EXPOSE=1) asks for it, and then a warning says what that exposes. Requests must name
    this machine, the bound host or PROMPTMGR_ALLOWED_HOSTS in their Host header. Uploads are
    capped at PROMPTMGR_MAX_UPLOAD_MB. Raises ValidationError (exposure.refused)."""
    import sys

    from starlette.middleware import Middleware

    from ..config import get_settings
    from ..exposure import HostCheckMiddleware, allowed_hosts, check_bind
    from ..i18n import t

    settings = settings or get_settings()
    host = host or os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
    port = port or int(os.environ.get("GRADIO_SERVER_PORT") or 7860)
    exposed = check_bind(host, settings.mode, settings.expose if expose is None else expose)
    hosts = allowed_hosts(host, settings.allowed_hosts)
    if exposed:
        locale = normalize_locale(os.environ.get("PROMPTMGR_LOCALE") or os.environ.get("LANG")) or "en"
        print(t("exposure.warning", locale, host=host, port=port, hosts=", ".join(hosts)), file=sys.stderr)
    app_kwargs = dict(kw.pop("app_kwargs", None) or {})
    app_kwargs["middleware"] = [*app_kwargs.get("middleware", []), Middleware(HostCheckMiddleware, allowed=hosts)]
    kw.setdefault("max_file_size", settings.max_upload_mb * 1024 * 1024)
    kw.setdefault("theme", make_theme())
    kw.setdefault("css", CSS)
    kw.setdefault("footer_links", ["gradio"])
    kw.setdefault("ssr_mode", False)
    kw.setdefault("mcp_server", False)
    return demo.launch(server_name=host, server_port=port, share=False, app_kwargs=app_kwargs, **kw)
