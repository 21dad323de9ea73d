"""What every tab shares: the services, the caller's context, translated labels and errors.

Tabs never query the database or call litellm: they call services through `ui.services`.

Translation: components are created through `ui.tr(component, label=KEY, ...)`, which records which
of their properties show which locale key. `ui.relabel(locale)` returns updates for all of them,
so the page switches language on load (?lang=, saved preference, browser language, tenant
default, English) and when the user picks another language, without a restart."""
from __future__ import annotations

import inspect
import logging
import typing
from typing import Any, Callable

import gradio as gr

from ..context import TenantContext
from ..errors import AuthenticationError, PromptMgrError
from ..i18n import normalize_locale, t

log = logging.getLogger("promptmgr.ui")


class UI:
    def __init__(self, services, local_ctx: TenantContext | None):
        self.services = services
        # None in hosted mode: every caller comes from the request's session, there is no local user.
        self._local_ctx = local_ctx
        self._translated: list[tuple[Any, dict[str, str]]] = []
        self._loaders: list[tuple[Callable, list, list]] = []
        self._first_loaders: list[tuple[Callable, list, list]] = []
        self._locale_listeners: list[tuple[Callable, list, list]] = []
        # Per-session language; every handler takes it as its first input.
        self.locale: gr.State | None = None

    @property
    def hosted(self) -> bool:
        return self._local_ctx is None

    # --- the caller -----------------------------------------------------------------------
    def caller(self, request: gr.Request | None, locale: str | None = None) -> TenantContext:
        """The one place a Gradio request becomes the caller's TenantContext. Single-user mode:
        the local tenant and user. Hosted mode: the user of the request's access cookie, in the
        workspace the session is in, with the role of that membership (verified by the auth
        service on every event, so a revoked session or removed membership stops at once).
        Raises AuthenticationError (auth.session_invalid) without a valid session.

        The locale is the page's language state; before the page chose one (or for a caller of
        the HTTP API, which has no page) it is picked from the request like on page load."""
        ctx = self._local_ctx if self._local_ctx is not None else self._session_context(request)
        chosen = normalize_locale(locale) or self.pick_locale(request, ctx)
        return ctx.with_locale(chosen).with_origin(*request_origin(request))

    def build_context(self, locale: str = "en") -> TenantContext:
        """The context for reading shipped data (builder templates) while the page is built, before
        any request: the local user, or in hosted mode a viewer of no workspace (tenant 0 owns
        nothing, so it can read nothing of anyone's)."""
        if self._local_ctx is not None:
            return self._local_ctx.with_locale(locale)
        return TenantContext(0, 0, "viewer", locale)

    def _session_context(self, request: gr.Request | None) -> TenantContext:
        from ..web.cookies import ACCESS_COOKIE

        token = _cookies(request).get(ACCESS_COOKIE)
        if not token:
            raise AuthenticationError("auth.session_invalid")
        return self.services.auth.verify_access(token)  # AuthenticationError when it ended

    def handler(self, fn: Callable) -> Callable:
        """Wrap a Gradio handler `fn(ctx, *inputs)`: ctx is the caller of this request (resolved by
        caller() from gr.Request and the locale state, which stays the event's first input).
        Core errors reach the user as one translated message (gr.Error), never a traceback.
        Generator handlers (streaming) stay generators, so Gradio still streams them.

        fn's own special parameters (`evt: gr.SelectData`, `progress=gr.Progress()`) keep
        working: the wrapper shows Gradio fn's parameters after (request, locale). A handler
        that updates nothing may return {} (Gradio itself would fail on an empty dict)."""
        ui = self

        def resolve(request, locale) -> TenantContext:
            try:
                return ui.caller(request, locale)
            except Exception as exc:  # noqa: BLE001
                raise _to_gr_error(exc, fn, locale) from None

        if inspect.isgeneratorfunction(fn):
            def wrapped(request, locale, *args, **kwargs):
                ctx = resolve(request, locale)
                try:
                    for update in fn(ctx, *args, **kwargs):
                        yield _nothing_if_empty(update)
                except gr.Error:
                    raise
                except Exception as exc:  # noqa: BLE001 — never a traceback in front of a user
                    raise _to_gr_error(exc, fn, ctx.locale) from None
        else:
            def wrapped(request, locale, *args, **kwargs):
                ctx = resolve(request, locale)
                try:
                    return _nothing_if_empty(fn(ctx, *args, **kwargs))
                except gr.Error:
                    raise
                except Exception as exc:  # noqa: BLE001 — never a traceback in front of a user
                    raise _to_gr_error(exc, fn, ctx.locale) from None

        # Gradio injects gr.Request, gr.EventData and gr.Progress by the parameters it sees (type
        # hints and defaults of positional parameters, up to the first *args): it must see the
        # wrapper's request and locale, then fn's own parameters after its ctx.
        hints = _type_hints(fn)
        rest = list(inspect.signature(fn).parameters.values())[1:]
        wrapped.__name__, wrapped.__qualname__, wrapped.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
        wrapped.__module__ = fn.__module__
        wrapped.__annotations__ = {"request": gr.Request,
                                   **{p.name: hints[p.name] for p in rest if p.name in hints}}
        wrapped.__signature__ = inspect.Signature([
            inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=gr.Request),
            inspect.Parameter("locale", inspect.Parameter.POSITIONAL_OR_KEYWORD),
            *(p.replace(annotation=hints.get(p.name, inspect.Parameter.empty)) for p in rest),
        ])
        wrapped.ui_inner = fn
        return wrapped

    def pick_locale(self, request: gr.Request | None, ctx: TenantContext | None = None) -> str:
        """?lang=, then the user's saved preference, the browser's language, the tenant default, English."""
        ctx = ctx or self._local_ctx
        if request is not None:
            chosen = normalize_locale(request.query_params.get("lang"))
            if chosen:
                return chosen
        saved = normalize_locale(self.services.admin.preferences(ctx).get("locale"))
        if saved:
            return saved
        if request is not None:
            browser = normalize_locale(request.headers.get("accept-language"))
            if browser:
                return browser
        return normalize_locale(ctx.locale) or "en"

    # --- translation ---------------------------------------------------------------------
    def tr(self, component, **keys: str):
        """Register which properties of a component show which locale keys (label, info,
        placeholder, value for buttons/markdown, headers for dataframes...).

        Create the component with its English text (text(KEY)): a page in English is not
        relabelled on load, which keeps the first paint fast."""
        self._translated.append((component, keys))
        return component

    def relabel(self, locale: str) -> dict:
        updates = {}
        for component, keys in self._translated:
            props = {}
            for prop, key in keys.items():
                if prop == "headers":
                    # A Dataframe shows the headers of its value, not its headers property: the
                    # table is emptied with translated headers (its loader or listener fills it).
                    props["value"] = {"headers": [t(k, locale) for k in key.split(",")], "data": []}
                elif prop == "choices":
                    # "key1=value1,key2=value2": translated names, stable values.
                    props[prop] = [(t(k, locale), v) for k, v in (pair.split("=", 1) for pair in key.split(","))]
                else:
                    props[prop] = t(key, locale)
            updates[component] = gr.update(**props)
        return updates

    @property
    def translated_components(self) -> list:
        return [component for component, _ in self._translated]

    # --- page load and language switch ---------------------------------------------------
    def on_load(self, fn: Callable, inputs: list, outputs: list, first: bool = False) -> None:
        """Run fn when the page loads, after the language is known (fn's first input is the
        locale state, added here). app.py chains these after choosing the language.

        first=True: what the first paint needs (the library table). These run inside the one
        request that chooses the language, before the page shows; keep them to a few queries."""
        (self._first_loaders if first else self._loaders).append((fn, inputs, outputs))

    @staticmethod
    def call_loader(fn: Callable, ctx: TenantContext, *args) -> dict:
        """Run a loader inside another handler (the page load): its errors go to that handler's
        wrapper, so they become a user message in one place."""
        inner = getattr(fn, "ui_inner", None)
        return inner(ctx, *args) if inner else fn(ctx.locale, *args)

    @property
    def loaders(self) -> list[tuple[Callable, list, list]]:
        return list(self._loaders)

    @property
    def first_loaders(self) -> list[tuple[Callable, list, list]]:
        return list(self._first_loaders)

    def on_locale_change(self, fn: Callable, inputs: list, outputs: list) -> None:
        """Run fn after the user switched language (first input: the locale state, added here),
        for text handlers produced (page counters, tables) that relabel() cannot reach. fn must
        not overwrite anything the user is typing."""
        self._locale_listeners.append((fn, inputs, outputs))

    @property
    def locale_listeners(self) -> list[tuple[Callable, list, list]]:
        return list(self._locale_listeners)


