"""An opened experiment's results (summary, plots, matrix, review, promote, export).

Contract with experiments_tab: build(ui, current) is called inside the Experiments tab's "Results"
inner tab; `current` is a hidden gr.Textbox holding the opened experiment's name ("" when none).
Everything here reacts to `current.change` and to the Refresh button (a running experiment's
results move while it runs).

Parts: experiment_results_summary (table and plot frames), _format (numbers and sentences in the
reader's language), _matrix (matrix and human review), _actions (promote, export)."""
from __future__ import annotations

import gradio as gr

from .common import UI, text
from .experiment_results_actions import Actions
from .experiment_results_matrix import Matrix
from .experiment_results_summary import (
    agreement_markdown, comparisons_markdown, cost_axis_end, cost_frame, cost_numbers, header, latency_frame, latency_numbers,
    pass_rate_colours, pass_rate_frame, pass_rate_numbers, summary_table,
)
from .feedback import reports

LATENCY_BINS = 12


class ResultsView:
    def __init__(self, ui: UI, current):
        self.ui, self.current = ui, current
        en = "en"
        with gr.Column(elem_id="results-view"):
            with gr.Row():
                self.title = gr.Markdown(text("ui_results.none", en), elem_id="results-title")
                self.refresh = ui.tr(gr.Button(text("ui_results.refresh", en), size="sm", scale=0, min_width=120,
                                               elem_id="results-refresh"), value="ui_results.refresh")
            self.status = gr.Markdown("", elem_id="results-status", elem_classes=["pm-status"])
            self.last = gr.State(None)  # the summary drawn last (a label redraws its agreement only)
            with gr.Column(visible=False, elem_id="results-body") as self.body:
                ui.tr(gr.Markdown(text("ui_results.summary_heading", en)), value="ui_results.summary_heading")
                self.summary = gr.Dataframe(interactive=False, wrap=True, elem_id="results-summary")
                self.comparisons = gr.Markdown("", elem_id="results-comparisons")
                self.agreement = gr.Markdown("", elem_id="results-agreement")
                ui.tr(gr.Markdown(text("ui_results.plots_heading", en)), value="ui_results.plots_heading")
                with gr.Row(equal_height=False):
                    self.pass_plot = ui.tr(gr.BarPlot(x="bar", y="percent", color="part", y_lim=[0, 100],
                                                      x_label_angle=-30, sort=None, height=320,
                                                      title=text("ui_results.plot.pass_title", en),
                                                      x_title=" ", y_title="%", color_title=" ",
                                                      scale=3, elem_id="results-plot-pass"),
                                           title="ui_results.plot.pass_title")
                    self.pass_numbers = gr.Dataframe(interactive=False, wrap=True, scale=2,
                                                     elem_id="results-plot-pass-numbers")
                with gr.Row(equal_height=False):
                    self.cost_plot = ui.tr(gr.ScatterPlot(x="cost", y="pass_rate", color="variant", y_lim=[0, 100],
                                                          height=280, title=text("ui_results.plot.cost_title", en),
                                                          x_title=text("ui_results.plot.cost_axis", en),
                                                          y_title=text("ui_results.plot.rate_axis", en),
                                                          scale=3, elem_id="results-plot-cost"),
                                           title="ui_results.plot.cost_title", x_title="ui_results.plot.cost_axis",
                                           y_title="ui_results.plot.rate_axis")
                    self.cost_numbers = gr.Dataframe(interactive=False, wrap=True, scale=2,
                                                     elem_id="results-plot-cost-numbers")
                with gr.Row(equal_height=False):
                    self.latency_plot = ui.tr(gr.LinePlot(x="ms", y="cells", color="variant", height=280,
                                                          title=text("ui_results.plot.latency_title", en),
                                                          x_title=text("ui_results.plot.latency_axis", en),
                                                          y_title=text("ui_results.plot.cells_axis", en),
                                                          scale=3, elem_id="results-plot-latency"),
                                              title="ui_results.plot.latency_title",
                                              x_title="ui_results.plot.latency_axis", y_title="ui_results.plot.cells_axis")
                    self.latency_numbers = gr.Dataframe(interactive=False, wrap=True, scale=2,
                                                        elem_id="results-plot-latency-numbers")
                self.matrix = Matrix(ui, current, self.status)
                self.actions = Actions(ui, current, self.status)

    @property
    def summary_outputs(self) -> list:
        return [self.last, self.title, self.body, self.summary, self.comparisons, self.agreement, self.pass_plot,
                self.pass_numbers, self.cost_plot, self.cost_numbers, self.latency_plot, self.latency_numbers,
                self.matrix.agreement, self.actions.variant, self.actions.confirm, self.actions.promoted]

    def summary_updates(self, ctx, name: str) -> dict:
        loc, services = ctx.locale, self.ui.services
        summary = services.results.show(ctx, name)
        histogram = services.review.latency_histogram(ctx, name, LATENCY_BINS)
        agreement = agreement_markdown(summary, loc)
        cost = cost_frame(summary, loc)
        return {
            self.last: summary, self.title: header(summary, loc), self.body: gr.update(visible=True),
            self.summary: summary_table(summary, loc), self.comparisons: comparisons_markdown(summary, loc),
            self.agreement: agreement,
            self.pass_plot: gr.update(value=pass_rate_frame(summary, loc), color_map=pass_rate_colours(loc)),
            self.pass_numbers: pass_rate_numbers(summary, loc),
            self.cost_plot: gr.update(value=cost, x_lim=[0, cost_axis_end(cost)]), self.cost_numbers: cost_numbers(summary, loc),
            self.latency_plot: latency_frame(summary, histogram), self.latency_numbers: latency_numbers(summary, loc),
            self.matrix.agreement: agreement, **self.actions.load_updates(ctx, summary),
        }

    def wire(self) -> None:
        ui, locale, current, status = self.ui, self.ui.locale, self.current, self.status
        quiet = {"show_progress_on": [status]}

        def hidden(ctx) -> dict:
            return {self.last: None, self.title: text("ui_results.none", ctx.locale), self.body: gr.update(visible=False)}

        def summary_or_nothing(ctx, name) -> dict:
            name = (name or "").strip()
            return self.summary_updates(ctx, name) if name else hidden(ctx)

        @ui.handler
        @reports(status, on_error=lambda ctx, name: hidden(ctx))
        def load(ctx, name):
            return summary_or_nothing(ctx, name)

        @ui.handler
        @reports(status, on_error=lambda ctx, name: hidden(ctx))
        def opened(ctx, name):
            """A newly opened experiment: its summary, and no cell of the previous one left open."""
            return {**summary_or_nothing(ctx, name), **self.matrix.closed()}

        def after_label(ctx, summary: dict) -> dict:
            updates = {self.agreement: agreement_markdown(summary, ctx.locale)}
            if "cells" in summary:  # a full summary (not only variant names): its numbers with the new kappa
                updates[self.pass_numbers] = pass_rate_numbers(summary, ctx.locale)
            return updates

        self.matrix.after_label = after_label
        self.matrix.after_label_outputs = [self.agreement, self.pass_numbers]
        self.matrix.summary_state = self.last
        self.matrix.wire()
        self.actions.wire()
        outputs = self.summary_outputs + [status]
        matrix = self.matrix
        page_outputs = matrix.page_outputs + [status]
        current.change(opened, [locale, current], outputs + [matrix.detail, matrix.cell_id], **quiet).then(
            matrix.show_page, matrix.page_inputs, page_outputs, **quiet)
        self.refresh.click(load, [locale, current], outputs, **quiet).then(
            matrix.show_page, matrix.page_inputs, page_outputs, **quiet)
        # Texts handlers wrote follow a language switch (the page's own labels follow ui.tr).
        ui.on_locale_change(load, [current], outputs)
        ui.on_locale_change(matrix.show_page, matrix.page_inputs[1:], page_outputs)


def build(ui: UI, current) -> ResultsView:
    """The results view of the experiment named by `current` (see the module docstring)."""
    view = ResultsView(ui, current)
    view.wire()
    return view
