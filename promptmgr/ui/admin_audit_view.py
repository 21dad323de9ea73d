"""The Admin tab's audit log: filters (actor, action, target, time), a paged table newest first, and
a CSV download of everything the filters match. Reading needs an admin (the service checks)."""
from __future__ import annotations

from datetime import datetime, timezone

import gradio as gr

from ..context import TenantContext
from ..i18n import t
from ..services.audit import parse_since
from .common import UI, status_line, text
from .library_transfer import EXPORT_TTL_SECONDS, private_export_folder, remove_later, write_private

PAGE = 25
_COLUMNS = ("time", "actor", "action", "target", "change", "address")
_SINCE = ("", "1h", "1d", "7d", "30d")
_CHANGE_WIDTH = 240


def action_label(action: str, locale: str) -> str:
    """The action in the reader's language; an action this version does not name stays as recorded."""
    key = f"audit.action.{action.replace('.', '_')}"
    shown = t(key, locale)
    return action if shown == key else shown


def _short(value) -> str:
    if value is None:
        return "∅"
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else repr(value[:40] + "…")
    return str(value)


def change_summary(before: dict | None, after: dict | None) -> str:
    """One line: `field: old → new` for each field the event recorded."""
    before, after = before or {}, after or {}
    parts = []
    for field in dict.fromkeys([*before, *after]):
        if field in before and field in after:
            parts.append(f"{field}: {_short(before[field])} → {_short(after[field])}")
        elif field in after:
            parts.append(f"{field}: {_short(after[field])}")
        else:
            parts.append(f"{field}: {_short(before[field])} → ∅")
    line = "; ".join(parts)
    return line if len(line) <= _CHANGE_WIDTH else line[:_CHANGE_WIDTH - 1] + "…"


class AuditView:
    def __init__(self, ui: UI):
        self.ui = ui
        with gr.Row(equal_height=True):
            self.actor = ui.tr(gr.Textbox(label=text("ui_admin.audit.actor"), elem_id="pm-audit-actor", max_length=200),
                               label="ui_admin.audit.actor")
            self.action = ui.tr(gr.Dropdown([(text("ui_admin.audit.any_action"), "")], value="",
                                            label=text("ui_admin.audit.action"), elem_id="pm-audit-action"),
                                label="ui_admin.audit.action")
            self.target = ui.tr(gr.Textbox(label=text("ui_admin.audit.target"), elem_id="pm-audit-target",
                                           max_length=200), label="ui_admin.audit.target")
            self.since = ui.tr(gr.Dropdown(self._since_choices("en"), value="", allow_custom_value=True,
                                           label=text("ui_admin.audit.since"), info=text("ui_admin.audit.since_info"),
                                           elem_id="pm-audit-since"),
                               label="ui_admin.audit.since", info="ui_admin.audit.since_info")
        with gr.Row():
            self.search = ui.tr(gr.Button(text("ui_admin.audit.search"), variant="primary", elem_id="pm-audit-search"),
                                value="ui_admin.audit.search")
            self.previous = ui.tr(gr.Button(text("ui_admin.audit.previous"), elem_id="pm-audit-prev"),
                                  value="ui_admin.audit.previous")
            self.next = ui.tr(gr.Button(text("ui_admin.audit.next"), elem_id="pm-audit-next"),
                              value="ui_admin.audit.next")
            self.export = ui.tr(gr.Button(text("ui_admin.audit.export"), elem_id="pm-audit-export"),
                                value="ui_admin.audit.export")
        self.page_info = gr.Markdown(elem_id="pm-audit-page")
        self.status = status_line("pm-audit-status")
        self.table = gr.Dataframe(headers=self._headers("en"), value=[], interactive=False, wrap=True,
                                  max_height=520, show_label=False, elem_id="pm-audit-table")
        self.download = ui.tr(gr.File(label=text("ui_admin.audit.download"), interactive=False, height=110,
                                      elem_id="pm-audit-file"), label="ui_admin.audit.download")
        self.offset = gr.State(0)
        self.filters = [self.actor, self.action, self.target, self.since]

    @staticmethod
    def _headers(locale: str) -> list[str]:
        return [text(f"ui_admin.audit.col_{c}", locale) for c in _COLUMNS]

    @staticmethod
    def _since_choices(locale: str) -> list[tuple[str, str]]:
        return [(text(f"ui_admin.audit.since_{value or 'all'}", locale), value) for value in _SINCE]

    @staticmethod
    def _query(actor, action, target, since, offset: int = 0, limit: int = PAGE) -> dict:
        return {"actor": actor or None, "action": action or None, "target": target or None,
                "since": parse_since(since), "offset": max(int(offset or 0), 0), "limit": limit}

    def fill(self, ctx: TenantContext, actor=None, action=None, target=None, since=None, offset: int = 0) -> dict:
        """The table at `offset` for these filters, the page line and the action choices."""
        audit = self.ui.services.audit
        page = audit.list(ctx, self._query(actor, action, target, since, offset))
        if page.total and offset >= page.total:  # the log shrank under this page's filters: go to the start
            offset = 0
            page = audit.list(ctx, self._query(actor, action, target, since, 0))
        locale = ctx.locale
        rows = [[event.time.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S"), event.actor,
                 action_label(event.action, locale),
                 f"{event.target_type}: {event.target}" if event.target else event.target_type,
                 change_summary(event.before, event.after), event.address or ""] for event in page.items]
        first, last = (offset + 1, offset + len(page.items)) if page.items else (0, 0)
        actions = [(text("ui_admin.audit.any_action", locale), "")] + [
            (f"{action_label(a, locale)} ({a})", a) for a in audit.actions(ctx)]
        return {self.table: {"data": rows, "headers": self._headers(locale)}, self.offset: offset,
                self.page_info: text("ui_admin.audit.page", locale, first=first, last=last, total=page.total),
                self.action: gr.update(choices=actions, value=action or ""),
                self.since: gr.update(choices=self._since_choices(locale)),
                self.previous: gr.update(interactive=offset > 0),
                self.next: gr.update(interactive=offset + len(page.items) < page.total)}

    @property
    def outputs(self) -> list:
        return [self.table, self.offset, self.page_info, self.action, self.since, self.previous, self.next]

    def wire(self) -> None:
        ui, locale = self.ui, self.ui.locale

        @ui.handler
        def search(ctx, actor, action, target, since):
            return self.fill(ctx, actor, action, target, since, 0)

        def move(step: int):
            @ui.handler
            def go(ctx, actor, action, target, since, offset):
                return self.fill(ctx, actor, action, target, since, max((offset or 0) + step, 0))

            return go

        @ui.handler
        def export(ctx, actor, action, target, since):
            data = ui.services.audit.export_csv(ctx, self._query(actor, action, target, since, 0, 1))
            stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
            folder = private_export_folder()
            path = folder / f"promptmgr-audit-{stamp}.csv"
            write_private(path, data)
            remove_later(folder, EXPORT_TTL_SECONDS)
            return {self.download: str(path)}

        # Results and errors show on the status line, never over the filters (common.status_line).
        on_status = {"show_progress_on": [self.status]}
        self.search.click(search, [locale, *self.filters], self.outputs, **on_status)
        for box in (self.actor, self.target):
            box.submit(search, [locale, *self.filters], self.outputs, **on_status)
        self.previous.click(move(-PAGE), [locale, *self.filters, self.offset], self.outputs, **on_status)
        self.next.click(move(PAGE), [locale, *self.filters, self.offset], self.outputs, **on_status)
        self.export.click(export, [locale, *self.filters], [self.download], **on_status)
