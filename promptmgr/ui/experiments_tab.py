"""The Experiments tab: inner tabs for the list of experiments, datasets, a new experiment, the
running view and an opened experiment's results (experiment_results_view.py).

`current` (hidden) holds the opened experiment's name: opening one from the list, starting a run
or a page reload re-attaching to a run sets it; the Running and Results views follow it."""
from __future__ import annotations

import gradio as gr

from . import experiment_results_view, experiments_datasets, experiments_new, experiments_running
from .common import UI, text
from .experiments_view import LIST_HEADERS, list_table
from .feedback import Stop, reports

LIST_LIMIT = 200  # experiments shown (newest first); each costs a few small queries for its progress


class Opener:
    """Updates that open an experiment in one of the inner tabs (sets `current`, selects the tab)."""

    def __init__(self, current: gr.Textbox, tabs: gr.Tabs, tab_id: str):
        self.current, self.tabs, self.tab_id = current, tabs, tab_id
        self.outputs = [current, tabs]

    def __call__(self, name: str) -> dict:
        return {self.current: name, self.tabs: gr.Tabs(selected=self.tab_id)}


def build(ui: UI) -> None:
    en = "en"
    current = gr.Textbox("", visible=False, elem_id="exp-current")
    with gr.Tabs(elem_id="exp-tabs") as tabs:
        with ui.tr(gr.Tab(text("ui_experiments.tab_list", en), id="exp-list", elem_id="exp-tab-list"),
                   label="ui_experiments.tab_list") as list_tab:
            listing = _build_list(ui, current, tabs)
        with ui.tr(gr.Tab(text("ui_experiments.tab_datasets", en), id="exp-datasets", elem_id="exp-tab-datasets"),
                   label="ui_experiments.tab_datasets"):
            datasets = experiments_datasets.build(ui)
        with ui.tr(gr.Tab(text("ui_experiments.tab_new", en), id="exp-new", elem_id="exp-tab-new"),
                   label="ui_experiments.tab_new"):
            experiments_new.build(ui, datasets.changed, Opener(current, tabs, "exp-running"))
        with ui.tr(gr.Tab(text("ui_experiments.tab_running", en), id="exp-running", elem_id="exp-tab-running"),
                   label="ui_experiments.tab_running"):
            experiments_running.build(ui, current)
        with ui.tr(gr.Tab(text("ui_experiments.tab_results", en), id="exp-results", elem_id="exp-tab-results"),
                   label="ui_experiments.tab_results"):
            experiment_results_view.build(ui, current)
    list_tab.select(listing, [ui.locale, listing.pick], listing.outputs, show_progress="hidden")


def _build_list(ui: UI, current: gr.Textbox, tabs: gr.Tabs):
    services, en = ui.services, "en"
    table = ui.tr(gr.Dataframe(value=list_table(en, []), interactive=False, wrap=True, elem_id="exp-list-table"),
                  headers=",".join(f"ui_experiments.col_{h}" for h in LIST_HEADERS))
    with gr.Row():
        pick = ui.tr(gr.Dropdown(label=text("ui_experiments.list_pick", en), choices=[], value=None, scale=3,
                                 elem_id="exp-list-pick"), label="ui_experiments.list_pick")
        open_button = ui.tr(gr.Button(text("ui_experiments.open", en), variant="primary", scale=1,
                                      elem_id="exp-list-open"), value="ui_experiments.open")
        refresh = ui.tr(gr.Button(text("ui_experiments.refresh", en), size="sm", scale=1, elem_id="exp-list-refresh"),
                        value="ui_experiments.refresh")
    status = gr.Markdown("", elem_id="exp-list-status", elem_classes=["pm-status"])
    opener = Opener(current, tabs, "exp-results")

    @ui.handler
    @reports(status)
    def load(ctx, chosen):
        found = services.experiments.list(ctx)[:LIST_LIMIT]
        rows = [(e, services.experiment_runs.progress(ctx, e.name)) for e in found]
        names = [e.name for e in found]
        return {table: list_table(ctx.locale, rows),
                pick: gr.update(choices=names, value=chosen if chosen in names else None)}

    @ui.handler
    def clicked(ctx, evt: gr.SelectData):
        row = evt.row_value or []
        return {pick: row[0]} if row else {}

    @ui.handler
    @reports(status)
    def open_one(ctx, name):
        if not name:
            raise Stop("ui_experiments.pick_experiment")
        services.experiments.get(ctx, name)  # it still exists
        return opener(name)

    outputs = [table, pick, status]
    ui.on_load(load, [pick], outputs)
    ui.on_locale_change(load, [pick], outputs)
    refresh.click(load, [ui.locale, pick], outputs, show_progress_on=[status])
    table.select(clicked, [ui.locale], [pick], show_progress="hidden")
    open_button.click(open_one, [ui.locale, pick], [*opener.outputs, status], show_progress_on=[status])
    load.pick, load.outputs = pick, outputs
    return load
