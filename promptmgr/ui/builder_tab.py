"""The Builder tab: pick library prompts, order them, combine them through a template from the
gallery (or a custom one), preview live with variables and token count, save as a new prompt.

The chosen prompts live in a gr.State (a list of names); the preview is recomputed after every
change, and a preview error is shown next to the preview instead of a popup on every keystroke."""
from __future__ import annotations

import gradio as gr

from ..errors import PromptMgrError
from ..i18n import t
from .common import UI, text
from .feedback import Stop, reports
from .testing_view import format_cost, matches_note, search_prompts

CUSTOM = "custom"


def _tags(value: str | None) -> list[str]:
    return [tag.strip() for tag in (value or "").replace("\n", ",").split(",") if tag.strip()]


def template_title(locale: str, item) -> str:
    # Built-in templates have translated titles; a template someone added to the YAML file
    # without locale keys shows the title written there.
    key = f"ui_builder.templates.{item.name}.title"
    translated = t(key, locale)
    return item.title if translated == key else translated


def template_description(locale: str, item) -> str:
    key = f"ui_builder.templates.{item.name}.description"
    translated = t(key, locale)
    return item.description if translated == key else translated


def prompt_rows(ui: UI, ctx, query: str | None) -> tuple[list[list[str]], str]:
    """[name, title] rows for the prompts matching the typed words (all prompts by name without
    any), and the note saying how many more a search reaches."""
    page = search_prompts(ui, ctx, query)
    return [[item.name, item.title] for item in page.items], matches_note(ctx.locale, page)


def result_headers(locale: str) -> list[str]:
    return [text("ui.library.columns.name", locale), text("ui.library.columns.title", locale)]


def stats_markdown(locale: str, result) -> str:
    variables = ", ".join(f"`{name}`" for name in result.variable_names) or text("ui_builder.no_variables", locale)
    lines = [text("ui_builder.stats_variables", locale, variables=variables)]
    tokens_key = "ui_builder.stats_tokens_exact" if result.tokens_exact else "ui_builder.stats_tokens_estimate"
    lines.append(text(tokens_key, locale, tokens=result.tokens))
    if result.cost is not None:
        lines.append(text("ui_builder.stats_cost", locale, cost=format_cost(locale, result.cost)))
    lines.append(text("ui_builder.stats_parts", locale,
                      parts=", ".join(f"{p.name} v{p.version}" for p in result.parts)))
    for key in result.warnings:
        lines.append("⚠ " + text(key, locale))
    return "\n\n".join(lines)


def chosen_update(parts: list[str], selected: int | None) -> dict:
    choices = [(f"{i + 1}. {name}", str(i)) for i, name in enumerate(parts)]
    value = str(selected) if selected is not None and 0 <= selected < len(parts) else None
    return gr.update(choices=choices, value=value)


def selected_index(parts: list[str], selected) -> int | None:
    try:
        index = int(selected)
    except (TypeError, ValueError):
        return None
    return index if 0 <= index < len(parts) else None


