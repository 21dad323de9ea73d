"""The Testing tab: choose a prompt and a version or label, fill its variables, run it on one model
or up to 4 side by side with streaming output, and see tokens, cost, latency and the run history.
Enhance and Translate (testing_actions.py) propose a candidate with its diff, saved on Accept.

The variables form is a fixed pool of textboxes relabelled per prompt (plus a JSON box for the
rest): dynamic @gr.render forms lose their inputs' wiring on re-render, a fixed pool does not."""
from __future__ import annotations

import json
import queue
import threading

import gradio as gr

from ..errors import ValidationError
from ..schemas import PromptQuery
from .common import UI, handler, text

SLOTS = 8
MAX_MODELS = 4
SEARCH_LIMIT = 50
HISTORY_LIMIT = 25
# Known models offered in the model pickers (litellm's map holds thousands; the field also
# accepts any model string typed by hand).
POPULAR_PROVIDERS = ("openai", "anthropic", "mistral", "gemini")
HISTORY_HEADERS = ("time", "version", "model", "tokens", "cost", "latency", "cached", "output")
_CACHE_MODES = {"auto": None, "on": True, "off": False}


# --- helpers shared with the builder and the actions ---------------------------------------------
def model_choices(ui: UI, locale: str, extra: list[str] | tuple = ()) -> tuple[list[str], str | None]:
    """Model strings to offer: the default model, the embedded model, models fetched from the
    configured providers, models with a price override, then well-known models."""
    overview = ui.services.providers.overview(ui.ctx(locale))
    names = [overview.default_model] if overview.default_model else []
    if overview.local_available:
        names.append(overview.local_model)
    names += list(extra) + [price.model for price in overview.prices]
    names += [m.name for m in overview.known if m.provider in POPULAR_PROVIDERS]
    return list(dict.fromkeys(names)), overview.default_model


def model_notice(ui: UI, locale: str) -> str:
    """Which model runs by default, or how to get one when there is none (a hint, not an error)."""
    overview = ui.services.providers.overview(ui.ctx(locale), limit=0)
    if overview.default_model is None:
        return text("ui_testing.no_model", locale)
    if overview.default_source == "local":
        return text("ui_testing.using_local", locale, model=overview.local_model)
    return text("ui_testing.default_model", locale, model=overview.default_model)


def prompt_choices(ui: UI, locale: str, query: str | None, **filters) -> list[tuple[str, str]]:
    q = (query or "").strip() or None
    page = ui.services.library.list(ui.ctx(locale), PromptQuery(q=q, limit=SEARCH_LIMIT,
                                                                sort="relevance" if q else "name", **filters))
    return [(f"{item.title} ({item.name})" if item.title else item.name, item.name) for item in page.items]


def version_args(choice: str | None) -> dict:
    """'latest' / 'v3' / 'label:production' -> keyword arguments for library and testing calls."""
    if choice and choice.startswith("v") and choice[1:].isdigit():
        return {"version": int(choice[1:])}
    if choice and choice.startswith("label:"):
        return {"label": choice[len("label:"):]}
    return {}


def version_choices(locale: str, prompt) -> list[tuple[str, str]]:
    items = [(text("ui_testing.latest", locale, version=prompt.latest_version), "latest")]
    items += [(f"v{n}", f"v{n}") for n in range(prompt.latest_version, 0, -1)]
    items += [(text("ui_testing.label_choice", locale, label=label, version=number), f"label:{label}")
              for label, number in sorted(prompt.labels.items())]
    return items


def format_cost(locale: str, cost: float | None) -> str:
    if cost is None:
        return text("ui_testing.cost_unknown", locale)
    # Sub-cent costs are the common case: six decimals, without trailing zeros ($0.00042, $0).
    return "$" + (f"{cost:.6f}".rstrip("0").rstrip(".") or "0")


def run_stats(locale: str, run) -> str:
    line = text("ui_testing.stats", locale, prompt_tokens=run.prompt_tokens, completion_tokens=run.completion_tokens,
                cost=format_cost(locale, run.cost), latency=f"{run.latency_ms:.0f}")
    if run.cached:
        line += " · " + text("ui_testing.cached", locale)
    if run.error_code:
        line += "\n\n⚠ " + run.message(locale)
    return line


def history_table(locale: str, runs) -> dict:
    rows = [[run.created_at.strftime("%Y-%m-%d %H:%M:%S"), f"v{run.version_number}" if run.version_number else "",
             run.model, f"{run.prompt_tokens} / {run.completion_tokens}",
             format_cost(locale, run.cost) if run.cost is not None else text("ui_testing.cost_unknown_short", locale),
             f"{run.latency_ms:.0f} ms", "✓" if run.cached else "",
             ("⚠ " + run.message(locale)) if run.error_code else run.output[:200]] for run in runs]
    return {"headers": [text(f"ui_testing.history_{h}", locale) for h in HISTORY_HEADERS], "data": rows}