def request_origin(request: gr.Request | None) -> tuple[str | None, str | None]:
    """The address and user agent the audit log records for this request."""
    if request is None:
        return None, None
    client = getattr(request, "client", None)
    address = getattr(client, "host", None) if client is not None else None
    agent = request.headers.get("user-agent") if getattr(request, "headers", None) is not None else None
    return (str(address)[:64] if address else None), (str(agent)[:400] if agent else None)


def merge_updates(updates: dict, more: dict) -> dict:
    """Add `more` to `updates`, combining two updates of one component (e.g. a button's translated
    text and its enabled state) instead of letting the later one drop the earlier one."""
    for component, update in more.items():
        earlier = updates.get(component)
        if isinstance(earlier, dict) and earlier.get("__type__") == "update":
            if isinstance(update, dict) and update.get("__type__") == "update":
                update = {**earlier, **update}
            else:
                update = {**earlier, "value": update}
        updates[component] = update
    return updates


def text(key: str, locale: str | None = "en", **params) -> str:
    return t(key, normalize_locale(locale) or "en", **params)


def status_line(elem_id: str) -> gr.Markdown:
    """The line next to a form where its actions show progress and Gradio's "Error" mark.

    Gradio paints its error status over every output of a failed event, hiding what was typed
    and taking the clicks. Every action of a form is wired with `show_progress_on=[status]`:
    its fields never carry a status, and the message itself is a toast (gr.Error)."""
    return gr.Markdown("", elem_id=elem_id, elem_classes=["pm-status"])