def build(ui: UI) -> None:
    services = ui.services
    en = "en"

    def mode_choices(ctx) -> list[tuple[str, str]]:
        return [(template_title(ctx.locale, item), item.name) for item in services.builder.templates(ctx)] \
            + [(text("ui_builder.custom_choice", ctx.locale), CUSTOM)]

    build_ctx = ui.build_context(en)  # English labels for the first paint, relabelled on load

    ui.tr(gr.Markdown(text("ui_builder.intro", en)), value="ui_builder.intro")
    parts = gr.State([])
    with gr.Row():
        with gr.Column(scale=2):
            search = ui.tr(gr.Textbox(label=text("ui_builder.search", en),
                                      placeholder=text("ui_builder.search_placeholder", en),
                                      elem_id="builder-search"),
                           label="ui_builder.search", placeholder="ui_builder.search_placeholder")
            # A table of matches rather than a dropdown: a click reads the row the browser shows,
            # while a dropdown whose choices change under it can report a stale choice (Gradio 6).
            picker = ui.tr(gr.Dataframe(headers=result_headers(en), value=[], interactive=False, max_height=260,
                                        wrap=False, label=text("ui_builder.pick", en), elem_id="builder-picker"),
                           label="ui_builder.pick", headers="ui.library.columns.name,ui.library.columns.title")
            matches = gr.Markdown("", elem_id="builder-matches")
            ui.tr(gr.Markdown(text("ui_builder.pick_info", en)), value="ui_builder.pick_info")
            chosen = ui.tr(gr.Radio(label=text("ui_builder.chosen", en), choices=[], elem_id="builder-chosen"),
                           label="ui_builder.chosen")
            with gr.Row():
                # Disabled until something is chosen (Clear: until there is something to clear).
                up = ui.tr(gr.Button(text("ui_builder.move_up", en), size="sm", interactive=False,
                                     elem_id="builder-up"), value="ui_builder.move_up")
                down = ui.tr(gr.Button(text("ui_builder.move_down", en), size="sm", interactive=False,
                                       elem_id="builder-down"), value="ui_builder.move_down")
                remove = ui.tr(gr.Button(text("ui_builder.remove", en), size="sm", variant="stop", interactive=False,
                                         elem_id="builder-remove"), value="ui_builder.remove")
                clear = ui.tr(gr.Button(text("ui_builder.clear", en), size="sm", interactive=False,
                                        elem_id="builder-clear"), value="ui_builder.clear")
            mode = ui.tr(gr.Radio(label=text("ui_builder.mode", en), choices=mode_choices(build_ctx),
                                  value="sequential", elem_id="builder-mode"), label="ui_builder.mode")
            mode_info = gr.Markdown(template_description(en, services.builder.template(build_ctx, "sequential")))
            start_custom = ui.tr(gr.Button(text("ui_builder.start_custom", en), size="sm"),
                                 value="ui_builder.start_custom")
            custom = ui.tr(gr.Code(label=text("ui_builder.custom", en), language="jinja2", interactive=True,
                                   visible=False, lines=8, elem_id="builder-custom"), label="ui_builder.custom")
            custom_help = ui.tr(gr.Markdown(text("ui_builder.custom_help", en), visible=False),
                                value="ui_builder.custom_help")
            model = ui.tr(gr.Dropdown(label=text("ui_builder.model", en), info=text("ui_builder.model_info", en),
                                      choices=[], value=None, allow_custom_value=True, filterable=True,
                                      elem_id="builder-model"),
                          label="ui_builder.model", info="ui_builder.model_info")
        with gr.Column(scale=3):
            stats = gr.Markdown(text("ui_builder.empty", en), elem_id="builder-stats")
            preview = ui.tr(gr.Textbox(label=text("ui_builder.preview", en), lines=18, max_lines=40,
                                       interactive=False, buttons=["copy"], elem_id="builder-preview"),
                            label="ui_builder.preview")
            with ui.tr(gr.Accordion(text("ui_builder.save_title", en), open=True), label="ui_builder.save_title"):
                with gr.Row():
                    name = ui.tr(gr.Textbox(label=text("ui_builder.name", en), info=text("ui_builder.name_info", en),
                                            elem_id="builder-name"),
                                 label="ui_builder.name", info="ui_builder.name_info")
                    title = ui.tr(gr.Textbox(label=text("ui_builder.title", en), elem_id="builder-title"),
                                  label="ui_builder.title")
                with gr.Row():
                    category = ui.tr(gr.Textbox(label=text("ui_builder.category", en), elem_id="builder-category"),
                                     label="ui_builder.category")
                    tags = ui.tr(gr.Textbox(label=text("ui_builder.tags", en), info=text("ui_builder.tags_info", en),
                                            elem_id="builder-tags"),
                                 label="ui_builder.tags", info="ui_builder.tags_info")
                description = ui.tr(gr.Textbox(label=text("ui_builder.description", en), lines=2,
                                               elem_id="builder-description"), label="ui_builder.description")
                message = ui.tr(gr.Textbox(label=text("ui_builder.message", en), elem_id="builder-message",
                                           value=""), label="ui_builder.message")
                save = ui.tr(gr.Button(text("ui_builder.save", en), variant="primary", elem_id="builder-save"),
                             value="ui_builder.save")
                saved = gr.Markdown("", elem_id="builder-saved")

    # --- handlers ------------------------------------------------------------------------
    @ui.handler
    def load(ctx):
        from .testing_view import model_choices

        models, default = model_choices(ui, ctx)
        return {mode: gr.update(choices=mode_choices(ctx)), model: gr.update(choices=models, value=default)}

    @ui.handler
    @reports(matches)
    def do_search(ctx, query):
        rows, note = prompt_rows(ui, ctx, query)
        return {picker: rows, matches: note}

    def chosen_with_buttons(updated: list[str], selected: int | None) -> dict:
        index = selected if selected is not None and 0 <= selected < len(updated) else None
        return {parts: updated, chosen: chosen_update(updated, index),
                up: gr.update(interactive=index is not None and index > 0),
                down: gr.update(interactive=index is not None and index < len(updated) - 1),
                remove: gr.update(interactive=index is not None), clear: gr.update(interactive=bool(updated))}

    @ui.handler
    def add(ctx, current, evt: gr.SelectData):
        picked = (evt.row_value or [None])[0]
        if not picked:
            return chosen_with_buttons(current, None)
        picked = str(picked)
        # Idempotent: every cell of a row fires a select; clicking a chosen prompt selects it.
        if picked in current:
            return chosen_with_buttons(current, current.index(picked))
        updated = [*current, picked]
        return chosen_with_buttons(updated, len(updated) - 1)

    @ui.handler
    def select_chosen(ctx, current, selected):
        index = selected_index(current, selected)
        return {up: gr.update(interactive=index is not None and index > 0),
                down: gr.update(interactive=index is not None and index < len(current) - 1),
                remove: gr.update(interactive=index is not None), clear: gr.update(interactive=bool(current))}

    def move(offset):
        @ui.handler
        def fn(ctx, current, selected):
            index = selected_index(current, selected)
            if index is None or not 0 <= index + offset < len(current):
                return chosen_with_buttons(current, index)
            updated = list(current)
            updated[index], updated[index + offset] = updated[index + offset], updated[index]
            return chosen_with_buttons(updated, index + offset)
        return fn

    @ui.handler
    def drop(ctx, current, selected):
        index = selected_index(current, selected)
        if index is None:
            return chosen_with_buttons(current, None)
        updated = current[:index] + current[index + 1:]
        return chosen_with_buttons(updated, min(index, len(updated) - 1) if updated else None)

    @ui.handler
    def clear_all(ctx):
        return chosen_with_buttons([], None)

    @ui.handler
    def describe_mode(ctx, selected):
        is_custom = selected == CUSTOM
        description = ""
        if selected and not is_custom:
            description = template_description(ctx.locale, services.builder.template(ctx, selected))
        return {mode_info: description, custom: gr.update(visible=is_custom),
                custom_help: gr.update(visible=is_custom), start_custom: gr.update(visible=not is_custom)}

    @ui.handler
    def copy_to_custom(ctx, selected):
        source = services.builder.template(ctx, selected or "sequential").template
        return {custom: gr.update(value=source, visible=True), mode: gr.update(value=CUSTOM)}

    @ui.handler
    def refresh(ctx, current, selected_mode, custom_source, chosen_model):
        # A live preview shows its error beside the preview, keeping the last good preview,
        # instead of a popup for every half-typed template.
        if not current:
            return {stats: text("ui_builder.empty", ctx.locale), preview: ""}
        try:
            result = services.builder.preview(
                ctx, current,
                template_name=None if selected_mode == CUSTOM else selected_mode,
                custom_template=(custom_source or "") if selected_mode == CUSTOM else None,
                model=chosen_model or None)
        except PromptMgrError as exc:
            return {stats: "⚠ " + exc.translate(ctx.locale), preview: gr.update()}
        return {stats: stats_markdown(ctx.locale, result), preview: result.text}

    @ui.handler
    @reports(saved)
    def do_save(ctx, current, selected_mode, custom_source, new_name, new_title, new_category, new_tags,
                new_description, new_message, query):
        if selected_mode == CUSTOM and not (custom_source or "").strip():
            raise Stop("ui_builder.custom_empty")
        prompt = services.builder.save(
            ctx, new_name, current,
            template_name=None if selected_mode == CUSTOM else selected_mode,
            custom_template=custom_source if selected_mode == CUSTOM else None,
            title=new_title or "", description=new_description or "", category=new_category or "",
            tags=_tags(new_tags), message=new_message or "")
        done = text("ui_builder.saved", ctx.locale, name=prompt.name, version=prompt.version)
        gr.Info(done)
        rows, note = prompt_rows(ui, ctx, query)
        return {saved: "✓ " + done, picker: rows, matches: note}

    # --- wiring --------------------------------------------------------------------------
    preview_inputs = [ui.locale, parts, mode, custom, model]
    preview_outputs = [stats, preview]
    live = dict(fn=refresh, inputs=preview_inputs, outputs=preview_outputs, show_progress="hidden",
                trigger_mode="always_last")
    chosen_outputs = [parts, chosen, up, down, remove, clear]

    # The first matches come with the tab itself: a loader's answer arriving after the user typed
    # would replace the matches of what they searched (and a click then lands on another prompt).
    ui.initial(ui.call_loader(do_search, ui.ctx, ""))
    ui.on_load(load, [], [mode, model])
    ui.on_load(describe_mode, [mode], [mode_info, custom, custom_help, start_custom])
    search.change(do_search, [ui.locale, search], [picker, matches], trigger_mode="always_last",
                  show_progress="hidden")
    picker.select(add, [ui.locale, parts], chosen_outputs).then(**live)
    chosen.select(select_chosen, [ui.locale, parts, chosen], [up, down, remove, clear], queue=False)
    up.click(move(-1), [ui.locale, parts, chosen], chosen_outputs).then(**live)
    down.click(move(1), [ui.locale, parts, chosen], chosen_outputs).then(**live)
    remove.click(drop, [ui.locale, parts, chosen], chosen_outputs).then(**live)
    clear.click(clear_all, [ui.locale], chosen_outputs).then(**live)
    mode.change(describe_mode, [ui.locale, mode], [mode_info, custom, custom_help, start_custom]).then(**live)
    start_custom.click(copy_to_custom, [ui.locale, mode], [custom, mode])
    custom.change(**live)
    model.change(**live)
    save.click(do_save, [ui.locale, parts, mode, custom, name, title, category, tags, description, message, search],
               [saved, picker, matches])
    ui.on_locale_change(ui.handler(lambda ctx: {mode: gr.update(choices=mode_choices(ctx))}), [], [mode])
    ui.on_locale_change(describe_mode, [mode], [mode_info, custom, custom_help, start_custom])
    ui.on_locale_change(refresh, [parts, mode, custom, model], preview_outputs)
