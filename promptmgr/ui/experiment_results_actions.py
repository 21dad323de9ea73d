"""Promote and Export in the results view.

Promote points a label (production by default) at the prompt version a variant ran. It asks first,
and the question states the evidence: the variant's comparison with the baseline as a sentence.
The move goes through the library's label policy (ExperimentReviewService.promote), so who may move
a protected label is decided there, not here.

Export writes the results (JSON close to promptfoo's output, CSV, JSONL) or the experiment as a
promptfoo config into a private temporary file, streamed chunk by chunk, offered for download."""
from __future__ import annotations

import os
import re
from datetime import datetime, timezone

import gradio as gr

from .common import UI, text
from .experiment_results_format import evidence, winner
from .feedback import Stop, reports
from .library_transfer import EXPORT_TTL_SECONDS, private_export_folder, remove_later

EXPORT_FORMATS = (("JSON", "json"), ("CSV", "csv"), ("JSONL", "jsonl"), ("promptfoo (YAML)", "promptfoo"))
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def write_chunks(path, chunks) -> int:
    """Write text chunks to a new file only its owner can read; returns the characters written."""
    written = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            for chunk in chunks:
                handle.write(chunk)
                written += len(chunk)
    except BaseException:
        os.unlink(path)  # never offer half a file
        raise
    return written


class Actions:
    def __init__(self, ui: UI, current, status):
        self.ui, self.current, self.status = ui, current, status
        en = "en"
        with gr.Row(equal_height=False):
            with gr.Column(elem_id="results-promote-panel"):
                ui.tr(gr.Markdown(text("ui_results.promote.heading", en)), value="ui_results.promote.heading")
                self.variant = ui.tr(gr.Dropdown([], label=text("ui_results.promote.variant", en),
                                                 elem_id="results-promote-variant"), label="ui_results.promote.variant")
                self.label = ui.tr(gr.Textbox("production", label=text("ui_results.promote.label", en), max_length=100,
                                              elem_id="results-promote-label"), label="ui_results.promote.label")
                self.promote = ui.tr(gr.Button(text("ui_results.promote.button", en), elem_id="results-promote"),
                                     value="ui_results.promote.button")
                with gr.Column(visible=False, elem_id="results-promote-confirm") as self.confirm:
                    self.evidence = gr.Markdown("", elem_id="results-promote-evidence")
                    with gr.Row():
                        self.yes = ui.tr(gr.Button(text("ui_results.promote.confirm", en), variant="primary",
                                                   elem_id="results-promote-yes"), value="ui_results.promote.confirm")
                        self.no = ui.tr(gr.Button(text("ui_results.promote.cancel", en), elem_id="results-promote-no"),
                                        value="ui_results.promote.cancel")
                self.promoted = gr.Markdown("", elem_id="results-promoted")
            with gr.Column(elem_id="results-export-panel"):
                ui.tr(gr.Markdown(text("ui_results.export.heading", en)), value="ui_results.export.heading")
                self.format = ui.tr(gr.Radio(list(EXPORT_FORMATS), value="json", label=text("ui_results.export.format", en),
                                             elem_id="results-export-format"), label="ui_results.export.format")
                self.export = ui.tr(gr.Button(text("ui_results.export.button", en), elem_id="results-export"),
                                    value="ui_results.export.button")
                self.download = ui.tr(gr.File(label=text("ui_results.export.download", en), interactive=False,
                                              height=110, elem_id="results-export-file"),
                                      label="ui_results.export.download")

    def load_updates(self, ctx, summary: dict) -> dict:
        """The variant choices with the winner chosen; a closed confirmation."""
        names = [variant["name"] for variant in summary.get("variants", [])]
        best = winner(summary)
        return {self.variant: gr.update(choices=names, value=best if best in names else (names[0] if names else None)),
                self.confirm: gr.update(visible=False), self.promoted: ""}

    def wire(self) -> None:
        ui, locale, status = self.ui, self.ui.locale, self.status
        quiet = {"show_progress_on": [status]}

        @ui.handler
        @reports(status)
        def ask(ctx, name, variant, label):
            if not name:
                raise Stop("ui_results.no_experiment")
            label = (label or "").strip()
            if not variant:
                raise Stop("ui_results.promote.no_variant")
            if not label:
                raise Stop("ui_results.promote.no_label")
            summary = ui.services.results.show(ctx, name)
            if variant not in [v["name"] for v in summary["variants"]]:
                raise Stop("ui_results.promote.no_variant")
            prompt = next(v for v in summary["variants"] if v["name"] == variant)
            question = text("ui_results.promote.question", ctx.locale, label=label, prompt=prompt["prompt"],
                            version=prompt["version"], evidence=evidence(summary, variant, ctx.locale))
            return {self.confirm: gr.update(visible=True), self.evidence: question, self.promoted: ""}

        @ui.handler
        @reports(status)
        def confirm(ctx, name, variant, label):
            moved = ui.services.review.promote(ctx, name, variant, (label or "").strip())
            done = text("ui_results.promote.done", ctx.locale, label=moved["label"], prompt=moved["prompt"],
                        version=moved["version"])
            gr.Info(done)
            return {self.confirm: gr.update(visible=False), self.promoted: done}

        @ui.handler
        def cancel(ctx):
            return {self.confirm: gr.update(visible=False)}

        @ui.handler
        @reports(status)
        def export(ctx, name, fmt, progress=gr.Progress()):
            if not name:
                raise Stop("ui_results.no_experiment")
            fmt = fmt if fmt in {value for _label, value in EXPORT_FORMATS} else "json"
            progress(0.1, desc=text("ui_results.export.working", ctx.locale))
            if fmt == "promptfoo":
                from ..evaluation.promptfoo_export import dump_config

                chunks, suffix = [dump_config(ui.services.results.export_promptfoo(ctx, name))], "promptfooconfig.yaml"
            else:
                chunks, suffix = ui.services.results.results(ctx, name, fmt), f"results.{fmt}"
            stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
            folder = private_export_folder()
            path = folder / f"{_SAFE.sub('-', name)[:80]}-{stamp}-{suffix}"
            write_chunks(path, chunks)
            remove_later(folder, EXPORT_TTL_SECONDS)
            gr.Info(text("ui_results.export.done", ctx.locale, file=path.name))
            return {self.download: str(path)}

        self.promote.click(ask, [locale, self.current, self.variant, self.label],
                           [self.confirm, self.evidence, self.promoted, status], **quiet)
        self.yes.click(confirm, [locale, self.current, self.variant, self.label],
                       [self.confirm, self.promoted, status], **quiet)
        self.no.click(cancel, [locale], [self.confirm])
        # A question about another variant or label than the one shown must not be confirmed.
        self.variant.change(cancel, [locale], [self.confirm])
        self.label.change(cancel, [locale], [self.confirm])
        self.export.click(export, [locale, self.current, self.format], [self.download, status], **quiet)
