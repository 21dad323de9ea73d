"""The history panel of the Library editor: versions, a readable diff between any two versions,
restore, and labels (set, move, remove)."""
from __future__ import annotations

import html

import gradio as gr

from ..context import TenantContext
from .common import UI, status_line, text

_LINE_STYLES = {
    "add": "background:rgba(46,160,67,.18);",
    "del": "background:rgba(248,81,73,.18);",
    "hunk": "color:#6e7781;background:rgba(84,174,255,.10);",
    "meta": "color:#6e7781;font-weight:600;",
    "ctx": "",
}


def diff_html(diff: str) -> str:
    """A unified diff as coloured lines (added green, removed red), escaped, always left-to-right."""
    rows = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---")):
            kind = "meta"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        elif line.startswith("@@"):
            kind = "hunk"
        else:
            kind = "ctx"
        rows.append(f'<div class="pm-diff-{kind}" style="{_LINE_STYLES[kind]}white-space:pre-wrap;'
                    f'padding:0 .5em">{html.escape(line) or "&nbsp;"}</div>')
    return ('<div class="pm-diff" dir="ltr" style="font-family:ui-monospace,monospace;font-size:.85em;'
            'border:1px solid rgba(128,128,128,.3);border-radius:6px;overflow:auto;max-height:420px">'
            + "".join(rows) + "</div>")


