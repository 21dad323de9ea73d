"""The Admin tab (admins and owners; in single-user mode the local user is the owner): the audit log,
the workspace's settings, its members (hosted mode) and its providers.

The tab is hidden until the page load knows the caller's role (show_for_role), and built when first
opened (lazy.lazy_tab); the services refuse anyway what the role may not do. Providers and keys keep their one editor in the Settings tab: this tab lists them
and opens Settings, so there is one place that takes a key."""
from __future__ import annotations

import gradio as gr

from ..context import TenantContext
from ..i18n import LANGUAGE_NAMES, SUPPORTED_LOCALES
from ..policy import Action, allowed
from ..services.mfa import REQUIRE_MFA
from . import admin_tokens_view
from .admin_audit_view import AuditView
from .feedback import reports
from .common import UI, choices, status_line, text

ROLE_CHOICES = ("viewer", "editor", "admin", "owner")
# The Settings tab's button (Gradio gives a tab's button the id "<elem_id>-button").
_OPEN_SETTINGS_JS = "() => { document.querySelector('#pm-tab-settings-button')?.click(); }"


def _lines(values) -> str:
    return ", ".join(values or [])


class Workspace:
    """Name, default language, MFA requirement, protected labels and allowed email domains."""

    def __init__(self, ui: UI):
        self.ui = ui
        self.name = ui.tr(gr.Textbox(label=text("ui_admin.workspace.name"), max_length=200, elem_id="pm-ws-name"),
                          label="ui_admin.workspace.name")
        with gr.Row(equal_height=True):
            self.locale = ui.tr(gr.Dropdown([(LANGUAGE_NAMES[c], c) for c in SUPPORTED_LOCALES], value="en",
                                            label=text("ui_admin.workspace.locale"), elem_id="pm-ws-locale"),
                                label="ui_admin.workspace.locale")
            mfa = [(f"ui_admin.workspace.mfa_{m}", m) for m in REQUIRE_MFA]
            self.mfa = ui.tr(gr.Radio(choices("en", mfa), value=REQUIRE_MFA[0], label=text("ui_admin.workspace.mfa"),
                                      elem_id="pm-ws-mfa"),
                             label="ui_admin.workspace.mfa", choices=",".join(f"{k}={v}" for k, v in mfa))
        self.labels = ui.tr(gr.Textbox(label=text("ui_admin.workspace.labels"),
                                       info=text("ui_admin.workspace.labels_info"), max_length=4000,
                                       elem_id="pm-ws-labels"),
                            label="ui_admin.workspace.labels", info="ui_admin.workspace.labels_info")
        self.domains = ui.tr(gr.Textbox(label=text("ui_admin.workspace.domains"),
                                        info=text("ui_admin.workspace.domains_info"), max_length=4000,
                                        elem_id="pm-ws-domains"),
                             label="ui_admin.workspace.domains", info="ui_admin.workspace.domains_info")
        self.save = ui.tr(gr.Button(text("ui_admin.workspace.save"), variant="primary", elem_id="pm-ws-save"),
                          value="ui_admin.workspace.save")
        self.note = gr.Markdown(elem_id="pm-ws-note")
        self.status = status_line("pm-ws-status")
        self.fields = [self.name, self.locale, self.mfa, self.labels, self.domains]

    def fill(self, ctx: TenantContext) -> dict:
        found = self.ui.services.accounts.settings_of(ctx)
        owner = allowed(ctx.role, Action.TENANT_SETTINGS)
        updates = {self.name: gr.update(value=found["name"], interactive=owner),
                   self.locale: gr.update(value=found["default_locale"], interactive=owner),
                   self.mfa: gr.update(value=found["require_mfa"], interactive=owner),
                   self.labels: gr.update(value=_lines(found["protected_labels"]), interactive=owner),
                   self.domains: gr.update(value=_lines(found["allowed_domains"]), interactive=owner),
                   self.save: gr.update(visible=owner),
                   self.note: "" if owner else text("ui_admin.workspace.owner_only", ctx.locale)}
        return updates

    @property
    def outputs(self) -> list:
        return [*self.fields, self.save, self.note]