def choices(locale: str | None, pairs: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """[(locale key, value)] -> [(translated name, value)] for dropdowns and radios built in handlers."""
    return [(text(key, locale), value) for key, value in pairs]


def _cookies(request: gr.Request | None) -> dict:
    """The request's cookies (gr.Request hands attribute reads to the Starlette request)."""
    if request is None:
        return {}
    try:
        return dict(request.cookies or {})
    except (AttributeError, KeyError):
        return {}


def _type_hints(fn: Callable) -> dict:
    try:
        return typing.get_type_hints(fn)
    except (NameError, TypeError):
        return {}


def _nothing_if_empty(update):
    return gr.skip() if isinstance(update, dict) and not update else update


# Service messages written for the terminal (they name CLI commands and flags): the web page says
# what to do in the UI instead. tests/test_ui_handler.py checks that no other message names one.
UI_WORDING = {
    "providers.duplicate": "ui.errors.providers_duplicate",
    "providers.no_model": "ui.errors.providers_no_model",
    "providers.missing_key": "ui.errors.providers_missing_key",
    "llm.local_missing": "ui.errors.llm_local_missing",
    "testing.stream_one_model": "ui.errors.testing_stream_one_model",
}


def ui_message(exc: PromptMgrError, locale: str | None) -> str:
    """A core error as the web page words it, in `locale`."""
    locale = normalize_locale(locale) or "en"
    wording = UI_WORDING.get(exc.message_key)
    if wording is None:
        return exc.translate(locale)
    return PromptMgrError(wording, **exc.params).translate(locale)


def _to_gr_error(exc: Exception, fn: Callable, locale) -> gr.Error:
    if isinstance(exc, PromptMgrError):
        return gr.Error(ui_message(exc, locale), print_exception=False)
    log.error("unexpected error in %s", fn.__qualname__, exc_info=exc)
    return gr.Error(text("ui.common.unexpected", locale), print_exception=False)