class History:
    def __init__(self, ui: UI):
        self.ui = ui
        self.table = ui.tr(gr.Dataframe(
            headers=self._headers("en"), datatype=["number", "str", "str", "str", "str"], interactive=False,
            column_widths=["8%", "22%", "14%", "38%", "18%"], max_height=260, elem_id="pm-history",
            label=text("ui.library.history.versions")), label="ui.library.history.versions")
        with gr.Row():
            self.old = ui.tr(gr.Dropdown([], label=text("ui.library.history.from"), elem_id="pm-diff-from"),
                             label="ui.library.history.from")
            self.new = ui.tr(gr.Dropdown([], label=text("ui.library.history.to"), elem_id="pm-diff-to"),
                             label="ui.library.history.to")
        self.diff = gr.HTML(elem_id="pm-diff")
        with gr.Row(equal_height=True):
            self.restore_version = ui.tr(gr.Dropdown([], label=text("ui.library.history.restore_version"), scale=2,
                                                     elem_id="pm-restore-version"),
                                         label="ui.library.history.restore_version")
            self.restore = ui.tr(gr.Button(text("ui.library.history.restore"), scale=1, elem_id="pm-restore"),
                                 value="ui.library.history.restore")
        self.labels = gr.Markdown(elem_id="pm-labels")
        with gr.Row(equal_height=True):
            self.label_name = ui.tr(gr.Textbox(label=text("ui.library.history.label"), scale=2,
                                               placeholder="production", elem_id="pm-label-name"),
                                    label="ui.library.history.label")
            self.label_version = ui.tr(gr.Dropdown([], label=text("ui.library.history.label_version"), scale=1,
                                                   elem_id="pm-label-version"),
                                       label="ui.library.history.label_version")
            self.set_label = ui.tr(gr.Button(text("ui.library.history.set_label"), scale=1, elem_id="pm-set-label"),
                                   value="ui.library.history.set_label")
            # Removing needs a label name: the button waits for one.
            self.remove_label = ui.tr(gr.Button(text("ui.library.history.remove_label"), scale=1, interactive=False,
                                                elem_id="pm-remove-label"), value="ui.library.history.remove_label")
        self.status = status_line("pm-history-status")

    @property
    def outputs(self) -> list:
        return [self.table, self.old, self.new, self.diff, self.restore_version, self.labels, self.label_version]

    @staticmethod
    def _headers(locale: str) -> list[str]:
        return [text(f"ui.library.history.col_{c}", locale) for c in ("version", "date", "author", "message", "labels")]

    def _diff(self, ctx: TenantContext, name: str, old: int | None, new: int | None) -> str:
        locale = ctx.locale
        if not old or not new:
            return ""
        if old == new:
            return f'<p>{html.escape(text("ui.library.history.same_version", locale))}</p>'
        diff = self.ui.services.library.diff(ctx, name, int(old), int(new))
        return diff_html(diff) if diff else f'<p>{html.escape(text("ui.library.history.no_changes", locale))}</p>'

    def fill(self, ctx: TenantContext, name: str, current: int) -> dict:
        """The history of `name`, diffing the version before `current` against it."""
        locale = ctx.locale
        versions = self.ui.services.library.history(ctx, name)
        rows = [[v.number, v.created_at.strftime("%Y-%m-%d %H:%M"), v.author, v.message, ", ".join(sorted(v.labels))]
                for v in reversed(versions)]
        numbers = [(f"v{v.number}", v.number) for v in versions]
        old = current - 1 if current > 1 else current
        labels = {label: v.number for v in versions for label in v.labels}
        return {
            self.table: {"data": rows, "headers": self._headers(locale)},
            self.old: gr.update(choices=numbers, value=old), self.new: gr.update(choices=numbers, value=current),
            self.diff: self._diff(ctx, name, old, current) if len(versions) > 1
            else f'<p>{html.escape(text("ui.library.history.single_version", locale))}</p>',
            self.restore_version: gr.update(choices=numbers, value=old),
            self.label_version: gr.update(choices=numbers, value=current),
            self.labels: self._labels(locale, labels),
        }

    def clear(self, locale: str) -> dict:
        return {self.table: {"data": [], "headers": self._headers(locale)},
                self.old: gr.update(choices=[], value=None), self.new: gr.update(choices=[], value=None),
                self.diff: "", self.restore_version: gr.update(choices=[], value=None),
                self.label_version: gr.update(choices=[], value=None), self.labels: ""}

    @staticmethod
    def _labels(locale: str, labels: dict[str, int]) -> str:
        if not labels:
            return text("ui.library.history.no_labels", locale)
        return text("ui.library.history.labels", locale) + " " + ", ".join(
            f"`{name}` → v{number}" for name, number in sorted(labels.items()))

    def wire(self, editor, refresh_after) -> None:
        ui, locale = self.ui, self.ui.locale

        def require(loc, loaded):
            if loaded is None:
                raise gr.Error(text("ui.library.history.no_prompt", loc), print_exception=False)
            return loaded["name"]

        @ui.handler
        def show_diff(ctx, loaded, old, new):
            return {self.diff: self._diff(ctx, require(ctx.locale, loaded), old, new) if loaded else ""}

        @ui.handler
        def pick(ctx, loaded, evt: gr.SelectData):
            number = int(evt.row_value[0])
            old = number - 1 if number > 1 else number
            return {self.old: old, self.new: number, self.restore_version: number, self.label_version: number,
                    self.diff: self._diff(ctx, require(ctx.locale, loaded), old, number)}

        @ui.handler
        def restore(ctx, loaded, number, model):
            loc = ctx.locale
            name = require(loc, loaded)
            if not number:
                raise gr.Error(text("ui.library.history.pick_version", loc), print_exception=False)
            prompt = ui.services.library.restore(ctx, name, int(number), base_version=loaded["version"])
            gr.Info(text("ui.library.history.restored", loc, name=name, source=number, version=prompt.version))
            return editor.fill(ctx, prompt, model)

        @ui.handler
        def set_label(ctx, loaded, label, number):
            name = require(ctx.locale, loaded)
            labels = ui.services.library.set_label(ctx, name, (label or "").strip(), int(number) if number else None)
            gr.Info(text("ui.library.history.label_set", ctx.locale, label=label.strip(), name=name,
                         version=labels[label.strip()]))
            return {**self.fill(ctx, name, loaded["version"]), self.label_name: "",
                    self.remove_label: gr.update(interactive=False)}

        @ui.handler
        def remove_label(ctx, loaded, label):
            name = require(ctx.locale, loaded)
            ui.services.library.remove_label(ctx, name, (label or "").strip())
            gr.Info(text("ui.library.history.label_removed", ctx.locale, label=label.strip(), name=name))
            return {**self.fill(ctx, name, loaded["version"]), self.label_name: "",
                    self.remove_label: gr.update(interactive=False)}

        status = {"show_progress_on": [self.status]}  # never over the fields (common.status_line)
        for dropdown in (self.old, self.new):
            dropdown.input(show_diff, [locale, editor.loaded, self.old, self.new], [self.diff], **status)
        self.table.select(pick, [locale, editor.loaded], [self.old, self.new, self.restore_version,
                                                          self.label_version, self.diff], **status)
        refresh_after(self.restore.click(restore, [locale, editor.loaded, self.restore_version, editor.model],
                                         editor.outputs, **status))
        self.set_label.click(set_label, [locale, editor.loaded, self.label_name, self.label_version],
                             [*self.outputs, self.label_name, self.remove_label], **status)
        self.remove_label.click(remove_label, [locale, editor.loaded, self.label_name],
                                [*self.outputs, self.label_name, self.remove_label], **status)
        self.label_name.input(ui.handler(lambda ctx, label: {self.remove_label: gr.update(
            interactive=bool((label or "").strip()))}), [locale, self.label_name], [self.remove_label],
            show_progress="hidden", trigger_mode="always_last")
        ui.on_locale_change(ui.handler(lambda ctx, loaded: self.fill(ctx, loaded["name"], loaded["version"])
                                       if loaded else self.clear(ctx.locale)), [editor.loaded], self.outputs)
