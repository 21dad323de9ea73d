"""Enhance and Translate on the Testing tab: a model proposes a candidate for the chosen prompt,
shown with its diff; Accept saves it as a new version (or, from either action, as a new prompt).
Accepting a candidate that lost placeholders asks first, naming them.

Nothing is saved until Accept. A text candidate can be edited before accepting; a chat
candidate is shown as text and saved message by message as the model returned it."""
from __future__ import annotations

import gradio as gr

from ..i18n import LANGUAGE_NAMES
from ..services.enhance import placeholder_changes
from .common import UI, text
from .feedback import Stop, reports

LANGUAGES = (*LANGUAGE_NAMES.values(), "Italiano", "Nederlands", "Polski", "Türkçe", "한국어", "हिन्दी")


def diff_highlights(diff: str) -> list[tuple[str, str | None]]:
    """A unified diff as HighlightedText: added lines green, removed lines red."""
    items = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---")):
            items.append((line + "\n", None))
        elif line.startswith("+"):
            items.append((line + "\n", "+"))
        elif line.startswith("-"):
            items.append((line + "\n", "-"))
        else:
            items.append((line + "\n", None))
    return items


def candidate_info(locale: str, candidate) -> str:
    if candidate.action == "enhance":
        line = text("ui_testing.candidate_enhanced", locale, name=candidate.prompt_name, version=candidate.base_version,
                    enhancer=candidate.enhancer or "", model=candidate.model)
    else:
        line = text("ui_testing.candidate_translated", locale, name=candidate.prompt_name,
                    version=candidate.base_version, language=candidate.target_language or "", model=candidate.model)
    if candidate.missing_placeholders or candidate.added_placeholders:
        line += "\n\n⚠ " + text("ui_testing.placeholders_changed", locale,
                                 missing=", ".join(candidate.missing_placeholders) or "-",
                                 added=", ".join(candidate.added_placeholders) or "-")
    if not candidate.diff:
        line += "\n\n" + text("ui_testing.no_changes", locale)
    return line