def collect_variables(names: list[str], values: list, extra: str | None) -> dict:
    """The form's values: filled slots by variable name, then the JSON box (which wins)."""
    result = {name: value for name, value in zip(names, values) if value not in (None, "")}
    if extra and extra.strip():
        try:
            parsed = json.loads(extra)
        except ValueError as exc:
            raise ValidationError("ui_testing.bad_json", detail=str(exc)) from None
        if not isinstance(parsed, dict):
            raise ValidationError("ui_testing.bad_json", detail="expected an object {\"name\": value}")
        result.update(parsed)
    return result


def merge_streams(streams: list) -> "queue.Queue":
    """Iterate several streams at once, each on its own thread: (index, item) in arrival order,
    then (index, None) when stream `index` ends or (index, exception) when it failed."""
    inbox: queue.Queue = queue.Queue()

    def pump(index: int, stream) -> None:
        try:
            for item in stream:
                inbox.put((index, item))
            inbox.put((index, None))
        except Exception as exc:  # noqa: BLE001 — handed to the handler, which translates it
            inbox.put((index, exc))

    for index, stream in enumerate(streams):
        threading.Thread(target=pump, args=(index, stream), daemon=True, name=f"promptmgr-ui-run-{index}").start()
    return inbox


# --- the tab -------------------------------------------------------------------------------------
def build(ui: UI) -> None:
    from .testing_actions import build_actions

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
    info = gr.Markdown("", elem_id="testing-info")
    with ui.tr(gr.Accordion(text("ui_testing.variables", en), open=True), label="ui_testing.variables"):
        slots = [gr.Textbox(visible=False, elem_id=f"testing-var-{i}") for i in range(SLOTS)]
        extra = ui.tr(gr.Textbox(label=text("ui_testing.extra", en), info=text("ui_testing.extra_info", en),
                                 placeholder='{"name": "value"}', lines=2, elem_id="testing-extra"),
                      label="ui_testing.extra", info="ui_testing.extra_info")
    with gr.Row():
        models = ui.tr(gr.Dropdown(label=text("ui_testing.models", en), info=text("ui_testing.models_info", en),
                                   choices=[], value=[], multiselect=True, max_choices=MAX_MODELS,
                                   allow_custom_value=True, filterable=True, scale=4, elem_id="testing-models"),
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
    with gr.Row():
        run = ui.tr(gr.Button(text("ui_testing.run", en), variant="primary", elem_id="testing-run"),
                    value="ui_testing.run")
        stop = ui.tr(gr.Button(text("ui_testing.stop", en), variant="stop"), value="ui_testing.stop")
    columns, headers, outputs, stats = [], [], [], []
    with gr.Row(equal_height=False):
        for i in range(MAX_MODELS):
            with gr.Column(visible=i == 0, min_width=240) as column:
                headers.append(gr.Markdown("", elem_id=f"testing-model-{i}"))
                outputs.append(ui.tr(gr.Textbox(label=text("ui_testing.output", en), lines=10, max_lines=30,
                                                interactive=False, buttons=["copy"], elem_id=f"testing-output-{i}"),
                                     label="ui_testing.output"))
                stats.append(gr.Markdown("", elem_id=f"testing-stats-{i}"))
            columns.append(column)
    ui.tr(gr.Markdown(text("ui_testing.history_heading", en)), value="ui_testing.history_heading")
    history = ui.tr(gr.Dataframe(headers=[text(f"ui_testing.history_{h}", en) for h in HISTORY_HEADERS],
                                 column_count=len(HISTORY_HEADERS), interactive=False, wrap=True, max_height=360,
                                 column_widths=["13%", "7%", "14%", "10%", "9%", "9%", "7%", "31%"],
                                 elem_id="testing-history"),
                    headers=",".join(f"ui_testing.history_{h}" for h in HISTORY_HEADERS))
    pickers, accepted = build_actions(ui, prompt, version)

    # --- handlers ------------------------------------------------------------------------
    @handler
    def load(locale, known_extra):
        choices, default = model_choices(ui, locale, known_extra)
        updates = {notice: model_notice(ui, locale), prompt: gr.update(choices=prompt_choices(ui, locale, None)),
                   models: gr.update(choices=choices, value=[default] if default else [])}
        for picker in pickers:
            updates[picker] = gr.update(choices=choices, value=default)
        return updates

    @handler
    def do_search(locale, query):
        return {prompt: gr.update(choices=prompt_choices(ui, locale, query))}

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

    @handler
    def select(locale, name, names, *values):
        if not name:
            return {info: "", slot_names: [],
                    version: gr.update(choices=[(text("ui_testing.latest_plain", locale), "latest")], value="latest"),
                    **{slot: gr.update(visible=False) for slot in slots}}
        chosen = services.library.get(ui.ctx(locale), name)
        return {version: gr.update(choices=version_choices(locale, chosen), value="latest"),
                info: describe(locale, chosen), **slot_updates(locale, chosen, names, list(values))}

    @handler
    def select_version(locale, name, choice, names, *values):
        if not name:
            return {}
        chosen = services.library.get(ui.ctx(locale), name, **version_args(choice))
        return {info: describe(locale, chosen), **slot_updates(locale, chosen, names, list(values))}

    @handler
    def refresh_history(locale, name):
        if not name:
            return {history: history_table(locale, [])}
        page = services.testing.list_runs(ui.ctx(locale), prompt_name=name, limit=HISTORY_LIMIT)
        return {history: history_table(locale, page.items)}

    @handler
    def do_run(locale, name, choice, names, extra_json, chosen_models, temp, max_tok, top, seed_value, system_text,
               cache_mode, *values):
        if not name:
            raise ValidationError("ui_testing.choose_prompt")
        ctx = ui.ctx(locale)
        variables = collect_variables(names, list(values), extra_json)
        chosen_models = [m.strip() for m in chosen_models or [] if m and m.strip()] or [None]
        if len(chosen_models) > MAX_MODELS:
            raise ValidationError("testing.model_count", count=len(chosen_models), max=MAX_MODELS)
        params = {"temperature": temp, "max_tokens": max_tok, "top_p": top, "seed": seed_value}
        # Rendering, parameters and models are checked for every model before any call starts.
        streams = [services.testing.stream(ctx, name, model=model, variables=variables, params=params,
                                           system_prompt=system_text or None, use_cache=_CACHE_MODES.get(cache_mode),
                                           **version_args(choice)) for model in chosen_models]
        default_name = text("ui_testing.default_model_name", locale)
        texts = [""] * len(streams)
        first = {}
        for i in range(MAX_MODELS):
            active = i < len(streams)
            first[columns[i]] = gr.update(visible=active or i == 0)
            first[headers[i]] = f"#### {chosen_models[i] or default_name}" if active else ""
            first[outputs[i]] = ""
            first[stats[i]] = text("ui_testing.running", locale) if active else ""
        yield first
        inbox, pending = merge_streams(streams), len(streams)
        while pending:
            batch = [inbox.get()]
            while not inbox.empty():  # one page update for everything that arrived meanwhile
                batch.append(inbox.get_nowait())
            update = {}
            for index, item in batch:
                if isinstance(item, str):
                    texts[index] += item
                    update[outputs[index]] = texts[index]
                elif isinstance(item, Exception):
                    raise item
                elif item is None:
                    pending -= 1
                else:  # the stored run
                    texts[index] = item.output or texts[index]
                    update[outputs[index]] = texts[index]
                    update[headers[index]] = f"#### {item.model}"
                    update[stats[index]] = run_stats(locale, item)
            if update:
                yield update

    # --- wiring --------------------------------------------------------------------------
    ui.on_load(load, [fetched], [notice, prompt, models, *pickers])
    search.change(do_search, [ui.locale, search], [prompt], trigger_mode="always_last", show_progress="hidden")
    select_outputs = [info, slot_names, version, *slots]
    prompt.change(select, [ui.locale, prompt, slot_names, *slots], select_outputs).then(
        refresh_history, [ui.locale, prompt], [history])
    version_inputs = [ui.locale, prompt, version, slot_names, *slots]
    version.select(select_version, version_inputs, [info, slot_names, *slots])
    for event in accepted:  # a new version was saved: show it (its variables may have changed)
        event.success(select_version, version_inputs, [info, slot_names, *slots])
    running = run.click(do_run, [ui.locale, prompt, version, slot_names, extra, models, temperature, max_tokens,
                                 top_p, seed, system, cache, *slots], [*columns, *headers, *outputs, *stats],
                        concurrency_limit=4)
    running.then(refresh_history, [ui.locale, prompt], [history])
    stop.click(None, None, None, cancels=[running])

    @handler
    def fetch_models(locale, known_extra, current):
        ctx = ui.ctx(locale)
        found = list(known_extra or [])
        problems = []
        for provider in services.providers.list(ctx):
            result = services.providers.test_connection(ctx, provider.name)
            if result.ok:
                found += [f"{provider.name}/{m}" for m in result.models]
            else:
                problems.append(f"{provider.name}: {result.error}")
        found = list(dict.fromkeys(found))
        choices, _default = model_choices(ui, locale, found)
        message = text("ui_testing.fetched", locale, count=len(found))
        if problems:
            message += "\n\n⚠ " + "\n\n⚠ ".join(problems)
        gr.Info(text("ui_testing.fetched", locale, count=len(found)))
        updates = {fetched: found, notice: model_notice(ui, locale) + "\n\n" + message,
                   models: gr.update(choices=choices)}
        for picker in pickers:
            updates[picker] = gr.update(choices=choices)
        return updates

    fetch.click(fetch_models, [ui.locale, fetched, models], [fetched, notice, models, *pickers])
    ui.on_locale_change(refresh_history, [prompt], [history])
