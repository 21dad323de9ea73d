"""The Library tab: a server-side paginated table (never more than one page is loaded, so it stays
fast with 100,000 prompts), full-text search with combinable filters and sort, the editor, and
import/export.

The page arrives with the search, the filters and the table only: the editor is built when a row
is first clicked (or New prompt), already showing that prompt, and the import/export panel when
first opened (lazy.lazy_render)."""
from __future__ import annotations

import gradio as gr

from ..schemas import SORTS, PromptQuery, parse
from ..context import TenantContext
from .common import UI, choices, text
from .lazy import lazy_render
from .library_editor import Editor
from .library_transfer import Transfer

PAGE_SIZE = 25
_COLUMNS = ("name", "title", "category", "version", "updated")
_MAX_FILTER_CHOICES = 500
class Browser:
    """Search, filters, sort, the table and the pager."""

    def __init__(self, ui: UI):
        self.ui = ui
        self.offset = gr.State(0)
        # The category and tag names, for the editor's suggestions (it is built later, and follows
        # this state's changes).
        self.suggestions = gr.State(None)
        with gr.Row(equal_height=True):
            self.search = ui.tr(gr.Textbox(scale=5, show_label=False, placeholder=text("ui.library.search_placeholder"),
                                           elem_id="pm-search", max_length=500, container=False),
                                placeholder="ui.library.search_placeholder")
            self.new = ui.tr(gr.Button(text("ui.library.editor.new"), variant="primary", scale=1, min_width=160,
                                       elem_id="pm-new"), value="ui.library.editor.new")
        with gr.Row():
            self.category = ui.tr(gr.Dropdown([(text("ui.library.filters.any_category"), "")], value="",
                                              label=text("ui.library.filters.category"), elem_id="pm-filter-category",
                                              min_width=120),
                                  label="ui.library.filters.category")
            self.tag = ui.tr(gr.Dropdown([(text("ui.library.filters.any_tag"), "")], value="",
                                         label=text("ui.library.filters.tag"), elem_id="pm-filter-tag", min_width=120),
                             label="ui.library.filters.tag")
            self.kind = ui.tr(gr.Dropdown(
                choices("en", [("ui.library.filters.any", "any"), ("ui.library.kind.text", "text"),
                               ("ui.library.kind.chat", "chat")]),
                value="any", label=text("ui.library.filters.kind"), elem_id="pm-filter-kind", min_width=100),
                label="ui.library.filters.kind",
                choices="ui.library.filters.any=any,ui.library.kind.text=text,ui.library.kind.chat=chat")
        with gr.Row():
            self.visibility = ui.tr(gr.Dropdown(
                choices("en", [("ui.library.filters.any", "any"), ("ui.library.visibility.private", "private"),
                               ("ui.library.visibility.public", "public")]),
                value="any", label=text("ui.library.filters.visibility"), elem_id="pm-filter-visibility",
                min_width=100),
                label="ui.library.filters.visibility",
                choices="ui.library.filters.any=any,ui.library.visibility.private=private,"
                        "ui.library.visibility.public=public")
            self.enhancement = ui.tr(gr.Dropdown(
                choices("en", [("ui.library.filters.any", "any"), ("ui.library.filters.enhancers", "yes"),
                               ("ui.library.filters.not_enhancers", "no")]),
                value="any", label=text("ui.library.filters.enhancement"), elem_id="pm-filter-enhancement",
                min_width=100),
                label="ui.library.filters.enhancement",
                choices="ui.library.filters.any=any,ui.library.filters.enhancers=yes,"
                        "ui.library.filters.not_enhancers=no")
            self.sort = ui.tr(gr.Dropdown(choices("en", [(f"ui.library.sort.{s}", s) for s in SORTS]),
                                          value="relevance", label=text("ui.library.filters.sort"), min_width=100,
                                          elem_id="pm-sort"),
                              label="ui.library.filters.sort",
                              choices=",".join(f"ui.library.sort.{s}={s}" for s in SORTS))
        # Cells wrap: with the editor open the table has half the page, and cut names and dates
        # could not be read (or told apart).
        self.table = gr.Dataframe(headers=self._headers("en"), interactive=False, max_height=640, wrap=True,
                                  column_widths=["30%", "31%", "17%", "7%", "15%"],
                                  datatype=["str", "str", "str", "number", "str"],
                                  show_label=False, elem_id="pm-table")
        with gr.Row(equal_height=True, elem_id="pm-pager"):
            self.prev = ui.tr(gr.Button(text("ui.library.pager.prev"), size="sm", interactive=False, scale=0,
                                        min_width=90, elem_id="pm-prev"), value="ui.library.pager.prev")
            self.info = gr.Markdown(elem_id="pm-page-info")
            self.next = ui.tr(gr.Button(text("ui.library.pager.next"), size="sm", interactive=False, scale=0,
                                        min_width=90, elem_id="pm-next"), value="ui.library.pager.next")

    @property
    def query_inputs(self) -> list:
        return [self.search, self.category, self.tag, self.visibility, self.enhancement, self.kind, self.sort]

    @property
    def page_outputs(self) -> list:
        return [self.table, self.info, self.offset, self.prev, self.next]

    @property
    def filter_outputs(self) -> list:
        return [self.category, self.tag, self.suggestions]

    @staticmethod
    def _headers(locale: str) -> list[str]:
        return [text(f"ui.library.columns.{c}", locale) for c in _COLUMNS]

    def page(self, ctx: TenantContext, q, category, tag, visibility, enhancement, kind, sort, offset) -> dict:
        """One page of the table for the current search, filters and sort."""
        locale = ctx.locale
        query = parse(PromptQuery, {
            "q": (q or "").strip() or None, "category": category or None, "tag": tag or None,
            "visibility": None if visibility in (None, "any") else visibility,
            "is_enhancement": {"yes": True, "no": False}.get(enhancement),
            "kind": None if kind in (None, "any") else kind,
            "sort": sort or "relevance", "limit": PAGE_SIZE, "offset": max(0, int(offset or 0)),
        })
        library = self.ui.services.library
        result = library.list(ctx, query)
        if not result.items and result.total and query.offset:
            # The page emptied (deletions, a narrower search): show the last page that has rows.
            query = query.model_copy(update={"offset": (result.total - 1) // PAGE_SIZE * PAGE_SIZE})
            result = library.list(ctx, query)
        rows = [[p.name, p.title, p.category, p.latest_version, p.updated_at.strftime("%Y-%m-%d")]
                for p in result.items]
        if result.total:
            info = text("ui.library.pager.range", locale, start=query.offset + 1,
                        end=query.offset + len(result.items), total=result.total)
        else:
            info = text("ui.library.pager.empty", locale)
        return {
            self.table: {"data": rows, "headers": self._headers(locale)}, self.info: info, self.offset: query.offset,
            self.prev: gr.update(interactive=query.offset > 0),
            self.next: gr.update(interactive=query.offset + PAGE_SIZE < result.total),
        }

    def wire(self) -> None:
        ui, locale = self.ui, self.ui.locale
        inputs = [locale, *self.query_inputs, self.offset]

        @ui.handler
        def first_page(ctx, *values):
            return self.page(ctx, *values[:-1], 0)

        def step(delta: int):
            @ui.handler
            def turn(ctx, *values):
                return self.page(ctx, *values[:-1], max(0, int(values[-1] or 0) + delta))
            return turn

        self.search.submit(first_page, inputs, self.page_outputs)
        # Search as you type: one query per key is cheap (a page of 25 rows); while one runs, only
        # the newest text waits (always_last), so the table always ends on what was typed last.
        self.search.input(first_page, inputs, self.page_outputs, trigger_mode="always_last", show_progress="hidden")
        for control in (self.category, self.tag, self.visibility, self.enhancement, self.kind, self.sort):
            control.input(first_page, inputs, self.page_outputs)
        self.prev.click(step(-PAGE_SIZE), inputs, self.page_outputs)
        self.next.click(step(PAGE_SIZE), inputs, self.page_outputs)
        same_page = ui.handler(lambda ctx, *values: self.page(ctx, *values))
        ui.on_load(same_page, [*self.query_inputs, self.offset], self.page_outputs, first=True)
        ui.on_locale_change(same_page, [*self.query_inputs, self.offset], self.page_outputs)

    def refresh_after(self, event) -> None:
        """After a change to the library: the same page again, fresh filter choices and suggestions."""
        inputs = [self.ui.locale, *self.query_inputs, self.offset]
        event.success(self.ui.handler(lambda ctx, *values: self.page(ctx, *values)), inputs, self.page_outputs,
                      show_progress="hidden")
        event.success(self.ui.handler(lambda ctx: choice_lists(self.ui, self, ctx)), [self.ui.locale],
                      self.filter_outputs, show_progress="hidden")


def choice_lists(ui: UI, browser: Browser, ctx: TenantContext) -> dict:
    """Category and tag filter choices with their counts, and the same names offered as
    suggestions in the editor (where new ones can still be typed)."""
    locale = ctx.locale
    categories = ui.services.library.categories(ctx)[:_MAX_FILTER_CHOICES]
    tags = ui.services.library.tags(ctx)[:_MAX_FILTER_CHOICES]
    return {
        browser.category: gr.update(choices=[(text("ui.library.filters.any_category", locale), "")]
                                    + [(f"{c.name} ({c.count})", c.name) for c in categories]),
        browser.tag: gr.update(choices=[(text("ui.library.filters.any_tag", locale), "")]
                               + [(f"{c.name} ({c.count})", c.name) for c in tags]),
        browser.suggestions: {"categories": [c.name for c in categories], "tags": [c.name for c in tags]},
    }


def build(ui: UI) -> dict:
    """The Library tab's components; returns the main ones for other parts of the app."""
    with gr.Row(equal_height=False, elem_id="pm-library"):
        with gr.Column(scale=5, min_width=420):
            browser = Browser(ui)
            transfer = Transfer(ui, browser.refresh_after)
        # Hidden until a prompt is opened or a new one started; built then, the first time.
        with gr.Column(scale=6, min_width=480, visible=False, elem_id="pm-editor") as column:
            opened = gr.Checkbox(False, visible=False)
            first = gr.State(None)  # what the click that builds the editor asked it to open
            lazy_render(ui, lambda scope, target, suggestions: _build_editor(scope, browser, column, target,
                                                                             suggestions),
                        opened, [first, browser.suggestions])
    browser.wire()

    def first_open(target: dict) -> dict:
        return {first: target, opened: True, column: gr.update(visible=True)}

    @ui.handler
    def remember_row(ctx, evt: gr.SelectData):
        chosen = (evt.row_value or [None])[0]
        return first_open({"open": str(chosen)}) if chosen else {}

    # Unqueued: no wait in the queue before the editor starts being built. Once it is built, its
    # own events open what is clicked (these then change nothing that shows).
    browser.table.select(remember_row, [ui.locale], [first, opened, column], queue=False, show_progress="hidden")
    browser.new.click(ui.handler(lambda ctx: first_open({"new": True})), [ui.locale], [first, opened, column],
                      queue=False, show_progress="hidden")
    lists = ui.handler(lambda ctx: choice_lists(ui, browser, ctx))
    ui.on_load(lists, [], browser.filter_outputs)
    ui.on_locale_change(lists, [], browser.filter_outputs)
    return {"browser": browser, "transfer": transfer}


def _build_editor(ui: UI, browser: Browser, column: gr.Column, target: dict | None, suggestions: dict | None) -> None:
    """The editor, built in its column when first needed, showing `target` (lazy.lazy_render)."""
    editor = Editor(ui, column)

    @ui.handler
    def open_prompt(ctx, model, loaded, name, title, description, category, tags, enhancement, visibility, kind,
                    content, messages, message, evt: gr.SelectData):
        chosen = (evt.row_value or [None])[0]
        if not chosen:
            return {}
        return editor.request(ctx, {"open": str(chosen)}, model, loaded, name, title, description, category, tags,
                              enhancement, visibility, kind, content, messages, message)

    browser.table.select(open_prompt, [ui.locale, editor.model, *editor.draft], editor.outputs,
                         show_progress_on=[editor.status])
    editor.wire(browser.refresh_after, browser.new, browser.suggestions)
    if suggestions is None:  # the page's loaders have not answered yet
        suggestions = choice_lists(ui, browser, ui.ctx)[browser.suggestions]
    ui.initial(editor.first_view(ui.ctx, target or {"new": True}, suggestions))
