"""The Experiments tab's Datasets: upload a file (CSV, JSONL, JSON, YAML; its size is bounded by
PROMPTMGR_MAX_UPLOAD_MB at the server and by the import's limits), browse rows a page at a time,
edit a row or add one (each save is a new version: versions never change), download a version,
delete with a confirmation."""
from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import gradio as gr

from ..errors import ValidationError
from .common import UI, status_line, text
from .experiments_view import rows_table
from .feedback import Stop, reports
from .library_transfer import EXPORT_TTL_SECONDS, private_export_folder, remove_later

PAGE_ROWS = 20
FILE_TYPES = [".csv", ".jsonl", ".ndjson", ".json", ".yaml", ".yml"]
DS_HEADERS = ("ds_name", "ds_version", "ds_rows", "ds_columns", "ds_updated")


def _tr_button(ui: UI, key: str, **kw) -> gr.Button:
    return ui.tr(gr.Button(text(key), **kw), value=key)


def dataset_table(locale: str, datasets) -> dict:
    data = [[d.name, f"v{d.version}", str(d.row_count), ", ".join(d.columns)[:200],
             d.updated_at.strftime("%Y-%m-%d %H:%M")] for d in datasets]
    return {"headers": [text(f"ui_experiments.col_{h}", locale) for h in DS_HEADERS], "data": data}


def suggested_name(path: str) -> str:
    """A dataset name from a file name: lower case, the allowed characters only."""
    stem = re.sub(r"[^a-z0-9._-]+", "-", Path(path).stem.lower()).strip("-._")
    return stem[:80] or "dataset"


