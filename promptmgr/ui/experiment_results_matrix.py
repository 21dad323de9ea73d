"""The matrix (rows x variants, a page at a time, coloured by verdict) and human review: a clicked
cell opens in full (rendered input, output, each check's verdict and reason, tokens, cost, latency);
Pass / Fail label it (with the comment) and move on to the next cell, so a reviewer can go through
a page with the keyboard alone: Tab reaches the buttons, Enter presses them, and focus stays on
the button after each label. Judge agreement (kappa and the number of labels) is redrawn after each
label, beside the review controls."""
from __future__ import annotations

from typing import Callable

import gradio as gr
import pandas as pd

from .common import UI, text
from .experiment_results_format import DASH, money, ms, num
from .experiment_results_summary import agreement_markdown, tags
from .feedback import Stop, reports

PAGE_SIZE = 20
PREVIEW = 120
FILTERS = ("all", "disagree", "failures", "errors")
COLOURS = {"pass": "background-color: #e8f5e9", "fail": "background-color: #ffebee",
           "error": "background-color: #fff8e1", "pending": ""}
# Symbols every system font has (headless browsers and many desktops lack colour emoji).
MARKS = {"pass": "✓", "fail": "✗", "error": "⚠", "pending": "…"}


def _state(cell: dict | None) -> str:
    if cell is None or cell["status"] in ("pending", "running"):
        return "pending"
    if cell["status"] == "error":
        return "error"
    return "pass" if cell["pass"] else "fail"


def _vars_text(values: dict) -> str:
    joined = ", ".join(f"{k}={v}" for k, v in (values or {}).items())
    return joined if len(joined) <= PREVIEW else joined[:PREVIEW] + "…"


def matrix_view(page: dict, locale: str):
    """(Styler for the Dataframe, grid of cell ids by [line][variant], the flat review order)."""
    names = tags({"variants": [{"name": name} for name in page["variants"]]})
    columns = [text("ui_results.columns.row", locale), text("ui_results.columns.inputs", locale)]
    columns += [f"{names[name]} · {name}" for name in page["variants"]]
    rows, styles, grid, order = [], [], [], []
    for line in page["lines"]:
        row = [str(line["row"]) + (f" ↻{line['repeat'] + 1}" if line["repeat"] else ""), _vars_text(line["vars"])]
        style, ids = ["", ""], []
        for name in page["variants"]:
            cell = line["cells"].get(name)
            state = _state(cell)
            output = " ".join((cell or {}).get("output", "").split())
            human = "" if cell is None or cell["human"] is None else (" · ✎" + MARKS["pass" if cell["human"] else "fail"])
            row.append(f"{MARKS[state]} {output[:PREVIEW]}{human}")
            style.append(COLOURS[state])
            ids.append(None if cell is None else cell["id"])
            if cell is not None and state != "pending":
                order.append(cell["id"])
        rows.append(row)
        styles.append(style)
        grid.append(ids)
    frame = pd.DataFrame(rows, columns=columns)
    css = pd.DataFrame(styles, columns=columns) if styles else pd.DataFrame(columns=columns)
    return frame.style.apply(lambda _frame: css, axis=None), grid, order


def cell_markdown(cell: dict, locale: str) -> str:
    verdict = text(f"ui_results.verdict.{_state({**cell, 'pass': cell['pass']})}", locale)
    lines = [text("ui_results.cell.title", locale, variant=cell["variant"], row=cell["row"], repeat=cell["repeat"] + 1,
                  verdict=verdict),
             text("ui_results.cell.stats", locale, prompt=num(cell["prompt_tokens"], locale, "#,##0"),
                  completion=num(cell["completion_tokens"], locale, "#,##0"), cost=money(cell["cost"], locale),
                  latency=ms(cell["latency_ms"], locale),
                  cached=text("ui.common.yes" if cell["cached"] else "ui.common.no", locale))]
    if cell.get("expected"):
        lines.append(text("ui_results.cell.expected", locale, expected=str(cell["expected"])[:500]))
    if cell.get("error_key") or cell.get("error_code"):
        lines.append(text("ui_results.cell.error", locale, code=cell.get("error_code") or DASH))
    human = cell.get("human")
    lines.append(text("ui_results.cell.unlabelled", locale) if human is None else text(
        "ui_results.cell.labelled", locale, verdict=text(f"ui_results.verdict.{'pass' if human['pass'] else 'fail'}", locale),
        by=human.get("by") or DASH, comment=human.get("comment") or DASH))
    return "\n\n".join(lines)


def checks_frame(cell: dict, locale: str) -> pd.DataFrame:
    rows = []
    for item in cell["checks"]:
        state = "error" if item.get("error") or item["pass"] is None else ("pass" if item["pass"] else "fail")
        rows.append([item["check"], MARKS[state] + " " + text(f"ui_results.verdict.{state}", locale),
                     num(item["score"], locale, "0.00"), item["reason"] or DASH])
    return pd.DataFrame(rows, columns=[text(f"ui_results.columns.{c}", locale) for c in ("check", "verdict", "check_score",
                                                                                          "reason")])


