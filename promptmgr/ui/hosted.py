"""What the Gradio page adds in hosted mode: the signed-in line, the workspace switcher and the
sign-out button in the header, and hiding the controls the caller's role cannot use (the services
refuse those actions anyway; hiding them keeps a viewer from meeting a wall of errors).

The switch and the sign-out are plain form posts to the web layer (/workspace, /logout) with the
CSRF cookie's token: they change the session cookies, which a Gradio event cannot."""
from __future__ import annotations

import json

import gradio as gr

from ..policy import Action, allowed
from .common import UI, text

# elem_id -> the action the control performs. Rows and columns are not listed: only the controls.
ROLE_CONTROLS: dict[str, Action] = {
    "pm-new": Action.WRITE_PROMPTS,
    "pm-save": Action.WRITE_PROMPTS,
    "pm-delete": Action.WRITE_PROMPTS,
    "pm-restore": Action.WRITE_PROMPTS,
    "pm-set-label": Action.MOVE_LABEL,
    "pm-remove-label": Action.MOVE_LABEL,
    "pm-import-file": Action.IMPORT,
    "pm-import-policy": Action.IMPORT,
    "pm-import": Action.IMPORT,
    "testing-run": Action.RUN_MODELS,
    "testing-enhance": Action.RUN_MODELS,
    "testing-translate": Action.RUN_MODELS,
    # Built when their tab is first opened (ui/lazy.py hides them there, for the caller's role).
    "exp-ds-upload": Action.WRITE_DATASETS,
    "exp-ds-save-row": Action.WRITE_DATASETS,
    "exp-ds-delete": Action.WRITE_DATASETS,
    "exp-new-estimate": Action.RUN_EXPERIMENTS,
    "exp-new-run": Action.RUN_EXPERIMENTS,
    "exp-new-try": Action.RUN_EXPERIMENTS,
    "exp-new-promptfoo": Action.RUN_EXPERIMENTS,
    "exp-run-pause": Action.RUN_EXPERIMENTS,
    "exp-run-cancel": Action.RUN_EXPERIMENTS,
    "exp-run-resume": Action.RUN_EXPERIMENTS,
    "results-label-pass": Action.RUN_EXPERIMENTS,
    "results-label-fail": Action.RUN_EXPERIMENTS,
    "results-promote": Action.MOVE_LABEL,
}


def _post_js(action: str, field: str | None) -> str:
    """Browser code posting a one-field form (plus the CSRF token) to `action`; the page reloads."""
    return f"""(value) => {{
  const token = (document.cookie.match(/(?:^|; )pm_csrf=([^;]*)/) || [])[1] || "";
  const form = document.createElement("form");
  form.method = "post"; form.action = {json.dumps(action)};
  const fields = [["csrf_token", decodeURIComponent(token)]];
  {"fields.push([" + json.dumps(field) + ", value]);" if field else ""}
  for (const [name, v] of fields) {{
    const input = document.createElement("input");
    input.type = "hidden"; input.name = name; input.value = v ?? ""; form.appendChild(input);
  }}
  document.body.appendChild(form); form.submit();
  return [];
}}"""


class HostedHeader:
    def __init__(self, ui: UI):
        self.ui = ui
        with gr.Row(elem_id="pm-account", equal_height=True):
            self.who = gr.Markdown("", elem_id="pm-signed-in")
            self.workspace = ui.tr(gr.Dropdown([], label=text("web.workspace.current"), scale=0, min_width=220,
                                               elem_id="pm-workspace", interactive=True),
                                   label="web.workspace.current")
            self.mfa = ui.tr(gr.Button(text("web.mfa.title"), size="sm", scale=0, min_width=120, link="/mfa",
                                       elem_id="pm-mfa-link"), value="web.mfa.title")
            self.sign_out = ui.tr(gr.Button(text("web.logout.submit"), size="sm", scale=0, min_width=110,
                                            elem_id="pm-sign-out"), value="web.logout.submit")
        self.workspace.input(None, [self.workspace], None, js=_post_js("/workspace", "workspace"))
        self.sign_out.click(None, None, None, js=_post_js("/logout", None))
        self.controls: list[tuple[object, Action]] = []

    def collect_controls(self, demo: gr.Blocks) -> None:
        self.controls = [(block, ROLE_CONTROLS[block.elem_id]) for block in demo.blocks.values()
                         if getattr(block, "elem_id", None) in ROLE_CONTROLS]

    @property
    def outputs(self) -> list:
        return [self.who, self.workspace, *(block for block, _ in self.controls)]

    def on_load(self, ctx) -> dict:
        """The header for the caller, and their role's controls shown or hidden."""
        workspaces = self.ui.services.accounts.workspaces(ctx)
        current = next((w for w in workspaces if w["id"] == ctx.tenant_id), None)
        role = text(f"web.roles.{ctx.role}", ctx.locale)
        updates = {
            self.who: text("web.workspace.signed_in_as", ctx.locale, role=role,
                           workspace=current["name"] if current else ""),
            self.workspace: gr.update(choices=[(w["name"], w["slug"]) for w in workspaces],
                                      value=current["slug"] if current else None,
                                      visible=len(workspaces) > 1),
        }
        for block, action in self.controls:
            updates[block] = gr.update(visible=allowed(ctx.role, action))
        return updates
