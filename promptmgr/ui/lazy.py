"""Parts of the page built the first time someone needs them, so the page's first render carries
only what its first viewport shows: the Library's search, filters and table.

Why: the page's config (every component and event, parsed by the browser before anything shows)
and its page-load requests grow with every tab. Gradio 6 already mounts an inactive tab's
children only when it is opened (Tab(render_children=False)); what it does not skip is
describing them in the config and running their loaders on page load. A lazy tab is an empty
`@gr.render` container, filled once per page session, when the tab is first opened.

How a tab opts in (app.py; `build(ui)` is the tab module's usual build function, unchanged):

    with ui.tr(gr.Tab(text("ui.tabs.analytics"), id="analytics", elem_id="pm-tab-analytics"),
               label="ui.tabs.analytics") as tab:
        lazy_tab(ui, tab, analytics_tab.build)

(that is: add `as tab` and replace the `analytics_tab.build(ui)` line). Give the Tab an elem_id:
bench/bench_ui.py times each tab's first opening by waiting for controls inside it.

Not only tabs: `lazy_render(ui, build, opened, inputs)` builds `build(scope, *values)` in the current
container when the hidden checkbox `opened` first turns True (the Library's editor opens with the
first row clicked, its import/export panel with its button; library_tab.py). The event that sets
`opened` can leave a gr.State among `inputs` for the build to read (which prompt to open), and
`scope.initial(updates)` shows the part already filled: the updates become the built components'
first values, so nothing waits for a second request.

Inside `build`, everything works as in an eager tab: `ui.tr`, `ui.handler`, `ui.on_load`,
`ui.on_locale_change`, `ui.services`, `ui.locale`. What changes (TabScope):
- the tab is built in the page's current language (translated labels go into the rendered
  config, nothing shows in English first);
- its loaders (`ui.on_load`, `first=` or not) run right after the tab appears, each as its own
  request, as they ran after page load before;
- `scope.ctx` is the caller the part is built for (its role hides the controls it may not use);
- a later language switch relabels the tab and runs its `on_locale_change` listeners (one request
  per opened tab, triggered by the page's language state);
- its components and events exist per session, after the page was built: `build`'s return value
  cannot be handed to other tabs (wire cross-tab events inside `build`; the eager tabs'
  components may be its inputs and outputs), and its handlers are not endpoints of the page's
  API (gradio_client cannot call them by name; the REST API is the API).

Gradio facts this relies on (6.31): a "load" event registered inside a render runs as soon as
the render reaches the browser; a gr.State changed by an unqueued event fires no change event
(hence the hidden checkbox set by js); the browser infers `interactive` for components left at
None from the page's events only, not the render's (settled in _finish_render).
"""
from __future__ import annotations

from typing import Any, Callable

import gradio as gr
from gradio.context import LocalContext, get_blocks_context
from pydantic import BaseModel

from ..context import TenantContext
from ..policy import allowed
from .common import UI, merge_updates


class TabScope(UI):
    """The UI a lazy part's build function sees: the page's services, caller rules and language
    state, with its own list of translated components, loaders and locale listeners (the page's
    page-load and language-switch events were wired before this part existed)."""

    def __init__(self, parent: UI, ctx: TenantContext | None = None):
        super().__init__(parent.services, parent._local_ctx)
        self.locale = parent.locale
        self.parent = parent
        # The caller the part is built for, in the page's language.
        self.ctx = ctx
        self._initial: dict = {}

    # The caller rule stays in one place: the page's UI decides who a request is.
    def caller(self, request, locale=None):
        return self.parent.caller(request, locale)

    def pick_locale(self, request):
        return self.parent.pick_locale(request)

    def initial(self, updates: dict) -> None:
        """Show the part with these updates already applied (its first values, choices, visibility):
        no request after the render. Updates of components built elsewhere are not applied: their
        config is in the browser already (the event that opened the part sets those)."""
        merge_updates(self._initial, updates)

    def finish(self, locale: str) -> None:
        """Called at the end of the render: translate what was built, apply the initial updates,
        queue the loaders for right after the part appears, and follow later language switches."""
        renderable = LocalContext.renderable.get(None)
        initial = self.relabel(locale) if locale != "en" else {}  # components are built with their English text
        merge_updates(initial, self._initial)
        for component, update in initial.items():
            if getattr(component, "rendered_in", None) is renderable:
                _set_initial(component, update)
        root = get_blocks_context().root_block
        for fn, inputs, outputs in [*self.first_loaders, *self.loaders]:
            # A "load" event created inside a render runs as soon as the render reaches the browser.
            root.load(fn, [self.locale, *inputs], outputs, show_progress="hidden")
        self._follow_language()

    def _follow_language(self) -> None:
        listeners = self.locale_listeners
        translated = self.translated_components
        if not translated and not listeners:
            return
        inputs = [self.locale, *(c for _fn, fn_inputs, _outputs in listeners for c in fn_inputs)]
        outputs = list(dict.fromkeys([*translated, *(c for _fn, _in, fn_outputs in listeners for c in fn_outputs)]))
        scope = self

        @self.handler
        def relabel_tab(ctx, *values):
            updates = scope.relabel(ctx.locale)
            position = 0
            for fn, fn_inputs, _outputs in listeners:
                merge_updates(updates, scope.call_loader(fn, ctx, *values[position:position + len(fn_inputs)]))
                position += len(fn_inputs)
            return updates

        # The page's language switch writes the language state; every opened part follows it.
        self.locale.change(relabel_tab, inputs, outputs, show_progress="hidden")