def build(ui: UI) -> SimpleNamespace:
    en = "en"
    ui.tr(gr.Markdown(text("ui_experiments.ds_intro", en)), value="ui_experiments.ds_intro")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=260):
            upload = ui.tr(gr.UploadButton(text("ui_experiments.ds_file", en), type="filepath", file_types=FILE_TYPES,
                                           elem_id="exp-ds-upload"), label="ui_experiments.ds_file")
            chosen = gr.State(None)
            chosen_name = gr.Markdown("", elem_id="exp-ds-chosen")
            name = ui.tr(gr.Textbox(label=text("ui_experiments.ds_name", en), elem_id="exp-ds-name", max_length=100),
                         label="ui_experiments.ds_name")
            description = ui.tr(gr.Textbox(label=text("ui_experiments.ds_description", en), elem_id="exp-ds-description",
                                           max_length=2000), label="ui_experiments.ds_description")
            do_import = _tr_button(ui, "ui_experiments.ds_import", variant="primary", elem_id="exp-ds-import")
            status = status_line("exp-ds-status")
        with gr.Column(scale=2):
            table = ui.tr(gr.Dataframe(value=dataset_table(en, []), interactive=False, wrap=True,
                                       elem_id="exp-ds-table"),
                          headers=",".join(f"ui_experiments.col_{h}" for h in DS_HEADERS))
            with gr.Row():
                pick = ui.tr(gr.Dropdown(label=text("ui_experiments.ds_pick", en), choices=[], value=None,
                                         elem_id="exp-ds-pick", scale=3), label="ui_experiments.ds_pick")
                refresh = _tr_button(ui, "ui_experiments.refresh", size="sm", elem_id="exp-ds-refresh", scale=1)
    offset, zero = gr.State(0), gr.State(0)
    with gr.Row():
        prev_page = _tr_button(ui, "ui_experiments.prev", size="sm", elem_id="exp-ds-prev")
        page_info = gr.Markdown("", elem_id="exp-ds-page")
        next_page = _tr_button(ui, "ui_experiments.next", size="sm", elem_id="exp-ds-next")
    rows = ui.tr(gr.Dataframe(value=rows_table(en, []), interactive=False, wrap=True, elem_id="exp-ds-rows"),
                 headers=",".join(f"ui_experiments.col_{h}" for h in ("row_position", "row_id", "row_vars",
                                                                         "row_expected")))
    with ui.tr(gr.Accordion(text("ui_experiments.ds_edit", en), open=False), label="ui_experiments.ds_edit"):
        ui.tr(gr.Markdown(text("ui_experiments.ds_edit_info", en)), value="ui_experiments.ds_edit_info")
        with gr.Row():
            position = ui.tr(gr.Textbox(label=text("ui_experiments.ds_position", en), elem_id="exp-ds-position",
                                        scale=1, max_length=12), label="ui_experiments.ds_position")
            load_row = _tr_button(ui, "ui_experiments.ds_load_row", size="sm", elem_id="exp-ds-load-row", scale=1)
        row_vars = ui.tr(gr.Code(label=text("ui_experiments.ds_vars", en), language="json", value="{}",
                                 elem_id="exp-ds-vars"), label="ui_experiments.ds_vars")
        expected = ui.tr(gr.Textbox(label=text("ui_experiments.ds_expected", en), lines=2, elem_id="exp-ds-expected",
                                    max_length=100_000), label="ui_experiments.ds_expected")
        save_row = _tr_button(ui, "ui_experiments.ds_save_row", elem_id="exp-ds-save-row")
    with gr.Row():
        export = _tr_button(ui, "ui_experiments.ds_download", elem_id="exp-ds-download")
        export_format = gr.Dropdown(choices=["csv", "jsonl", "json", "yaml"], value="csv", show_label=False,
                                    container=False, elem_id="exp-ds-format", scale=0, min_width=100)
        remove = _tr_button(ui, "ui_experiments.ds_delete", variant="stop", elem_id="exp-ds-delete")
    with gr.Row(visible=False, elem_id="exp-ds-confirm") as confirm_row:
        confirm_text = gr.Markdown("")
        confirm = _tr_button(ui, "ui_experiments.ds_confirm_delete", variant="stop", elem_id="exp-ds-confirm-yes")
        keep = _tr_button(ui, "ui_experiments.cancel_button", elem_id="exp-ds-confirm-no")
    download = ui.tr(gr.File(label=text("ui_experiments.ds_file_out", en), interactive=False, height=90,
                             elem_id="exp-ds-file"), label="ui_experiments.ds_file_out")
    services = ui.services

    # --- handlers ------------------------------------------------------------------------
    def listing(ctx, selected) -> dict:
        found = services.datasets.list(ctx)
        names = [d.name for d in found]
        keep_name = selected if selected in names else (names[0] if names else None)
        return {table: dataset_table(ctx.locale, found), pick: gr.update(choices=names, value=keep_name)}

    def page(ctx, dataset, start: int) -> dict:
        if not dataset:
            return {rows: rows_table(ctx.locale, []), page_info: "", offset: 0}
        shown = services.datasets.get(ctx, dataset)
        start = max(0, min(start, max(0, shown.row_count - 1) // PAGE_ROWS * PAGE_ROWS))
        found = list(services.datasets.rows(ctx, dataset, limit=PAGE_ROWS, offset=start))
        info = text("ui_experiments.ds_page", ctx.locale, first=start + 1 if found else 0, last=start + len(found),
                    total=shown.row_count, version=shown.version)
        return {rows: rows_table(ctx.locale, found), page_info: info, offset: start}

    @ui.handler
    @reports(status)
    def load(ctx, selected):
        updates = listing(ctx, selected)
        return {**updates, **page(ctx, updates[pick]["value"], 0)}

    @ui.handler
    def choose(ctx, path, typed):
        if not path:
            return {chosen: None, chosen_name: ""}
        return {chosen: path, chosen_name: text("ui_experiments.ds_chosen", ctx.locale, name=Path(path).name.replace("`", "")),
                name: typed or suggested_name(path)}

    @ui.handler
    @reports(status)
    def add(ctx, path, dataset, about, selected):
        if not path:
            raise Stop("ui_experiments.ds_no_file")
        dataset = (dataset or "").strip()
        if not dataset:
            raise Stop("ui_experiments.ds_no_name")
        made = services.datasets.add(ctx, dataset, path, description=about or None)
        message = text("ui_experiments.ds_added", ctx.locale, name=made.name, version=made.version, rows=made.row_count)
        gr.Info(message)
        updates = listing(ctx, made.name)
        return {**updates, **page(ctx, made.name, 0), status: "✓ " + message, chosen: None, chosen_name: ""}

    @ui.handler
    @reports(status)
    def show_page(ctx, dataset, start):
        return page(ctx, dataset, start)

    def turn(step: int):
        @ui.handler
        @reports(status)
        def go(ctx, dataset, start):
            return page(ctx, dataset, max(0, int(start or 0) + step * PAGE_ROWS))
        return go

    def parse_position(value) -> int | None:
        value = (value or "").strip()
        if not value:
            return None
        if not value.isdigit() or not 1 <= int(value) <= 10**9:
            raise ValidationError("ui_experiments.bad_position", value=value[:20])
        return int(value)

    @ui.handler
    @reports(status)
    def fill_row(ctx, dataset, where):
        number = parse_position(where)
        if not dataset or number is None:
            raise Stop("ui_experiments.ds_pick_row")
        found = list(services.datasets.rows(ctx, dataset, limit=1, offset=number - 1))
        if not found:
            raise Stop("ui_experiments.no_such_row", row=number, rows=services.datasets.get(ctx, dataset).row_count)
        return {row_vars: json.dumps(found[0].vars, ensure_ascii=False, indent=2), expected: found[0].expected or ""}

    @ui.handler
    @reports(status)
    def save(ctx, dataset, where, raw_vars, answer, start):
        if not dataset:
            raise Stop("ui_experiments.ds_pick_first")
        number = parse_position(where)
        try:
            values = json.loads(raw_vars or "")
        except ValueError as exc:
            raise ValidationError("ui_experiments.bad_vars_json", detail=str(exc)[:200]) from None
        if not isinstance(values, dict):
            raise ValidationError("ui_experiments.bad_row_edit")
        row = {"vars": values, "expected": answer or None}
        base = services.datasets.get(ctx, dataset).version
        edits, added = ({number: row}, []) if number is not None else ({}, [row])
        made = services.datasets.edit_rows(ctx, dataset, base_version=base, edits=edits, added=added)
        message = text("ui_experiments.ds_saved", ctx.locale, name=made.name, version=made.version)
        gr.Info(message)
        last = (made.row_count - 1) // PAGE_ROWS * PAGE_ROWS
        return {**listing(ctx, dataset), **page(ctx, dataset, start if number is not None else last),
                status: "✓ " + message}

    @ui.handler
    @reports(status)
    def download_file(ctx, dataset, fmt):
        if not dataset:
            raise Stop("ui_experiments.ds_pick_first")
        fmt = fmt if fmt in ("csv", "jsonl", "json", "yaml") else "csv"
        folder = private_export_folder()
        shown = services.datasets.get(ctx, dataset)
        path = folder / f"{dataset}-v{shown.version}.{fmt}"
        count = services.datasets.export(ctx, dataset, path, format=fmt)
        remove_later(folder, EXPORT_TTL_SECONDS)
        return {download: str(path), status: text("ui_experiments.ds_exported", ctx.locale, rows=count)}

    @ui.handler
    @reports(status)
    def ask_delete(ctx, dataset):
        if not dataset:
            raise Stop("ui_experiments.ds_pick_first")
        return {confirm_row: gr.update(visible=True),
                confirm_text: text("ui_experiments.ds_confirm", ctx.locale, name=dataset)}

    @ui.handler
    @reports(status)
    def delete(ctx, dataset):
        services.datasets.remove(ctx, dataset)
        gr.Info(text("ui_experiments.ds_deleted", ctx.locale, name=dataset))
        updates = listing(ctx, None)
        return {**updates, **page(ctx, updates[pick]["value"], 0), confirm_row: gr.update(visible=False),
                status: "✓ " + text("ui_experiments.ds_deleted", ctx.locale, name=dataset)}

    @ui.handler
    def hide_confirm(ctx):
        return {confirm_row: gr.update(visible=False)}

    # --- wiring --------------------------------------------------------------------------
    loc = ui.locale
    listed = [table, pick, rows, page_info, offset, status]
    ui.on_load(load, [pick], listed)
    ui.on_locale_change(load, [pick], listed)
    upload.upload(choose, [loc, upload, name], [chosen, chosen_name, name], show_progress_on=[chosen_name])
    added = do_import.click(add, [loc, chosen, name, description, pick], [*listed, chosen, chosen_name],
                            show_progress_on=[status])
    refreshed = refresh.click(load, [loc, pick], listed, show_progress_on=[status])
    pick.input(show_page, [loc, pick, zero], [rows, page_info, offset, status],
               show_progress_on=[status])
    prev_page.click(turn(-1), [loc, pick, offset], [rows, page_info, offset, status], show_progress_on=[status])
    next_page.click(turn(1), [loc, pick, offset], [rows, page_info, offset, status], show_progress_on=[status])
    load_row.click(fill_row, [loc, pick, position], [row_vars, expected, status], show_progress_on=[status])
    saved = save_row.click(save, [loc, pick, position, row_vars, expected, offset], listed, show_progress_on=[status])
    export.click(download_file, [loc, pick, export_format], [download, status], show_progress_on=[status])
    remove.click(ask_delete, [loc, pick], [confirm_row, confirm_text, status], show_progress_on=[status])
    deleted = confirm.click(delete, [loc, pick], [*listed, confirm_row], show_progress_on=[status])
    keep.click(hide_confirm, [loc], [confirm_row])
    return SimpleNamespace(changed=[added, refreshed, saved, deleted], pick=pick)