class Members:
    """Hosted mode's people: invite, change role, remove, reset MFA (AccountService, MfaService)."""

    def __init__(self, ui: UI):
        self.ui = ui
        self.table = gr.Dataframe(headers=self._headers("en"), value=[], interactive=False, max_height=320,
                                  show_label=False, elem_id="pm-members")
        with gr.Row(equal_height=True):
            self.member = ui.tr(gr.Dropdown([], label=text("ui_admin.members.member"), elem_id="pm-member"),
                                label="ui_admin.members.member")
            self.role = ui.tr(gr.Dropdown(choices("en", [(f"ui_admin.roles.{r}", r) for r in ROLE_CHOICES]),
                                          value="viewer", label=text("ui_admin.members.role"), elem_id="pm-member-role"),
                              label="ui_admin.members.role",
                              choices=",".join(f"ui_admin.roles.{r}={r}" for r in ROLE_CHOICES))
        with gr.Row():
            self.set_role = ui.tr(gr.Button(text("ui_admin.members.set_role"), elem_id="pm-member-set-role"),
                                  value="ui_admin.members.set_role")
            self.reset_mfa = ui.tr(gr.Button(text("ui_admin.members.reset_mfa"), elem_id="pm-member-reset-mfa"),
                                   value="ui_admin.members.reset_mfa")
            self.remove = ui.tr(gr.Button(text("ui_admin.members.remove"), variant="stop", elem_id="pm-member-remove"),
                                value="ui_admin.members.remove")
        with gr.Row(equal_height=True):
            self.email = ui.tr(gr.Textbox(label=text("ui_admin.members.email"), max_length=254,
                                          elem_id="pm-invite-email"), label="ui_admin.members.email")
            self.invite_role = ui.tr(gr.Dropdown(choices("en", [(f"ui_admin.roles.{r}", r) for r in ROLE_CHOICES]),
                                                 value="viewer", label=text("ui_admin.members.role"),
                                                 elem_id="pm-invite-role"),
                                     label="ui_admin.members.role",
                                     choices=",".join(f"ui_admin.roles.{r}={r}" for r in ROLE_CHOICES))
            self.invite = ui.tr(gr.Button(text("ui_admin.members.invite"), variant="primary", elem_id="pm-invite"),
                                value="ui_admin.members.invite")
        self.link = ui.tr(gr.Textbox(label=text("ui_admin.members.link"), interactive=False, buttons=["copy"],
                                     elem_id="pm-invite-link"), label="ui_admin.members.link")
        self.status = status_line("pm-members-status")

    @staticmethod
    def _headers(locale: str) -> list[str]:
        return [text(f"ui_admin.members.col_{c}", locale) for c in ("who", "name", "role", "active", "mfa")]

    def fill(self, ctx: TenantContext, select: int | None = None) -> dict:
        locale = ctx.locale
        members = self.ui.services.accounts.members(ctx)
        yes, no = text("ui_admin.members.yes", locale), text("ui_admin.members.no", locale)
        rows = [[m["email"] or m["display_name"], m["display_name"], text(f"ui_admin.roles.{m['role']}", locale),
                 yes if m["active"] else no, yes if m["mfa_enabled"] else no] for m in members]
        picks = [(m["email"] or m["display_name"], m["user_id"]) for m in members]
        ids = [user_id for _label, user_id in picks]
        return {self.table: {"data": rows, "headers": self._headers(locale)},
                self.member: gr.update(choices=picks, value=select if select in ids else (ids[0] if ids else None))}


def show_for_role(ui: UI, tab: gr.Tab) -> None:
    """The tab shows for admins and owners: decided in the page's first request, which reads nothing
    else (the tab's content is read when it is opened)."""
    ui.on_load(ui.handler(lambda ctx: {tab: gr.update(visible=allowed(ctx.role, Action.READ_AUDIT))}), [], [tab],
               first=True)


def build(ui: UI, tab: gr.Tab) -> None:
    hosted = ui.services.settings.mode != "single"
    with gr.Tabs(elem_id="pm-admin-sections"):
        with ui.tr(gr.Tab(text("ui_admin.sections.audit"), id="admin-audit"), label="ui_admin.sections.audit"):
            audit = AuditView(ui)
        with ui.tr(gr.Tab(text("ui_admin.sections.workspace"), id="admin-workspace"),
                   label="ui_admin.sections.workspace"):
            workspace = Workspace(ui)
        members = None
        with ui.tr(gr.Tab(text("ui_admin.sections.members"), id="admin-members"), label="ui_admin.sections.members"):
            if hosted:
                members = Members(ui)
            else:  # single-user mode: one local user and no login, so nobody to invite
                ui.tr(gr.Markdown(text("ui_admin.members.single_user")), value="ui_admin.members.single_user")
        with ui.tr(gr.Tab(text("ui_admin.sections.providers"), id="admin-providers"),
                   label="ui_admin.sections.providers"):
            ui.tr(gr.Markdown(text("ui_admin.providers.where")), value="ui_admin.providers.where")
            providers = gr.Dataframe(headers=_provider_headers("en"), value=[], interactive=False, max_height=240,
                                     show_label=False, elem_id="pm-admin-providers")
            open_settings = ui.tr(gr.Button(text("ui_admin.providers.open"), elem_id="pm-admin-open-settings"),
                                  value="ui_admin.providers.open")
        admin_tokens_view.build(ui)  # API tokens: its own view, loads and wires itself
    _wire(ui, tab, audit, workspace, members, providers, open_settings)


def _provider_headers(locale: str) -> list[str]:
    return [text(f"ui.settings.providers.col_{c}", locale) for c in ("name", "kind", "base_url", "key")]