def lazy_tab(ui: UI, tab: gr.Tab, build: Callable[[UI], Any]) -> None:
    """Build `build(scope)` inside `tab` the first time the tab is opened in a session (see the
    module docstring). Call it inside the `with tab:` block."""
    # Opening the tab sets the flag in the browser (no request).
    opened = gr.Checkbox(False, visible=False)
    tab.select(None, None, [opened], js="() => true", queue=False, show_progress="hidden")
    lazy_render(ui, build, opened)


def lazy_render(ui: UI, build: Callable[..., Any], opened: gr.Checkbox, inputs: list | None = None) -> None:
    """Build `build(scope, *values of inputs)` in the current container the first time `opened`
    (a hidden checkbox) turns True in a session: only its first change, from False to True,
    triggers the render, so the part is built once and keeps what it shows."""

    @gr.render(inputs=[ui.locale, *(inputs or [])], triggers=[opened.change], show_progress="hidden")
    def body(locale, *values):
        # The render's function gets no gr.Request parameter; Gradio keeps the request of the
        # event being processed in its LocalContext, which the caller rule (UI.caller) reads.
        ctx = ui.caller(LocalContext.request.get(None), locale)
        scope = TabScope(ui, ctx)
        build(scope, *values)
        scope.finish(ctx.locale)
        _finish_render(get_blocks_context(), LocalContext.renderable.get(None), ctx.role)


def _finish_render(blocks, renderable, role: str) -> None:
    from .hosted import ROLE_CONTROLS

    fns = [fn for fn in blocks.fns.values() if fn.rendered_in is renderable]
    # The caller is known when the part is built: controls their role cannot use are not shown
    # (the services refuse them anyway; the page-load hides the eager part's the same way).
    for block in blocks.blocks.values():
        action = ROLE_CONTROLS.get(getattr(block, "elem_id", None) or "")
        if block.rendered_in is renderable and action is not None and not allowed(role, action):
            block.visible = False
    for fn in fns:
        if fn.api_visibility == "public":
            fn.api_visibility = "undocumented"  # as in create_demo: plumbing, not an API
    # Gradio infers "interactive" for a component left at None from the page's own events (an
    # event's input is interactive, an output only is not); the browser does not look at the
    # events a render brings, so a radio read by this part's events would stay disabled. Settled
    # here the way Gradio settles it for the page.
    inputs = {block._id for fn in fns for block in fn.inputs}
    outputs = {block._id for fn in fns for block in fn.outputs}
    for block in blocks.blocks.values():
        if block.rendered_in is renderable and getattr(block, "interactive", False) is None:
            if block._id in inputs:
                block.interactive = True
            elif block._id in outputs:
                block.interactive = False


def _set_initial(component, update) -> None:
    """Give a component built in this render the properties an update would set (its config is
    taken from these attributes when the render is sent to the browser)."""
    props = update if isinstance(update, dict) and update.get("__type__") == "update" else {"value": update}
    for prop, value in props.items():
        if prop == "__type__":
            continue
        if prop == "value":
            value = component.postprocess(value)
            if isinstance(value, BaseModel):
                value = value.model_dump()
        elif prop == "choices":  # as the components' constructors normalise them
            value = [tuple(c) if isinstance(c, (tuple, list)) else (str(c), c) for c in value]
        setattr(component, prop, value)
