"""Enhance and Translate on the Testing tab: a model proposes a candidate for the chosen prompt,
shown with its diff; Accept saves it as a new version (or, from either action, as a new prompt).

Nothing is saved until Accept. A text candidate can be edited before accepting; a chat
candidate is shown as text and saved message by message as the model returned it."""
from __future__ import annotations

import gradio as gr

from ..errors import ValidationError
from ..i18n import LANGUAGE_NAMES
from .common import UI, handler, text

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


def build_actions(ui: UI, prompt, version) -> list:
    """The Enhance and Translate panels under the bench. Returns their model pickers (filled by
    the tab's loader with the same choices as the bench) and the accept-as-new-version event."""
    from .testing_tab import prompt_choices, version_choices

    services, en = ui.services, "en"
    candidate = gr.State(None)
    with ui.tr(gr.Accordion(text("ui_testing.actions", en), open=False), label="ui_testing.actions"):
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
        info = gr.Markdown("", elem_id="testing-candidate-info")
        with gr.Row():
            candidate_text = ui.tr(gr.Textbox(label=text("ui_testing.candidate", en), lines=12, max_lines=30,
                                              interactive=True, elem_id="testing-candidate"),
                                   label="ui_testing.candidate")
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
        accepted = gr.Markdown("", elem_id="testing-accepted")

    # --- handlers ------------------------------------------------------------------------
    def show(locale, result, default_message: str) -> dict:
        return {candidate: result.model_dump(mode="json"), info: candidate_info(locale, result),
                candidate_text: gr.update(value=result.text, interactive=result.kind == "text"),
                diff: diff_highlights(result.diff), message: default_message, accepted: "",
                accept: gr.update(interactive=True), accept_new: gr.update(interactive=True)}

    @handler
    def load(locale):
        return {enhancer: gr.update(choices=prompt_choices(ui, locale, None, is_enhancement=True))}

    @handler
    def do_enhance(locale, name, enhancer_name, model):
        if not name:
            raise ValidationError("ui_testing.choose_prompt")
        if not enhancer_name:
            raise ValidationError("ui_testing.choose_enhancer")
        result = services.enhance.enhance(ui.ctx(locale), name, enhancer_name, model or None)
        return show(locale, result, text("ui_testing.enhanced_message", locale, enhancer=enhancer_name,
                                         model=result.model))

    @handler
    def do_translate(locale, name, target, model):
        if not name:
            raise ValidationError("ui_testing.choose_prompt")
        result = services.enhance.translate(ui.ctx(locale), name, target or "", model or None)
        return show(locale, result, text("ui_testing.translated_message", locale, language=result.target_language,
                                         model=result.model))

    def _accept(locale, stored, edited, change_message, as_name):
        if not stored:
            raise ValidationError("ui_testing.no_candidate")
        chat = stored["kind"] == "chat"
        saved = services.enhance.accept(
            ui.ctx(locale), stored["prompt_name"], candidate_text=None if chat else edited,
            base_version=stored["base_version"], message=change_message or "",
            messages=stored["messages"] if chat else None, new_name=as_name)
        done = text("ui_testing.accepted_new" if as_name else "ui_testing.accepted_version", locale,
                    name=saved.name, version=saved.version)
        gr.Info(done)
        updates = {accepted: "✓ " + done, candidate: None, accept: gr.update(interactive=False),
                   accept_new: gr.update(interactive=False)}
        if not as_name:
            updates[version] = gr.update(choices=version_choices(locale, saved), value="latest")
        return updates

    @handler
    def do_accept(locale, stored, edited, change_message):
        return _accept(locale, stored, edited, change_message, None)

    @handler
    def do_accept_new(locale, stored, edited, change_message, as_name):
        if not (as_name or "").strip():
            raise ValidationError("ui_testing.new_name_required")
        return _accept(locale, stored, edited, change_message, as_name.strip())

    # --- wiring --------------------------------------------------------------------------
    shown = [candidate, info, candidate_text, diff, message, accepted, accept, accept_new]
    ui.on_load(load, [], [enhancer])
    enhance.click(do_enhance, [ui.locale, prompt, enhancer, enhance_model], shown)
    translate.click(do_translate, [ui.locale, prompt, language, translate_model], shown)
    done_outputs = [accepted, candidate, accept, accept_new, version]
    accepted_version = accept.click(do_accept, [ui.locale, candidate, candidate_text, message], done_outputs)
    accept_new.click(do_accept_new, [ui.locale, candidate, candidate_text, message, new_name], done_outputs)
    return [enhance_model, translate_model], [accepted_version]