def build_actions(ui: UI, prompt, version) -> tuple[list, list]:
    """The Enhance and Translate panel (placed under the prompt picker). Returns its model pickers
    (filled by the tab's loader with the same choices as the bench) and the accept-as-new-version events."""
    from .testing_view import prompt_choices, version_choices

    services, en = ui.services, "en"
    candidate = gr.State(None)
    pending = gr.State(None)  # the new name (or "" for a new version) waiting for a confirmation
    with ui.tr(gr.Accordion(text("ui_testing.actions", en), open=False, elem_id="testing-actions"),
               label="ui_testing.actions"):
        with gr.Row():
            with gr.Column():
                ui.tr(gr.Markdown(text("ui_testing.enhance_heading", en)), value="ui_testing.enhance_heading")
                enhancer = ui.tr(gr.Dropdown(label=text("ui_testing.enhancer", en), choices=[], value=None,
                                             filterable=True, elem_id="testing-enhancer"), label="ui_testing.enhancer")
                enhance_model = ui.tr(gr.Dropdown(label=text("ui_testing.action_model", en), choices=[], value=None,
                                                  allow_custom_value=True, filterable=True,
                                                  elem_id="testing-enhance-model"), label="ui_testing.action_model")
                enhance = ui.tr(gr.Button(text("ui_testing.enhance_button", en), elem_id="testing-enhance"),
                                value="ui_testing.enhance_button")
            with gr.Column():
                ui.tr(gr.Markdown(text("ui_testing.translate_heading", en)), value="ui_testing.translate_heading")
                language = ui.tr(gr.Dropdown(label=text("ui_testing.language", en), choices=list(LANGUAGES), value=None,
                                             allow_custom_value=True, filterable=True, elem_id="testing-language"),
                                 label="ui_testing.language")
                translate_model = ui.tr(gr.Dropdown(label=text("ui_testing.action_model", en), choices=[], value=None,
                                                    allow_custom_value=True, filterable=True,
                                                    elem_id="testing-translate-model"), label="ui_testing.action_model")
                translate = ui.tr(gr.Button(text("ui_testing.translate_button", en), elem_id="testing-translate"),
                                  value="ui_testing.translate_button")
        status = gr.Markdown("", elem_id="testing-action-status")
        info = gr.Markdown("", elem_id="testing-candidate-info")
        with gr.Row():
            candidate_text = ui.tr(gr.Textbox(label=text("ui_testing.candidate", en), lines=12, max_lines=30,
                                              interactive=True, elem_id="testing-candidate"),
                                   label="ui_testing.candidate")
            # Its height is capped in theme.CSS (#testing-diff): a long diff scrolls inside itself.
            diff = ui.tr(gr.HighlightedText(label=text("ui_testing.diff", en), color_map={"+": "green", "-": "red"},
                                            show_inline_category=False, combine_adjacent=False,
                                            elem_id="testing-diff"), label="ui_testing.diff")
        message = ui.tr(gr.Textbox(label=text("ui_testing.change_message", en), elem_id="testing-change-message"),
                        label="ui_testing.change_message")
        with gr.Row():
            accept = ui.tr(gr.Button(text("ui_testing.accept_version", en), variant="primary", interactive=False,
                                     elem_id="testing-accept"), value="ui_testing.accept_version")
            new_name = ui.tr(gr.Textbox(label=text("ui_testing.new_name", en), elem_id="testing-new-name"),
                             label="ui_testing.new_name")
            accept_new = ui.tr(gr.Button(text("ui_testing.accept_new", en), interactive=False,
                                         elem_id="testing-accept-new"), value="ui_testing.accept_new")
        with gr.Group(visible=False, elem_id="testing-confirm") as confirm_box:
            confirm_text = gr.Markdown("", elem_id="testing-confirm-text")
            with gr.Row():
                confirm = ui.tr(gr.Button(text("ui_testing.confirm_accept", en), variant="stop",
                                          elem_id="testing-confirm-yes"), value="ui_testing.confirm_accept")
                cancel = ui.tr(gr.Button(text("ui_testing.confirm_cancel", en), elem_id="testing-confirm-no"),
                               value="ui_testing.confirm_cancel")
        accepted = gr.Markdown("", elem_id="testing-accepted")

    # --- handlers ------------------------------------------------------------------------
    def show(locale, result, default_message: str) -> dict:
        return {candidate: result.model_dump(mode="json"), info: candidate_info(locale, result),
                candidate_text: gr.update(value=result.text, interactive=result.kind == "text"),
                diff: diff_highlights(result.diff), message: default_message, accepted: "",
                accept: gr.update(interactive=True), accept_new: gr.update(interactive=True),
                confirm_box: gr.update(visible=False)}

    @ui.handler
    def load(ctx):
        return {enhancer: gr.update(choices=prompt_choices(ui, ctx, None, is_enhancement=True))}

    @ui.handler
    @reports(status)
    def do_enhance(ctx, name, enhancer_name, model):
        if not name:
            raise Stop("ui_testing.choose_prompt")
        if not enhancer_name:
            raise Stop("ui_testing.choose_enhancer")
        result = services.enhance.enhance(ctx, name, enhancer_name, model or None)
        return show(ctx.locale, result, text("ui_testing.enhanced_message", ctx.locale, enhancer=enhancer_name,
                                             model=result.model))

    @ui.handler
    @reports(status)
    def do_translate(ctx, name, target, model):
        if not name:
            raise Stop("ui_testing.choose_prompt")
        result = services.enhance.translate(ctx, name, target or "", model or None)
        return show(ctx.locale, result, text("ui_testing.translated_message", ctx.locale,
                                             language=result.target_language, model=result.model))

    def lost_placeholders(ctx, stored, edited) -> list[str]:
        if stored["kind"] == "chat":
            return list(stored.get("missing_placeholders") or [])
        base = services.library.get(ctx, stored["prompt_name"], version=stored["base_version"])
        return placeholder_changes(base.content or "", edited or "")[0]

    def save(ctx, stored, edited, change_message, as_name, confirmed) -> dict:
        if not stored:
            raise Stop("ui_testing.no_candidate")
        lost = [] if confirmed else lost_placeholders(ctx, stored, edited)
        if lost:  # ask first: the saved prompt would no longer fill these
            return {pending: as_name or "", confirm_box: gr.update(visible=True),
                    confirm_text: "⚠ " + text("ui_testing.confirm_lost", ctx.locale,
                                               placeholders=", ".join(f"`{p}`" for p in lost))}
        chat = stored["kind"] == "chat"
        saved = services.enhance.accept(
            ctx, stored["prompt_name"], candidate_text=None if chat else edited,
            base_version=stored["base_version"], message=change_message or "",
            messages=stored["messages"] if chat else None, new_name=as_name or None)
        done = text("ui_testing.accepted_new" if as_name else "ui_testing.accepted_version", ctx.locale,
                    name=saved.name, version=saved.version)
        gr.Info(done)
        updates = {accepted: "✓ " + done, candidate: None, accept: gr.update(interactive=False),
                   accept_new: gr.update(interactive=False), pending: None, confirm_box: gr.update(visible=False)}
        if not as_name:
            updates[version] = gr.update(choices=version_choices(ctx.locale, saved), value="latest")
        return updates

    @ui.handler
    @reports(status)
    def do_accept(ctx, stored, edited, change_message):
        return save(ctx, stored, edited, change_message, None, False)

    @ui.handler
    @reports(status)
    def do_accept_new(ctx, stored, edited, change_message, as_name):
        if not (as_name or "").strip():
            raise Stop("ui_testing.new_name_required")
        return save(ctx, stored, edited, change_message, as_name.strip(), False)

    @ui.handler
    @reports(status)
    def do_confirm(ctx, stored, edited, change_message, as_name):
        return save(ctx, stored, edited, change_message, as_name or None, True)

    def do_cancel():
        return {pending: None, confirm_box: gr.update(visible=False)}

    # --- wiring --------------------------------------------------------------------------
    shown = [candidate, info, candidate_text, diff, message, accepted, accept, accept_new, confirm_box, status]
    ui.on_load(load, [], [enhancer])
    enhance.click(do_enhance, [ui.locale, prompt, enhancer, enhance_model], shown)
    translate.click(do_translate, [ui.locale, prompt, language, translate_model], shown)
    done_outputs = [accepted, candidate, accept, accept_new, version, pending, confirm_box, confirm_text, status]
    accepted_version = accept.click(do_accept, [ui.locale, candidate, candidate_text, message], done_outputs)
    accept_new.click(do_accept_new, [ui.locale, candidate, candidate_text, message, new_name], done_outputs)
    confirmed = confirm.click(do_confirm, [ui.locale, candidate, candidate_text, message, pending], done_outputs)
    cancel.click(do_cancel, None, [pending, confirm_box], queue=False)
    return [enhance_model, translate_model], [accepted_version, confirmed]