class Matrix:
    def __init__(self, ui: UI, current, status):
        self.ui, self.current, self.status = ui, current, status
        # What else shows judge agreement (the view's summary) and the last summary it was drawn
        # from (a gr.State): set before wire().
        self.after_label: Callable[[object, dict], dict] | None = None
        self.after_label_outputs: list = []
        self.summary_state = None
        en = "en"
        ui.tr(gr.Markdown(text("ui_results.matrix_heading", en)), value="ui_results.matrix_heading")
        with gr.Row():
            self.filter = ui.tr(gr.Radio([(text(f"ui_results.filter.{f}", en), f) for f in FILTERS], value="all",
                                         label=text("ui_results.filter.label", en), elem_id="results-filter"),
                                label="ui_results.filter.label",
                                choices=",".join(f"ui_results.filter.{f}={f}" for f in FILTERS))
            self.previous_page = ui.tr(gr.Button(text("ui_results.previous_page", en), size="sm",
                                                 elem_id="results-page-previous"), value="ui_results.previous_page")
            self.page_info = gr.Markdown("", elem_id="results-page-info")
            self.next_page = ui.tr(gr.Button(text("ui_results.next_page", en), size="sm", elem_id="results-page-next"),
                                   value="ui_results.next_page")
        self.matrix = gr.Dataframe(interactive=False, wrap=True, max_height=520, elem_id="results-matrix")
        self.page = gr.State(1)
        self.pages = gr.State(1)
        self.grid = gr.State([])
        self.order = gr.State([])
        self.cell_id = gr.State(None)
        with gr.Column(visible=False, elem_id="results-cell") as self.detail:
            self.cell_info = gr.Markdown("", elem_id="results-cell-info")
            with gr.Row():
                self.cell_input = ui.tr(gr.Textbox(label=text("ui_results.cell.input", en), lines=5, max_lines=16,
                                                   interactive=False, buttons=["copy"], elem_id="results-cell-input"),
                                        label="ui_results.cell.input")
                self.cell_output = ui.tr(gr.Textbox(label=text("ui_results.cell.output", en), lines=5, max_lines=16,
                                                    interactive=False, buttons=["copy"], elem_id="results-cell-output"),
                                         label="ui_results.cell.output")
            self.cell_checks = gr.Dataframe(interactive=False, wrap=True, elem_id="results-cell-checks")
            ui.tr(gr.Markdown(text("ui_results.review.help", en)), value="ui_results.review.help")
            with gr.Row():
                with gr.Column(scale=2):
                    self.comment = ui.tr(gr.Textbox(label=text("ui_results.review.comment", en), lines=1,
                                                    max_length=2000, elem_id="results-comment"),
                                         label="ui_results.review.comment")
                    with gr.Row():
                        self.previous = ui.tr(gr.Button(text("ui_results.review.previous", en),
                                                        elem_id="results-previous"), value="ui_results.review.previous")
                        self.label_pass = ui.tr(gr.Button(text("ui_results.review.pass", en), variant="primary",
                                                          elem_id="results-label-pass"), value="ui_results.review.pass")
                        self.label_fail = ui.tr(gr.Button(text("ui_results.review.fail", en), variant="stop",
                                                          elem_id="results-label-fail"), value="ui_results.review.fail")
                        self.next = ui.tr(gr.Button(text("ui_results.review.next", en), elem_id="results-next"),
                                          value="ui_results.review.next")
                with gr.Column(scale=1):
                    self.agreement = gr.Markdown("", elem_id="results-review-agreement")

    @property
    def page_outputs(self) -> list:
        return [self.matrix, self.page, self.pages, self.grid, self.order, self.page_info]

    @property
    def cell_outputs(self) -> list:
        return [self.detail, self.cell_id, self.cell_info, self.cell_input, self.cell_output, self.cell_checks,
                self.comment]

    def page_updates(self, ctx, name: str, filter: str, page: int) -> dict:
        found = self.ui.services.review.matrix(ctx, name, filter if filter in FILTERS else "all", max(1, int(page or 1)),
                                               PAGE_SIZE)
        styled, grid, order = matrix_view(found, ctx.locale)
        info = text("ui_results.page_info", ctx.locale, page=found["page"], pages=found["pages"],
                    total=num(found["total"], ctx.locale, "#,##0"))
        return {self.matrix: styled, self.page: found["page"], self.pages: found["pages"], self.grid: grid,
                self.order: order, self.page_info: info}

    def cell_updates(self, ctx, name: str, cell_id: int) -> dict:
        cell = self.ui.services.review.cell(ctx, name, int(cell_id))
        return {self.detail: gr.update(visible=True), self.cell_id: cell["id"],
                self.cell_info: cell_markdown(cell, ctx.locale), self.cell_input: cell["input"],
                self.cell_output: cell["output"], self.cell_checks: checks_frame(cell, ctx.locale),
                self.comment: (cell["human"] or {}).get("comment", "")}

    def closed(self) -> dict:
        return {self.detail: gr.update(visible=False), self.cell_id: None}

    def agreement_update(self, ctx, name: str, last: dict | None) -> dict:
        """Agreement after a label: only labelled cells are read (the full statistics of a large
        experiment take seconds); the rest of the summary is the one last drawn."""
        found = self.ui.services.review.agreement(ctx, name)
        base = last if isinstance(last, dict) and last.get("name") == name else {
            "name": name, "variants": [{"name": n} for n in found["variants"]]}
        summary = {**base, "agreement": found["agreement"]}
        updates = {self.agreement: agreement_markdown(summary, ctx.locale)}
        if self.after_label is not None:
            updates.update(self.after_label(ctx, summary))
        return updates

    def wire(self) -> None:
        ui, locale, status = self.ui, self.ui.locale, self.status
        page_inputs = [locale, self.current, self.filter, self.page]
        quiet = {"show_progress_on": [status]}

        @ui.handler
        @reports(status, clear=False)
        def show_page(ctx, name, filter, page):
            if not name:
                return {}
            return self.page_updates(ctx, name, filter, page)

        def turn(step: int):
            @ui.handler
            @reports(status)
            def turn_page(ctx, name, filter, page, pages):
                if not name:
                    return {}
                return self.page_updates(ctx, name, filter, min(max(1, int(page or 1) + step), int(pages or 1)))
            return turn_page

        @ui.handler
        @reports(status)
        def filtered(ctx, name, filter):
            if not name:
                return {}
            return {**self.page_updates(ctx, name, filter, 1), **self.closed()}

        @ui.handler
        @reports(status)
        def open_cell(ctx, name, grid, last, evt: gr.SelectData):
            row, column = (evt.index or [None, None])[:2]
            if not name or row is None or column is None or column < 2 or row >= len(grid or []):
                return {}
            cell_id = (grid[row] or [])[column - 2] if column - 2 < len(grid[row] or []) else None
            if cell_id is None:
                raise Stop("ui_results.review.not_finished")
            return {**self.cell_updates(ctx, name, cell_id), **self.agreement_update(ctx, name, last)}

        def move(ctx, name, filter, page, pages, cell_id, order, step: int) -> dict:
            """Open the cell `step` places away in the page's order, turning the page at its ends."""
            order = list(order or [])
            at = order.index(cell_id) if cell_id in order else -1
            target = at + step
            if 0 <= target < len(order):
                return self.cell_updates(ctx, name, order[target])
            next_page = int(page or 1) + (1 if step > 0 else -1)
            if not 1 <= next_page <= int(pages or 1):
                raise Stop("ui_results.review.last" if step > 0 else "ui_results.review.first")
            updates = self.page_updates(ctx, name, filter, next_page)
            new_order = updates[self.order]
            if not new_order:
                raise Stop("ui_results.review.last" if step > 0 else "ui_results.review.first")
            return {**updates, **self.cell_updates(ctx, name, new_order[0 if step > 0 else -1])}

        def navigate(step: int):
            @ui.handler
            @reports(status)
            def go(ctx, name, filter, page, pages, cell_id, order):
                if not name:
                    return {}
                return move(ctx, name, filter, page, pages, cell_id, order, step)
            return go

        def label(passed: bool):
            @ui.handler
            @reports(status)
            def mark(ctx, name, filter, page, pages, cell_id, order, comment, last):
                if not name or cell_id is None:
                    raise Stop("ui_results.review.no_cell")
                ui.services.results.label(ctx, name, int(cell_id), passed, comment=(comment or "").strip() or None)
                gr.Info(text("ui_results.review.saved", ctx.locale,
                             verdict=text(f"ui_results.verdict.{'pass' if passed else 'fail'}", ctx.locale)))
                updates = {**self.page_updates(ctx, name, filter, page), **self.agreement_update(ctx, name, last)}
                try:
                    updates.update(move(ctx, name, filter, page, pages, cell_id, order, +1))
                except Stop:  # the last cell: it stays open, showing its new label
                    updates.update(self.cell_updates(ctx, name, cell_id))
                return updates
            return mark

        nav_inputs = [locale, self.current, self.filter, self.page, self.pages, self.cell_id, self.order]
        every = self.page_outputs + self.cell_outputs + [status]
        self.filter.input(filtered, [locale, self.current, self.filter], every, **quiet)
        self.previous_page.click(turn(-1), [locale, self.current, self.filter, self.page, self.pages],
                                 self.page_outputs + [status], **quiet)
        self.next_page.click(turn(+1), [locale, self.current, self.filter, self.page, self.pages],
                             self.page_outputs + [status], **quiet)
        agreement = [self.agreement, *self.after_label_outputs]
        self.matrix.select(open_cell, [locale, self.current, self.grid, self.summary_state],
                           self.cell_outputs + agreement + [status],
                           **quiet)
        self.previous.click(navigate(-1), nav_inputs, every, **quiet)
        self.next.click(navigate(+1), nav_inputs, every, **quiet)
        label_inputs = nav_inputs + [self.comment, self.summary_state]
        self.label_pass.click(label(True), label_inputs, every + agreement, **quiet)
        self.label_fail.click(label(False), label_inputs, every + agreement, **quiet)
        self.show_page = show_page
        self.page_inputs = page_inputs
