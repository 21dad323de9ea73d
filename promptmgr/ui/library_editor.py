"""The prompt editor of the Library tab: every field, text or chat content, live variables, lint
and token count, Save (a new version), New prompt and Delete with confirmation.

`loaded` holds what the editor started from ({"name", "version", "kind", "content", "messages",
"variables"}, None for a new prompt): Save sends its version as base_version, so a stale save
is refused with the conflict message and the form keeps what the user typed."""
from __future__ import annotations

import gradio as gr

from .. import templating
from ..context import TenantContext
from ..errors import PromptMgrError, TemplateError
from ..schemas import PromptCreate, PromptPublic, PromptUpdate, parse
from .common import UI, choices, merge_updates, status_line, text, ui_message
from .library_chat import ChatEditor, split_message
from .library_history import History

_VISIBILITY = ("private", "public")
# What templating.normalize_declarations gives a variable the prompt did not declare: the type the
# variable list announces for a new variable (tests/test_ui_library.py keeps the two in step).
NEW_VARIABLE_TYPE = "string"
_KINDS = ("text", "chat")


def _md_escape(value: str) -> str:
    return "".join("\\" + c if c in "\\`*_{}[]<>()#+-.!|" else c for c in value)


class Editor:
    """The form, built inside `column` (library_tab.py builds it when a prompt is first opened or a
    new one started; the column stays hidden until then)."""

    def __init__(self, ui: UI, column: gr.Column):
        self.ui = ui
        self.column = column
        self.loaded = gr.State(None)
        self.header = gr.Markdown(text("ui.library.editor.new_header"), elem_id="pm-editor-header")
        # Asked before unsaved edits would be replaced by another prompt or a new one.
        self.pending = gr.State(None)
        with gr.Row(visible=False, elem_id="pm-confirm-discard") as self.discard_row:
            self.discard_text = gr.Markdown(elem_id="pm-discard-text")
            self.discard_yes = ui.tr(gr.Button(text("ui.library.editor.discard_yes"), variant="stop",
                                               elem_id="pm-discard-yes"), value="ui.library.editor.discard_yes")
            self.discard_no = ui.tr(gr.Button(text("ui.library.editor.discard_no"), variant="primary",
                                              elem_id="pm-discard-no"), value="ui.library.editor.discard_no")
        with gr.Tabs(elem_id="pm-editor-tabs"):
            with ui.tr(gr.Tab(text("ui.library.editor.tab_edit"), id="edit"), label="ui.library.editor.tab_edit"):
                self._build_form(ui)
            with ui.tr(gr.Tab(text("ui.library.editor.tab_history"), id="history", elem_id="pm-history-tab"),
                       label="ui.library.editor.tab_history"):
                self.history = History(ui)

    def _build_form(self, ui: UI) -> None:
        with gr.Row():
            self.name = ui.tr(gr.Textbox(label=text("ui.library.editor.name"), info=text("ui.library.editor.name_info"),
                                         max_length=100, elem_id="pm-name"),
                              label="ui.library.editor.name", info="ui.library.editor.name_info")
            self.title = ui.tr(gr.Textbox(label=text("ui.library.editor.title"), max_length=300, elem_id="pm-title"),
                               label="ui.library.editor.title")
        self.description = ui.tr(gr.Textbox(label=text("ui.library.editor.description"), lines=2, max_lines=6,
                                            elem_id="pm-description"), label="ui.library.editor.description")
        with gr.Row():
            self.category = ui.tr(gr.Dropdown([], value=None, allow_custom_value=True, filterable=True,
                                              label=text("ui.library.editor.category"), elem_id="pm-category"),
                                  label="ui.library.editor.category")
            self.tags = ui.tr(gr.Dropdown([], value=[], multiselect=True, allow_custom_value=True,
                                          label=text("ui.library.editor.tags"),
                                          info=text("ui.library.editor.tags_info"),
                                          elem_id="pm-tags"),
                              label="ui.library.editor.tags", info="ui.library.editor.tags_info")
        with gr.Row():
            self.kind = ui.tr(gr.Radio(choices("en", [(f"ui.library.kind.{k}", k) for k in _KINDS]), value="text",
                                       label=text("ui.library.editor.kind"), elem_id="pm-kind"),
                              label="ui.library.editor.kind",
                              choices=",".join(f"ui.library.kind.{k}={k}" for k in _KINDS))
            self.visibility = ui.tr(gr.Radio(choices("en", [(f"ui.library.visibility.{v}", v) for v in _VISIBILITY]),
                                             value="private", label=text("ui.library.editor.visibility"),
                                             elem_id="pm-visibility"),
                                    label="ui.library.editor.visibility",
                                    choices=",".join(f"ui.library.visibility.{v}={v}" for v in _VISIBILITY))
            self.enhancement = ui.tr(gr.Checkbox(False, label=text("ui.library.editor.enhancement"),
                                                 info=text("ui.library.editor.enhancement_info"),
                                                 elem_id="pm-enhancement"),
                                     label="ui.library.editor.enhancement", info="ui.library.editor.enhancement_info")
        self.content = ui.tr(gr.Textbox(lines=10, max_lines=40, label=text("ui.library.editor.content"),
                                        info=text("ui.library.editor.content_info"), elem_id="pm-content"),
                             label="ui.library.editor.content", info="ui.library.editor.content_info")
        self.chat = ChatEditor(ui)
        with gr.Row(equal_height=False):
            self.variables = gr.Markdown(elem_id="pm-variables")
            self.lint = gr.Markdown(elem_id="pm-lint")
        with gr.Row(equal_height=True):
            self.model = ui.tr(gr.Dropdown([], value=None, allow_custom_value=True, scale=2,
                                           label=text("ui.library.editor.model"),
                                           info=text("ui.library.editor.model_info"), elem_id="pm-model"),
                               label="ui.library.editor.model", info="ui.library.editor.model_info")
            self.tokens = gr.Markdown(elem_id="pm-tokens")
        with gr.Row(equal_height=True):
            self.message = ui.tr(gr.Textbox(label=text("ui.library.editor.change_message"), scale=3,
                                            placeholder=text("ui.library.editor.change_message_placeholder"),
                                            elem_id="pm-change-message"),
                                 label="ui.library.editor.change_message",
                                 placeholder="ui.library.editor.change_message_placeholder")
        with gr.Row():
            self.save = ui.tr(gr.Button(text("ui.library.editor.save"), variant="primary", scale=2,
                                        elem_id="pm-save"), value="ui.library.editor.save")
            self.delete = ui.tr(gr.Button(text("ui.library.editor.delete"), variant="stop", scale=1,
                                          elem_id="pm-delete"), value="ui.library.editor.delete")
        with gr.Row(visible=False, elem_id="pm-confirm-delete") as self.confirm_row:
            self.confirm_text = gr.Markdown()
            self.confirm_yes = ui.tr(gr.Button(text("ui.library.editor.delete_yes"), variant="stop",
                                               elem_id="pm-delete-yes"), value="ui.library.editor.delete_yes")
            self.confirm_no = ui.tr(gr.Button(text("ui.library.editor.delete_no"), elem_id="pm-delete-no"),
                                    value="ui.library.editor.delete_no")
        self.status = status_line("pm-editor-status")

    # --- what the form shows ---------------------------------------------------------------
    @property
    def fields(self) -> list:
        return [self.name, self.title, self.description, self.category, self.tags, self.enhancement,
                self.visibility, self.kind, self.content]

    @property
    def analysis(self) -> list:
        return [self.variables, self.lint, self.tokens]

    @property
    def outputs(self) -> list:
        """Everything opening, saving or clearing a prompt updates."""
        return [self.column, self.loaded, self.header, *self.fields, *self.chat.outputs, self.chat.group, self.message,
                *self.analysis, self.confirm_row, self.discard_row, self.discard_text, self.pending,
                *self.history.outputs]

    @property
    def draft(self) -> list:
        """What the user may have typed: the inputs of is_dirty()."""
        return [self.loaded, *self.fields, self.chat.messages, self.message]

    @staticmethod
    def is_dirty(loaded: dict | None, name, title, description, category, tags, enhancement, visibility, kind,
                 content, messages, message) -> bool:
        """Whether the form holds edits that are not saved (a new prompt: anything typed)."""
        typed_messages = any(split_message(m)[1].strip() or split_message(m)[2] for m in messages or [])
        if loaded is None:
            return bool((name or "").strip() or (title or "").strip() or (description or "").strip() or category
                        or tags or (content or "").strip() or typed_messages or (message or "").strip())
        if loaded["kind"] == "chat":
            changed_content = (messages or []) != (loaded["messages"] or [])
        else:
            changed_content = (content or "") != (loaded["content"] or "")
        return changed_content or bool((message or "").strip()) or (
            (title or "") != loaded.get("title", "") or (description or "") != loaded.get("description", "")
            or (category or "") != loaded.get("category", "") or sorted(tags or []) != loaded.get("tags", [])
            or bool(enhancement) != loaded.get("is_enhancement", False)
            or (visibility or "private") != loaded.get("visibility", "private"))

    def ask_discard(self, ctx: TenantContext, target: dict, loaded: dict | None) -> dict:
        """Show the Discard / Keep editing question; `target` is what to open once discarded."""
        name = loaded["name"] if loaded else None
        question = (text("ui.library.editor.discard_question", ctx.locale, name=_md_escape(name)) if name
                    else text("ui.library.editor.discard_question_new", ctx.locale))
        return {self.pending: target, self.discard_row: gr.update(visible=True), self.discard_text: question}

    def request(self, ctx: TenantContext, target: dict, model: str | None, loaded: dict | None, *draft) -> dict:
        """Open `target` at once, or first ask when that would throw away unsaved edits."""
        if self.is_dirty(loaded, *draft):
            return self.ask_discard(ctx, target, loaded)
        return self.go(ctx, target, model)

    def go(self, ctx: TenantContext, target: dict, model: str | None) -> dict:
        """Open what `target` names: {"open": NAME} a stored prompt, {"new": True} an empty form."""
        return self.open(ctx, target["open"], model) if target.get("open") else self.blank(ctx, model)

    def _header(self, locale: str, prompt: PromptPublic | None) -> str:
        if prompt is None:
            return text("ui.library.editor.new_header", locale)
        header = text("ui.library.editor.header", locale, name=_md_escape(prompt.name), version=prompt.version,
                      latest=prompt.latest_version, date=prompt.version_created_at.strftime("%Y-%m-%d %H:%M"))
        if prompt.version_author:
            header += " · " + text("ui.library.editor.author", locale, author=_md_escape(prompt.version_author))
        return header

    def fill(self, ctx: TenantContext, prompt: PromptPublic, model: str | None) -> dict:
        """The form showing a stored prompt (its latest version unless another was loaded)."""
        locale = ctx.locale
        is_chat = prompt.messages is not None
        content = "" if is_chat else prompt.content
        messages = prompt.messages or []
        loaded = {"name": prompt.name, "version": prompt.version, "kind": prompt.kind, "content": content,
                  "messages": prompt.messages, "variables": prompt.variables, "title": prompt.title,
                  "description": prompt.description, "category": prompt.category or "",
                  "tags": sorted(prompt.tags), "is_enhancement": prompt.is_enhancement,
                  "visibility": prompt.visibility}
        return {
            self.column: gr.update(visible=True), self.loaded: loaded, self.header: self._header(locale, prompt),
            self.name: gr.update(value=prompt.name, interactive=False), self.title: prompt.title,
            self.description: prompt.description, self.category: prompt.category or None,
            self.tags: prompt.tags, self.enhancement: prompt.is_enhancement, self.visibility: prompt.visibility,
            self.kind: gr.update(value=prompt.kind, interactive=False),
            self.content: gr.update(value=content, visible=not is_chat),
            **self.chat.fill(locale, messages), self.chat.group: gr.update(visible=is_chat),
            self.message: "", self.confirm_row: gr.update(visible=False),
            self.discard_row: gr.update(visible=False), self.pending: None,
            **self.analyze(ctx, loaded, prompt.kind, content, messages, model),
            **self.history.fill(ctx, prompt.name, prompt.version),
        }

    def blank(self, ctx: TenantContext, model: str | None) -> dict:
        """An empty form for a new prompt."""
        locale = ctx.locale
        return {
            self.column: gr.update(visible=True), self.loaded: None, self.header: self._header(locale, None),
            self.name: gr.update(value="", interactive=True), self.title: "", self.description: "",
            self.category: None, self.tags: [], self.enhancement: False, self.visibility: "private",
            self.kind: gr.update(value="text", interactive=True), self.content: gr.update(value="", visible=True),
            **self.chat.fill(locale, []), self.chat.group: gr.update(visible=False),
            self.message: "", self.confirm_row: gr.update(visible=False),
            self.discard_row: gr.update(visible=False), self.pending: None,
            **self.analyze(ctx, None, "text", "", [], model), **self.history.clear(locale),
        }

    def open(self, ctx: TenantContext, name: str, model: str | None) -> dict:
        return self.fill(ctx, self.ui.services.library.get(ctx, name), model)

    def first_view(self, ctx: TenantContext, target: dict, suggestions: dict | None) -> dict:
        """What the form shows when it is built: the model choices, the category and tag
        suggestions, and `target` opened (library_tab.py passes the row clicked or New prompt)."""
        default, _source = self.ui.services.providers.default_model(ctx)
        known = [default] if default else []
        known += [p.model for p in self.ui.services.providers.prices(ctx) if p.model not in known]
        updates = {self.model: gr.update(choices=known, value=default), **self.suggest(suggestions)}
        try:
            shown = self.go(ctx, target, default)
        except PromptMgrError as exc:  # e.g. the prompt was deleted meanwhile: said, and a new form instead
            gr.Warning(ui_message(exc, ctx.locale))
            shown = self.blank(ctx, default)
        # Merged, not replaced: the form's values keep the choices set above.
        return merge_updates(updates, shown)

    def suggest(self, suggestions: dict | None) -> dict:
        """The category and tag names offered in the form (new ones can still be typed)."""
        suggestions = suggestions or {}
        return {self.category: gr.update(choices=list(suggestions.get("categories", []))),
                self.tags: gr.update(choices=list(suggestions.get("tags", [])))}

    # --- live analysis ---------------------------------------------------------------------
    def analyze(self, ctx: TenantContext, loaded: dict | None, kind: str, content: str, messages: list,
                model: str | None) -> dict:
        """Variables, lint warnings (syntax errors with their line) and the token count of what is typed."""
        locale = ctx.locale
        texts = templating.texts_of(content, None) if kind != "chat" else templating.texts_of("", messages or [])
        declared = (loaded or {}).get("variables") or None
        issues = templating.lint(texts, declared)
        names: list[str] = []
        for one in texts:
            try:
                names.extend(n for n in templating.extract_variables(one) if n not in names)
            except TemplateError:
                pass  # reported by lint with its line
        specs = {v["name"]: v for v in declared or []}
        if names:
            lines = [text("ui.library.analysis.variables", locale)]
            for name in names:
                spec = specs.get(name)
                detail = (text("ui.library.analysis.declared", locale, type=spec["type"],
                               required=text("ui.common.yes" if spec["required"] else "ui.common.no", locale))
                          if spec else text("ui.library.analysis.new_variable", locale, type=NEW_VARIABLE_TYPE,
                                            required=text("ui.common.yes", locale)))
                lines.append(f"- `{name}` — {detail}")
            variables = "\n".join(lines)
        else:
            variables = text("ui.library.analysis.no_variables", locale)
        warnings = [("✗ " if issue.kind == "syntax" else "⚠ ")
                    + _md_escape(text(issue.message_key, locale, **issue.params)) for issue in issues]
        lint = "\n\n".join(warnings) if warnings else text("ui.library.analysis.lint_ok", locale)
        return {self.variables: variables, self.lint: lint, self.tokens: self._tokens(ctx, texts, model)}

    def _tokens(self, ctx: TenantContext, texts: list[str], model: str | None) -> str:
        locale = ctx.locale
        joined = "\n\n".join(texts)
        if not joined.strip():
            return text("ui.library.analysis.tokens_empty", locale)
        try:
            estimate = self.ui.services.testing.estimate(ctx, joined, (model or "").strip() or None)
        except PromptMgrError as exc:  # e.g. a model string that cannot be resolved: shown, not raised
            return "⚠ " + _md_escape(ui_message(exc, locale))
        key = "ui.library.analysis.tokens_exact" if estimate.exact else "ui.library.analysis.tokens_estimate"
        model_name = estimate.model or text("ui.library.analysis.any_model", locale)
        parts = [text(key, locale, tokens=estimate.tokens, model=model_name)]
        if estimate.cost is not None:
            parts.append(text("ui.library.analysis.cost", locale, cost=f"{estimate.cost:.6f}"))
        else:
            parts.append(text("ui.library.analysis.no_price", locale))
        if estimate.warning:
            parts.append("⚠ " + estimate.warning)
        return " · ".join(parts)

    # --- saving ----------------------------------------------------------------------------
    def save_prompt(self, ctx: TenantContext, loaded: dict | None, name, title, description, category, tags,
                    enhancement, visibility, kind, content, messages, message) -> PromptPublic:
        fields = {"title": title or "", "description": description or "", "category": category or "",
                  "tags": list(tags or []), "is_enhancement": bool(enhancement), "visibility": visibility or "private"}
        library = self.ui.services.library
        if loaded is None:
            return library.create(ctx, parse(PromptCreate, {
                "name": (name or "").strip(), "kind": kind or "text", **fields, "message": message or "",
                **({"messages": messages} if kind == "chat" else {"content": content})}))
        update = {**fields, "base_version": loaded["version"], "message": message or ""}
        if loaded["kind"] == "chat":
            if messages != loaded["messages"]:
                update["messages"] = messages
        elif content != loaded["content"]:
            update["content"] = content
        return library.update(ctx, loaded["name"], parse(PromptUpdate, update))

    # --- wiring ----------------------------------------------------------------------------
    def wire(self, refresh_after, new_button: gr.Button, suggestions: gr.State) -> None:
        """Connect the editor; `refresh_after(event)` chains a refresh of the table and filters;
        `new_button` (next to the search box) starts a new prompt; `suggestions` (the Library's
        category and tag names, refreshed after every change) feeds the form's choices."""
        ui, locale = self.ui, self.ui.locale
        live_inputs = [locale, self.loaded, self.kind, self.content, self.chat.messages, self.model]

        @ui.handler
        def live(ctx, loaded, kind, content, messages, model):
            return self.analyze(ctx, loaded, kind, content, messages, model)

        def after_change(event):
            event.then(live, live_inputs, self.analysis, show_progress="hidden", trigger_mode="always_last")

        @ui.handler
        def switch_kind(ctx, loaded, kind, content, messages, model):
            # Only a new prompt can change kind; what was typed moves over instead of vanishing.
            if loaded is not None:
                return {}
            if kind == "chat":
                if not messages:
                    messages = [{"role": "user", "content": [{"type": "text", "text": content or ""}]}]
                return {**self.chat.fill(ctx.locale, messages), self.chat.group: gr.update(visible=True),
                        self.content: gr.update(visible=False)}
            if not (content or "").strip() and messages:
                content = "\n\n".join(split_message(m)[1] for m in messages if split_message(m)[1])
            return {self.content: gr.update(value=content, visible=True), self.chat.group: gr.update(visible=False)}

        @ui.handler
        def save(ctx, loaded, *values):
            *fields, model = values
            prompt = self.save_prompt(ctx, loaded, *fields)
            loc = ctx.locale
            if loaded is None:
                gr.Info(text("ui.library.editor.created", loc, name=prompt.name))
            elif prompt.version != loaded["version"]:
                gr.Info(text("ui.library.editor.saved", loc, name=prompt.name, version=prompt.version))
            else:
                gr.Info(text("ui.library.editor.saved_fields", loc, name=prompt.name, version=prompt.version))
            return self.fill(ctx, prompt, model)

        @ui.handler
        def new(ctx, model, *draft):
            return self.request(ctx, {"new": True}, model, *draft)

        @ui.handler
        def discard(ctx, pending, model):
            return self.go(ctx, pending, model) if pending else {self.discard_row: gr.update(visible=False)}

        @ui.handler
        def ask_delete(ctx, loaded):
            if loaded is None:
                raise gr.Error(text("ui.library.editor.nothing_to_delete", ctx.locale), print_exception=False)
            return {self.confirm_row: gr.update(visible=True),
                    self.confirm_text: text("ui.library.editor.delete_confirm", ctx.locale,
                                            name=_md_escape(loaded["name"]))}

        @ui.handler
        def delete(ctx, loaded, model):
            if loaded is None:
                return {self.confirm_row: gr.update(visible=False)}
            ui.services.library.delete(ctx, loaded["name"])
            gr.Info(text("ui.library.editor.deleted", ctx.locale, name=loaded["name"]))
            return {**self.blank(ctx, model), self.column: gr.update(visible=False)}

        # Every action of the form shows its progress and errors on the status line, never over
        # the fields (see common.status_line).
        status = {"show_progress_on": [self.status]}
        self.chat.wire(after_change, status)
        after_change(self.kind.input(switch_kind, live_inputs, [*self.chat.outputs, self.chat.group, self.content],
                                     **status))
        self.content.input(live, live_inputs, self.analysis, show_progress="hidden", trigger_mode="always_last")
        self.model.change(live, live_inputs, self.analysis, show_progress="hidden", trigger_mode="always_last")
        save_inputs = [locale, self.loaded, *self.fields, self.chat.messages, self.message, self.model]
        refresh_after(self.save.click(save, save_inputs, self.outputs, concurrency_limit=None, **status))
        new_button.click(new, [locale, self.model, *self.draft], self.outputs, **status)
        self.discard_yes.click(discard, [locale, self.pending, self.model], self.outputs, **status)
        self.discard_no.click(ui.handler(lambda ctx: {self.discard_row: gr.update(visible=False), self.pending: None}),
                              [locale], [self.discard_row, self.pending], **status)
        self.delete.click(ask_delete, [locale, self.loaded], [self.confirm_row, self.confirm_text], **status)
        self.confirm_no.click(ui.handler(lambda ctx: {self.confirm_row: gr.update(visible=False)}), [locale],
                              [self.confirm_row], **status)
        refresh_after(self.confirm_yes.click(delete, [locale, self.loaded, self.model], self.outputs, **status))
        self.history.wire(self, refresh_after)
        suggestions.change(ui.handler(lambda ctx, names: self.suggest(names)), [locale, suggestions],
                           [self.category, self.tags], show_progress="hidden")
