"""The Admin tab's API tokens (hosted mode; admins and owners): list, create, revoke — the same
ApiTokenService methods as `promptmgr tokens` and /api/v1/tokens, so the same rules: a token's role
is never above the caller's nor its member's, its secret is shown once.

The secret appears in a read-only field with a copy button and a warning, and is cleared by the next
action of the section: it is never shown again. Errors are a toast and the status line (reports),
so the form keeps what was typed. admin_tab.build calls `build(ui)` inside its sections."""
from __future__ import annotations

from datetime import datetime, timezone

import gradio as gr

from ..context import ROLES, TenantContext
from ..policy import Action, allowed
from .common import UI, choices, status_line, text
from .feedback import Stop, reports

_COLUMNS = ("name", "member", "role", "expires", "last_used", "status")
EXPIRIES = ("30d", "90d", "365d", "never")


def _when(value: datetime | None, locale: str) -> str:
    if value is None:
        return text("ui_tokens.never", locale)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M")


def _roles_up_to(role: str) -> list[str]:
    return list(ROLES[:ROLES.index(role) + 1]) if role in ROLES else []


class TokensView:
    def __init__(self, ui: UI):
        self.ui = ui
        en = "en"
        self.table = gr.Dataframe(headers=self._headers(en), value=[], interactive=False, max_height=320,
                                  show_label=False, elem_id="pm-tokens-table")
        with gr.Row(equal_height=True):
            self.name = ui.tr(gr.Textbox(label=text("ui_tokens.name", en), info=text("ui_tokens.name_info", en),
                                         max_length=100, elem_id="pm-token-name"),
                              label="ui_tokens.name", info="ui_tokens.name_info")
            self.member = ui.tr(gr.Dropdown([], label=text("ui_tokens.member", en), elem_id="pm-token-member"),
                                label="ui_tokens.member")
            self.role = ui.tr(gr.Dropdown(choices(en, self._role_pairs(ROLES)), value="viewer",
                                          label=text("ui_tokens.role", en), info=text("ui_tokens.role_info", en),
                                          elem_id="pm-token-role"),
                              label="ui_tokens.role", info="ui_tokens.role_info")
            self.expires = ui.tr(gr.Dropdown(self._expiry_choices(en), value="90d", allow_custom_value=True,
                                             label=text("ui_tokens.expires", en),
                                             info=text("ui_tokens.expires_info", en), elem_id="pm-token-expires"),
                                 label="ui_tokens.expires", info="ui_tokens.expires_info")
        with gr.Row():
            self.create = ui.tr(gr.Button(text("ui_tokens.create", en), variant="primary", elem_id="pm-token-create"),
                                value="ui_tokens.create")
            self.refresh = ui.tr(gr.Button(text("ui_tokens.refresh", en), elem_id="pm-token-refresh"),
                                 value="ui_tokens.refresh")
        with gr.Column(visible=False, elem_id="pm-token-once") as self.once:
            self.warning = ui.tr(gr.Markdown(text("ui_tokens.shown_once", en), elem_id="pm-token-warning"),
                                 value="ui_tokens.shown_once")
            self.secret = ui.tr(gr.Textbox(label=text("ui_tokens.secret", en), interactive=False, buttons=["copy"],
                                           elem_id="pm-token-secret"), label="ui_tokens.secret")
        with gr.Row(equal_height=True):
            self.pick = ui.tr(gr.Dropdown([], label=text("ui_tokens.pick", en), elem_id="pm-token-pick"),
                              label="ui_tokens.pick")
            self.revoke = ui.tr(gr.Button(text("ui_tokens.revoke", en), variant="stop", elem_id="pm-token-revoke"),
                                value="ui_tokens.revoke")
        with gr.Row(visible=False, elem_id="pm-token-confirm") as self.confirm:
            self.question = gr.Markdown("", elem_id="pm-token-question")
            self.yes = ui.tr(gr.Button(text("ui_tokens.confirm", en), variant="stop", elem_id="pm-token-confirm-yes"),
                             value="ui_tokens.confirm")
            self.no = ui.tr(gr.Button(text("ui_tokens.cancel", en), elem_id="pm-token-confirm-no"),
                            value="ui_tokens.cancel")
        self.status = status_line("pm-tokens-status")

    # --- filling -----------------------------------------------------------------------------
    @staticmethod
    def _headers(locale: str) -> list[str]:
        return [text(f"ui_tokens.col_{c}", locale) for c in _COLUMNS]

    @staticmethod
    def _role_pairs(roles) -> list[tuple[str, str]]:
        return [(f"ui_admin.roles.{r}", r) for r in roles]

    @staticmethod
    def _expiry_choices(locale: str) -> list[tuple[str, str]]:
        return [(text(f"ui_tokens.expiry_{e}", locale), e) for e in EXPIRIES]

    def fill(self, ctx: TenantContext, role=None, member=None, pick=None) -> dict:
        """The table, the members, the roles the caller may give and the tokens that can be revoked."""
        locale, services = ctx.locale, self.ui.services
        tokens = services.api_tokens.list(ctx)
        rows = [[tok["name"], tok["user"] or "", text(f"ui_admin.roles.{tok['role']}", locale),
                 _when(tok["expires_at"], locale), _when(tok["last_used_at"], locale),
                 text(f"ui_tokens.status_{tok['status']}", locale)] for tok in tokens]
        emails = [m["email"] for m in services.accounts.members(ctx) if m["email"] and m["active"]]
        roles = _roles_up_to(ctx.role)
        live = [tok["name"] for tok in tokens if tok["status"] == "active"]
        return {self.table: {"data": rows, "headers": self._headers(locale)},
                self.member: gr.update(choices=emails, value=member if member in emails else None),
                self.role: gr.update(choices=choices(locale, self._role_pairs(roles)),
                                     value=role if role in roles else "viewer"),
                self.expires: gr.update(choices=self._expiry_choices(locale)),
                self.pick: gr.update(choices=live, value=pick if pick in live else None)}

    @property
    def outputs(self) -> list:
        return [self.table, self.member, self.role, self.expires, self.pick]

    # --- events ------------------------------------------------------------------------------
    def wire(self) -> None:
        ui, locale = self.ui, self.ui.locale
        hide_secret = {self.once: gr.update(visible=False), self.secret: ""}
        closed = {self.confirm: gr.update(visible=False)}

        @ui.handler
        @reports(self.status, clear=False)
        def load(ctx, role, member, pick):
            if not allowed(ctx.role, Action.MANAGE_TOKENS):  # not an admin: the Admin tab stays hidden
                return {}
            return self.fill(ctx, role, member, pick)

        @ui.handler
        @reports(self.status)
        def refresh(ctx, role, member, pick):
            return {**self.fill(ctx, role, member, pick), **hide_secret, **closed}

        @ui.handler
        @reports(self.status)
        def create(ctx, name, member, role, expires, pick):
            if not (name or "").strip():
                raise Stop("ui_tokens.no_name")
            if not member:
                raise Stop("ui_tokens.no_member")
            made = ui.services.api_tokens.create(ctx, name.strip(), member, role or None, (expires or "90d").strip())
            message = text("ui_tokens.created", ctx.locale, name=made["name"], member=made["user"],
                           role=text(f"ui_admin.roles.{made['role']}", ctx.locale))
            gr.Info(message)
            return {**self.fill(ctx, made["role"], member, pick), self.once: gr.update(visible=True),
                    self.secret: made["token"], self.status: "✓ " + message, self.name: ""}

        @ui.handler
        @reports(self.status)
        def ask(ctx, pick):
            if not pick:
                raise Stop("ui_tokens.no_pick")
            return {self.confirm: gr.update(visible=True), **hide_secret,
                    self.question: text("ui_tokens.question", ctx.locale, name=pick)}

        @ui.handler
        @reports(self.status)
        def revoke(ctx, pick, role, member):
            if not pick:
                raise Stop("ui_tokens.no_pick")
            done = ui.services.api_tokens.revoke(ctx, pick)
            message = text("ui_tokens.revoked", ctx.locale, name=done["name"])
            gr.Info(message)
            return {**self.fill(ctx, role, member, None), **closed, self.status: "✓ " + message}

        @ui.handler
        def cancel(ctx):
            return dict(closed)

        # The form's fields are never outputs of a failing event's progress: the status line carries it.
        quiet = {"show_progress_on": [self.status]}
        current = [self.role, self.member, self.pick]
        ui.on_load(load, current, [*self.outputs, self.status])
        ui.on_locale_change(load, current, [*self.outputs, self.status])
        self.refresh.click(refresh, [locale, *current],
                           [*self.outputs, self.once, self.secret, self.confirm, self.status], **quiet)
        self.create.click(create, [locale, self.name, self.member, self.role, self.expires, self.pick],
                          [*self.outputs, self.once, self.secret, self.status, self.name], **quiet)
        self.revoke.click(ask, [locale, self.pick], [self.confirm, self.once, self.secret, self.question, self.status],
                          **quiet)
        self.yes.click(revoke, [locale, self.pick, self.role, self.member],
                       [*self.outputs, self.confirm, self.status], **quiet)
        self.no.click(cancel, [locale], [self.confirm])
        self.pick.change(cancel, [locale], [self.confirm])  # a question about another token must not be confirmed


def build(ui: UI) -> None:
    """The "API tokens" section: call inside the Admin tab's sections (gr.Tabs)."""
    with ui.tr(gr.Tab(text("ui_tokens.section"), id="admin-tokens"), label="ui_tokens.section"):
        if ui.services.settings.mode == "single":  # the REST API, and so its tokens, is hosted mode's
            ui.tr(gr.Markdown(text("ui_tokens.single_user")), value="ui_tokens.single_user")
            return
        TokensView(ui).wire()