def _providers(ui: UI, ctx: TenantContext) -> list[list[str]]:
    locale = ctx.locale
    return [[p.name, text(f"ui.settings.providers.kind_{p.kind}", locale), p.base_url,
             p.api_key_masked if p.has_key and p.key_readable
             else text("ui.settings.providers.key_unreadable" if p.has_key else "ui.settings.providers.no_key",
                       locale)] for p in ui.services.providers.list(ctx)]


def _wire(ui: UI, tab, audit: AuditView, workspace: Workspace, members: Members | None, providers, open_settings):
    locale = ui.locale
    members_outputs = [members.table, members.member] if members else []
    outputs = [tab, *audit.outputs, *workspace.outputs, providers, *members_outputs]

    def everything(ctx: TenantContext, *filters) -> dict:
        if not allowed(ctx.role, Action.READ_AUDIT):  # not an admin: the tab stays hidden, nothing is read
            return {tab: gr.update(visible=False)}
        updates = {tab: gr.update(visible=True), **audit.fill(ctx, *filters), **workspace.fill(ctx),
                   providers: {"data": _providers(ui, ctx), "headers": _provider_headers(ctx.locale)}}
        if members is not None:
            updates.update(members.fill(ctx))
        return updates

    # Built when first opened: filled right after. Every tab change that could have written
    # something refreshes the log when the Admin tab opens again.
    ui.on_load(ui.handler(lambda ctx: everything(ctx)), [], outputs)
    ui.on_locale_change(ui.handler(lambda ctx, *filters: everything(ctx, *filters)), audit.filters, outputs)
    tab.select(ui.handler(lambda ctx, *filters: everything(ctx, *filters)), [locale, *audit.filters], outputs,
               show_progress="hidden")
    audit.wire()
    open_settings.click(None, None, None, js=_OPEN_SETTINGS_JS)

    @ui.handler
    @reports(workspace.status)  # a refused value: a toast and the status line, never Gradio's error mark
    def save_settings(ctx, name, default_locale, mfa, labels, domains):
        ui.services.accounts.update_settings(ctx, name=name, default_locale=default_locale, require_mfa=mfa,
                                             protected_labels=labels or "", allowed_domains=domains or "")
        gr.Info(text("ui_admin.workspace.saved", ctx.locale))
        return {**workspace.fill(ctx), **audit.fill(ctx, *([None] * 4))}

    workspace.save.click(save_settings, [locale, *workspace.fields],
                         list(dict.fromkeys([workspace.status, *workspace.outputs, *audit.outputs])),
                         show_progress_on=[workspace.status])
    if members is not None:
        _wire_members(ui, members, audit, members_outputs)


def _wire_members(ui: UI, members: Members, audit: AuditView, members_outputs: list) -> None:
    locale = ui.locale
    after = [*members_outputs, *audit.outputs]

    def refreshed(ctx: TenantContext, select=None) -> dict:
        return {**members.fill(ctx, select), **audit.fill(ctx, *([None] * 4))}

    def picked(ctx: TenantContext, member) -> int:
        if member in (None, ""):
            raise gr.Error(text("ui_admin.members.pick", ctx.locale), print_exception=False)
        return int(member)

    @ui.handler
    def set_role(ctx, member, role):
        changed = ui.services.accounts.set_role(ctx, picked(ctx, member), role)
        gr.Info(text("ui_admin.members.role_changed", ctx.locale, who=changed["email"] or changed["display_name"],
                     role=text(f"ui_admin.roles.{changed['role']}", ctx.locale)))
        return refreshed(ctx, changed["user_id"])

    @ui.handler
    def remove(ctx, member):
        ui.services.accounts.remove_member(ctx, picked(ctx, member))
        gr.Info(text("ui_admin.members.removed", ctx.locale))
        return refreshed(ctx)

    @ui.handler
    def reset_mfa(ctx, member):
        user_id = picked(ctx, member)
        ui.services.mfa.reset(ctx, user_id)
        gr.Info(text("ui_admin.members.mfa_reset", ctx.locale))
        return refreshed(ctx, user_id)

    @ui.handler
    def invite(ctx, email, role):
        made = ui.services.accounts.invite(ctx, email, role or "viewer")
        gr.Info(text("ui_admin.members.invited_mailed" if made["emailed"] else "ui_admin.members.invited",
                     ctx.locale, email=made["email"]))
        return {**refreshed(ctx), members.link: made["link"]}

    on_status = {"show_progress_on": [members.status]}
    members.set_role.click(set_role, [locale, members.member, members.role], after, **on_status)
    members.remove.click(remove, [locale, members.member], after, **on_status)
    members.reset_mfa.click(reset_mfa, [locale, members.member], after, **on_status)
    # The invitation's fields are outputs only when it succeeded: a failed invite keeps what was typed.
    members.invite.click(invite, [locale, members.email, members.invite_role],
                         [*after, members.link], **on_status).success(
        lambda: gr.update(value=""), None, [members.email], show_progress="hidden")
