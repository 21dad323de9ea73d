"""The Testing tab: choose a prompt and a version or label, fill its variables, run it on one model
or up to 4 side by side with streaming output, and see tokens, cost, latency and the run history.
Enhance and Translate (testing_actions.py) propose a candidate with its diff, saved on Accept;
running, stopping, previewing and opening runs live in testing_runs.py.

The variables form is a fixed pool of textboxes relabelled per prompt (plus a JSON box for the
rest): dynamic @gr.render forms lose their inputs' wiring on re-render, a fixed pool does not."""
from __future__ import annotations

import json
from types import SimpleNamespace

import gradio as gr

from ..errors import PromptMgrError
from .common import UI, text
from .feedback import reports
from .testing_view import model_choices, model_notice, picker_choices, typed_query, version_args, version_choices

SLOTS = 8
MAX_MODELS = 4
_CACHE_MODES = {"auto": None, "on": True, "off": False}


def build(ui: UI) -> None:
    from .testing_actions import build_actions
    from .testing_runs import build_runs

    services, en = ui.services, "en"
    ui.tr(gr.Markdown(text("ui_testing.intro", en)), value="ui_testing.intro")
    notice = gr.Markdown("", elem_id="testing-notice")
    slot_names = gr.State([])
    with gr.Row():
        search = ui.tr(gr.Textbox(label=text("ui_testing.search", en),
                                  placeholder=text("ui_testing.search_placeholder", en),
                                  scale=2, elem_id="testing-search"),
                       label="ui_testing.search", placeholder="ui_testing.search_placeholder")
        prompt = ui.tr(gr.Dropdown(label=text("ui_testing.prompt", en), choices=[], value=None, filterable=True,
                                   scale=3, elem_id="testing-prompt"), label="ui_testing.prompt")
        version = ui.tr(gr.Dropdown(label=text("ui_testing.version", en),
                                    choices=[(text("ui_testing.latest_plain", en), "latest")],
                                    value="latest", scale=1, elem_id="testing-version"), label="ui_testing.version")
    matches = gr.Markdown("", elem_id="testing-matches")
    info = gr.Markdown("", elem_id="testing-info")
    # Right under the picker: the actions on the chosen prompt are easy to find.
    pickers, accepted = build_actions(ui, prompt, version)
    with ui.tr(gr.Accordion(text("ui_testing.variables", en), open=True), label="ui_testing.variables"):
        slots = [gr.Textbox(visible=False, elem_id=f"testing-var-{i}") for i in range(SLOTS)]
        extra = ui.tr(gr.Textbox(label=text("ui_testing.extra", en), info=text("ui_testing.extra_info", en),
                                 placeholder='{"name": "value"}', lines=2, elem_id="testing-extra"),
                      label="ui_testing.extra", info="ui_testing.extra_info")
    with gr.Row():
        # Past Gradio's default of 100 shown choices the well-known hosted models stayed hidden
        # (None, "all", shows none at all in Gradio 6).
        models = ui.tr(gr.Dropdown(label=text("ui_testing.models", en), info=text("ui_testing.models_info", en),
                                   choices=[], value=[], multiselect=True, max_choices=MAX_MODELS,
                                   allow_custom_value=True, filterable=True, num_choices_shown=1000, scale=4,
                                   elem_id="testing-models"),
                       label="ui_testing.models", info="ui_testing.models_info")
        fetch = ui.tr(gr.Button(text("ui_testing.fetch_models", en), size="sm", scale=1, elem_id="testing-fetch"),
                      value="ui_testing.fetch_models")
    fetched = gr.State([])
    with ui.tr(gr.Accordion(text("ui_testing.parameters", en), open=False), label="ui_testing.parameters"):
        ui.tr(gr.Markdown(text("ui_testing.parameters_info", en)), value="ui_testing.parameters_info")
        with gr.Row():
            # Textboxes, not gr.Number: an empty field must mean "the provider's default", and a
            # Number inside a closed accordion turns into 0 once it is first shown.
            temperature = ui.tr(gr.Textbox(label=text("ui_testing.temperature", en), placeholder="0 – 2",
                                           elem_id="testing-temperature"), label="ui_testing.temperature")
            max_tokens = ui.tr(gr.Textbox(label=text("ui_testing.max_tokens", en), placeholder="1 – …",
                                          elem_id="testing-max-tokens"), label="ui_testing.max_tokens")
            top_p = ui.tr(gr.Textbox(label=text("ui_testing.top_p", en), placeholder="0 – 1", elem_id="testing-top-p"),
                          label="ui_testing.top_p")
            seed = ui.tr(gr.Textbox(label=text("ui_testing.seed", en), elem_id="testing-seed"), label="ui_testing.seed")
            cache = ui.tr(gr.Dropdown(label=text("ui_testing.cache", en),
                                      choices=[(text(f"ui_testing.cache_{k}", en), k) for k in _CACHE_MODES],
                                      value="auto"),
                          label="ui_testing.cache", choices=",".join(f"ui_testing.cache_{k}={k}" for k in _CACHE_MODES))
        system = ui.tr(gr.Textbox(label=text("ui_testing.system", en), lines=2, elem_id="testing-system"),
                       label="ui_testing.system")
    form = SimpleNamespace(prompt=prompt, version=version, slot_names=slot_names, slots=slots, extra=extra,
                           models=models, temperature=temperature, max_tokens=max_tokens, top_p=top_p, seed=seed,
                           system=system, cache=cache, cache_modes=_CACHE_MODES, max_models=MAX_MODELS)
    history_events = build_runs(ui, form)

    # --- handlers ------------------------------------------------------------------------
    @ui.handler
    def load(ctx, known_extra):
        # Not the prompt choices (they come with the tab): the first model list imports litellm
        # (seconds), and a late answer here must not replace what the user searched meanwhile.
        choices, default = model_choices(ui, ctx, known_extra)
        updates = {notice: model_notice(ui, ctx),
                   models: gr.update(choices=choices, value=[default] if default else [])}
        for picker in pickers:
            updates[picker] = gr.update(choices=choices, value=default)
        return updates

    def searched(ctx, query, current) -> dict:
        found, note = picker_choices(ui, ctx, query, current)
        return {prompt: gr.update(choices=found), matches: note}

    @ui.handler
    @reports(matches)
    def do_search(ctx, query, current):
        return searched(ctx, query, current)

    @ui.handler
    @reports(matches)
    def type_prompt(ctx, current, evt: gr.KeyUpData):
        typed = typed_query(evt)
        return searched(ctx, typed, current) if typed else {}

    def slot_updates(locale, chosen, names, values) -> dict:
        # Values typed for a variable survive switching versions of a prompt that still uses it.
        typed = dict(zip(names, values))
        specs = {v["name"]: v for v in chosen.variables}
        wanted = list(dict.fromkeys([*specs, *chosen.used_variables]))
        updates = {slot_names: wanted[:SLOTS]}
        for i, slot in enumerate(slots):
            if i >= len(wanted):
                updates[slot] = gr.update(visible=False, value="", label="", info=None, placeholder=None)
                continue
            name = wanted[i]
            spec = specs.get(name, {"name": name, "type": "string", "required": True})
            default = spec.get("default")
            required = spec.get("required", True) and default is None
            updates[slot] = gr.update(
                visible=True, label=f"{name} *" if required else name, value=typed.get(name, ""),
                info=spec.get("description") or None, lines=4 if spec.get("type") == "text" else 1,
                placeholder=text("ui_testing.default_value", locale,
                                 value=json.dumps(default, ensure_ascii=False)) if default not in (None, "") else None)
        return updates

    def describe(locale, chosen) -> str:
        lines = [f"**{chosen.title or chosen.name}** · `{chosen.name}` v{chosen.version} · {chosen.kind}"]
        if chosen.description:
            lines.append(chosen.description)
        wanted = list(dict.fromkeys([*[v["name"] for v in chosen.variables], *chosen.used_variables]))
        if len(wanted) > SLOTS:
            lines.append(text("ui_testing.more_variables", locale, names=", ".join(wanted[SLOTS:])))
        return "\n\n".join(lines)

    @ui.handler
    @reports(info)
    def select(ctx, name, names, *values):
        if not name:
            return {info: "", slot_names: [],
                    version: gr.update(choices=[(text("ui_testing.latest_plain", ctx.locale), "latest")],
                                       value="latest"),
                    **{slot: gr.update(visible=False) for slot in slots}}
        chosen = services.library.get(ctx, name)
        return {version: gr.update(choices=version_choices(ctx.locale, chosen), value="latest"),
                info: describe(ctx.locale, chosen), **slot_updates(ctx.locale, chosen, names, list(values))}

    @ui.handler
    @reports(info)
    def select_version(ctx, name, choice, names, *values):
        if not name:
            return {}
        chosen = services.library.get(ctx, name, **version_args(choice))
        return {info: describe(ctx.locale, chosen), **slot_updates(ctx.locale, chosen, names, list(values))}

    @ui.handler
    @reports(notice)
    def fetch_models(ctx, known_extra):
        discovered = services.providers.discover_models(ctx)
        found = list(dict.fromkeys([*(known_extra or []), *discovered.models]))
        problems = [f"{failure.provider}: " + (PromptMgrError(failure.error_key, **failure.error_params).translate(
            ctx.locale) if failure.error_key else failure.error or "") for failure in discovered.failures]
        choices, _default = model_choices(ui, ctx, found)
        message = text("ui_testing.fetched", ctx.locale, count=len(found))
        if problems:
            message += "\n\n⚠ " + "\n\n⚠ ".join(problems)
        gr.Info(text("ui_testing.fetched", ctx.locale, count=len(found)))
        updates = {fetched: found, notice: model_notice(ui, ctx) + "\n\n" + message,
                   models: gr.update(choices=choices)}
        for picker in pickers:
            updates[picker] = gr.update(choices=choices)
        return updates

    @ui.handler
    def relabel_versions(ctx, name, choice):
        # The version choices are handler-made text: on load and on a language switch they are
        # rebuilt in the page's language, keeping the chosen version.
        if not name:
            return {version: gr.update(choices=[(text("ui_testing.latest_plain", ctx.locale), "latest")])}
        return {version: gr.update(choices=version_choices(ctx.locale, services.library.get(ctx, name)),
                                   value=choice or "latest")}

    # --- wiring --------------------------------------------------------------------------
    ui.on_load(relabel_versions, [prompt, version], [version])
    ui.on_locale_change(relabel_versions, [prompt, version], [version])
    # The first choices come with the tab itself: a loader's answer arriving after the user typed
    # would replace the matches of what they searched.
    ui.initial(ui.call_loader(do_search, ui.ctx, "", None))
    ui.on_load(load, [fetched], [notice, models, *pickers])
    search.change(do_search, [ui.locale, search, prompt], [prompt, matches], trigger_mode="always_last",
                  show_progress="hidden")
    # Every keystroke, in order: with "always_last" Gradio 6 hands the queued event the data of the
    # first key (the search ran for "m" whatever was typed next).
    prompt.key_up(type_prompt, [ui.locale, prompt], [prompt, matches], trigger_mode="multiple",
                  concurrency_limit=1, show_progress="hidden")
    select_outputs = [info, slot_names, version, *slots]
    selected = prompt.change(select, [ui.locale, prompt, slot_names, *slots], select_outputs)
    version_inputs = [ui.locale, prompt, version, slot_names, *slots]
    version.select(select_version, version_inputs, [info, slot_names, *slots])
    for event in accepted:  # a new version was saved: show it (its variables may have changed)
        event.success(select_version, version_inputs, [info, slot_names, *slots])
    history_events(selected)
    fetch.click(fetch_models, [ui.locale, fetched], [fetched, notice, models, *pickers])
