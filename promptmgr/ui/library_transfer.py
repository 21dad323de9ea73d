"""Import (upload a JSON/YAML library file, with a conflict policy) and export (download the whole
library as JSON or YAML) for the Library tab; the panel is built the first time it is opened."""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import gradio as gr
from gradio.utils import get_upload_folder

from ..errors import ValidationError
from ..services.transfer import CONFLICT_POLICIES, dump_document, format_of, load_document
from .common import UI, choices, text
from .lazy import lazy_render

_FORMATS = ("json", "yaml")
# An export is the whole library: it lives in a private folder (0700, the file 0600) and is
# removed this long after it was made, which leaves the browser time to fetch it.
EXPORT_TTL_SECONDS = 600.0


def private_export_folder() -> Path:
    """A fresh 0700 folder inside Gradio's upload folder (the only place besides its cache that
    Gradio serves files from, and a component's cache by default): the download component serves
    the file from there instead of copying it into a world-readable cache folder."""
    root = Path(get_upload_folder())
    root.mkdir(parents=True, exist_ok=True)
    # Exports a stopped process could not remove when their time was up go now.
    expired = time.time() - EXPORT_TTL_SECONDS
    for old in root.glob("promptmgr-export-*"):
        try:
            if old.stat().st_mtime < expired:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            continue
    return Path(tempfile.mkdtemp(prefix="promptmgr-export-", dir=root))


def write_private(path: Path, data: str) -> None:
    """Write `data` to a new file only its owner can read."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(data)


def remove_later(folder: Path, seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, shutil.rmtree, args=(folder,), kwargs={"ignore_errors": True})
    timer.daemon = True
    timer.start()
    return timer


class Transfer:
    """The button that opens the panel, and the panel, built when first opened (lazy.lazy_render):
    the page's config then carries neither the file fields nor their events."""

    def __init__(self, ui: UI, refresh_after):
        self.ui = ui
        self.open = ui.tr(gr.Button(text("ui.library.transfer.title"), size="sm", elem_id="pm-transfer-open"),
                          value="ui.library.transfer.title")
        with gr.Column(visible=False, elem_id="pm-transfer") as self.panel:
            opened = gr.Checkbox(False, visible=False)
            lazy_render(ui, lambda scope: TransferPanel(scope, self).wire(refresh_after), opened)
        # Shows the panel at once (empty until its first render arrives) and builds it the first time.
        self.open.click(ui.handler(lambda ctx: {self.panel: gr.update(visible=True), opened: True,
                                                self.open: gr.update(visible=False)}),
                        [ui.locale], [self.panel, self.open, opened])


class TransferPanel:
    def __init__(self, ui: UI, transfer: Transfer):
        self.ui = ui
        self.panel, self.open = transfer.panel, transfer.open
        with gr.Row(equal_height=False):
            with gr.Column(min_width=200):
                # A button, not a drop zone: Gradio words its drop zone in the browser's language,
                # not in the page's (?lang=, the saved preference).
                self.upload = ui.tr(gr.UploadButton(text("ui.library.transfer.file"), type="filepath",
                                                    file_types=[".json", ".yaml", ".yml"],
                                                    elem_id="pm-import-file"),
                                    label="ui.library.transfer.file")
                self.chosen = gr.State(None)
                self.chosen_name = gr.Markdown(elem_id="pm-import-chosen")
                self.policy = ui.tr(gr.Radio(
                    choices("en", [(f"ui.library.transfer.policy_{p}", p) for p in CONFLICT_POLICIES]),
                    value="skip", label=text("ui.library.transfer.policy"), elem_id="pm-import-policy"),
                    label="ui.library.transfer.policy",
                    choices=",".join(f"ui.library.transfer.policy_{p}={p}" for p in CONFLICT_POLICIES))
                self.run_import = ui.tr(gr.Button(text("ui.library.transfer.import"), variant="primary",
                                                  elem_id="pm-import"), value="ui.library.transfer.import")
                self.report = gr.Markdown(elem_id="pm-import-report")
            with gr.Column(min_width=200):
                self.format = ui.tr(gr.Radio([("JSON", "json"), ("YAML", "yaml")], value="json",
                                             label=text("ui.library.transfer.format"), elem_id="pm-export-format"),
                                    label="ui.library.transfer.format")
                self.run_export = ui.tr(gr.Button(text("ui.library.transfer.export"), elem_id="pm-export"),
                                        value="ui.library.transfer.export")
                self.download = ui.tr(gr.File(label=text("ui.library.transfer.download"), interactive=False,
                                              height=110, elem_id="pm-export-file"),
                                      label="ui.library.transfer.download")
        self.close = ui.tr(gr.Button(text("ui.library.transfer.close"), size="sm", elem_id="pm-transfer-close"),
                           value="ui.library.transfer.close")

    def wire(self, refresh_after) -> None:
        ui, locale = self.ui, self.ui.locale

        @ui.handler
        def do_import(ctx, path, policy, progress=gr.Progress()):
            loc = ctx.locale
            if not path:
                raise ValidationError("ui.library.transfer.no_file")
            progress(0.1, desc=text("ui.library.transfer.reading", loc))
            try:
                raw = Path(path).read_text(encoding="utf-8")
            except UnicodeDecodeError:
                raise ValidationError("ui.library.transfer.not_text", name=Path(path).name) from None
            document = load_document(raw, format_of(path))
            progress(0.4, desc=text("ui.library.transfer.importing", loc, count=len(document["prompts"])))
            report = ui.services.transfer.import_(ctx, document, on_conflict=policy or "skip")
            summary = text("ui.library.transfer.report", loc, created=len(report.created), updated=len(report.updated),
                           renamed=len(report.renamed), skipped=len(report.skipped))
            lines = [summary] + [f"- `{old}` → `{new}`" for old, new in report.renamed]
            gr.Info(summary)
            return {self.report: "\n".join(lines)}

        @ui.handler
        def do_export(ctx, fmt, progress=gr.Progress()):
            loc = ctx.locale
            fmt = fmt if fmt in _FORMATS else "json"
            progress(0.1, desc=text("ui.library.transfer.exporting", loc))
            document = ui.services.transfer.export(ctx)
            stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
            folder = private_export_folder()
            path = folder / f"promptmgr-library-{stamp}.{'json' if fmt == 'json' else 'yaml'}"
            write_private(path, dump_document(document, fmt))
            remove_later(folder, EXPORT_TTL_SECONDS)
            gr.Info(text("ui.library.transfer.exported", loc, count=len(document["prompts"])))
            return {self.download: str(path)}

        @ui.handler
        def close(ctx):
            return {self.panel: gr.update(visible=False), self.open: gr.update(visible=True)}

        @ui.handler
        def choose(ctx, path):
            if not path:
                return {self.chosen: None, self.chosen_name: ""}
            return {self.chosen: path, self.chosen_name: text("ui.library.transfer.chosen", ctx.locale,
                                                               name=Path(path).name.replace("`", ""))}

        self.upload.upload(choose, [locale, self.upload], [self.chosen, self.chosen_name],
                           show_progress_on=[self.chosen_name])
        self.close.click(close, [locale], [self.panel, self.open])
        refresh_after(self.run_import.click(do_import, [locale, self.chosen, self.policy], [self.report],
                                            show_progress_on=[self.report]))
        self.run_export.click(do_export, [locale, self.format], [self.download])
