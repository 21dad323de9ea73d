"""The Experiments tab's New experiment form: a dataset, prompts (the search-backed picker of the
Testing tab, every prompt reachable) with a version or label, models, checks built one at a time
and tried on one row for real, repeats, concurrency and a budget; or a promptfoo config imported.

Estimate writes the experiment as a draft and shows the preflight (calls, tokens, cost per variant,
judge calls, total); Run stays disabled until an estimate for the form as it stands is shown (any
edit disables it again, and the Run handler itself checks that the form is the one estimated)."""
from __future__ import annotations

import json
from types import SimpleNamespace

import gradio as gr

from ..errors import ValidationError
from .common import UI, status_line, text
from .experiments_view import checks_table, estimate_text, trial_text
from .feedback import Stop, reports
from .testing_view import model_choices, picker_choices, typed_query, version_args, version_choices

MAX_CHECKS_UI = 50


def _button(ui: UI, key: str, **kw) -> gr.Button:
    return ui.tr(gr.Button(text(key), **kw), value=key)


def prompt_ref(name: str, choice: str | None) -> str:
    """Picker choice -> the experiment's prompt reference: P, P@3 or P:label."""
    args = version_args(choice)
    if "version" in args:
        return f"{name}@{args['version']}"
    if "label" in args:
        return f"{name}:{args['label']}"
    return name


def _number(value, field: str, low: float, high: float, integer: bool = True, locale: str = "en"):
    if value in (None, ""):
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        number = float("nan")
    if not low <= number <= high or (integer and number != int(number)):
        raise ValidationError("ui_experiments.bad_number", field=text(f"ui_experiments.{field}", locale),
                              value=str(value)[:40], low=f"{low:g}", high=f"{high:g}")
    return int(number) if integer else number


def build(ui: UI, datasets_changed: list, open_running) -> SimpleNamespace:
    from ..evaluation.checks import JUDGE_PROMPTS, parse_checks, registry

    services, en = ui.services, "en"
    ui.tr(gr.Markdown(text("ui_experiments.new_intro", en)), value="ui_experiments.new_intro")
    with gr.Row():
        name = ui.tr(gr.Textbox(label=text("ui_experiments.new_name", en), elem_id="exp-new-name", max_length=100,
                                scale=2), label="ui_experiments.new_name")
        dataset = ui.tr(gr.Dropdown(label=text("ui_experiments.new_dataset", en), choices=[], value=None, scale=2,
                                    elem_id="exp-new-dataset"), label="ui_experiments.new_dataset")
    with gr.Row():
        search = ui.tr(gr.Textbox(label=text("ui_experiments.search", en), scale=2, elem_id="exp-new-search"),
                       label="ui_experiments.search")
        prompt = ui.tr(gr.Dropdown(label=text("ui_experiments.prompt", en), choices=[], value=None, filterable=True,
                                   scale=3, elem_id="exp-new-prompt"), label="ui_experiments.prompt")
        version = ui.tr(gr.Dropdown(label=text("ui_experiments.version", en),
                                    choices=[(text("ui_testing.latest_plain", en), "latest")],
                                    value="latest", scale=1, elem_id="exp-new-version"),
                        label="ui_experiments.version", choices="ui_testing.latest_plain=latest")
        add_prompt = _button(ui, "ui_experiments.add_prompt", size="sm", scale=1, elem_id="exp-new-add-prompt")
    matches = gr.Markdown("", elem_id="exp-new-matches")
    prompts = ui.tr(gr.Dropdown(label=text("ui_experiments.prompts", en), choices=[], value=[], multiselect=True,
                                elem_id="exp-new-prompts"), label="ui_experiments.prompts")
    models = ui.tr(gr.Dropdown(label=text("ui_experiments.models", en), choices=[], value=[], multiselect=True,
                               allow_custom_value=True, filterable=True, num_choices_shown=1000,
                               elem_id="exp-new-models"), label="ui_experiments.models")
    with ui.tr(gr.Accordion(text("ui_experiments.checks", en), open=True), label="ui_experiments.checks"):
        with gr.Row():
            check_type = ui.tr(gr.Dropdown(label=text("ui_experiments.check_type", en), choices=list(registry),
                                           value="contains", elem_id="exp-new-check-type", scale=2),
                               label="ui_experiments.check_type")
            negate = ui.tr(gr.Checkbox(label=text("ui_experiments.check_negate", en), value=False,
                                       elem_id="exp-new-check-negate", scale=1), label="ui_experiments.check_negate")
            check_value = ui.tr(gr.Textbox(label=text("ui_experiments.check_value", en),
                                           info=text("ui_experiments.check_value_info", en), max_length=10_000,
                                           elem_id="exp-new-check-value", scale=4),
                                label="ui_experiments.check_value", info="ui_experiments.check_value_info")
            threshold = ui.tr(gr.Textbox(label=text("ui_experiments.check_threshold", en), placeholder="0 – 1",
                                         elem_id="exp-new-check-threshold", scale=1, max_length=20),
                              label="ui_experiments.check_threshold")
            weight = ui.tr(gr.Textbox(label=text("ui_experiments.check_weight", en), value="1",
                                      elem_id="exp-new-check-weight", scale=1, max_length=20),
                           label="ui_experiments.check_weight")
        with gr.Row():
            add_check = _button(ui, "ui_experiments.add_check", size="sm", elem_id="exp-new-add-check")
            clear_checks = _button(ui, "ui_experiments.clear_checks", size="sm", elem_id="exp-new-clear-checks")
        checks = gr.State([])
        checks_shown = ui.tr(gr.Dataframe(value=checks_table(en, []), interactive=False, elem_id="exp-new-checks"),
                             headers=",".join(f"ui_experiments.col_{h}" for h in
                                              ("check_type", "check_value", "check_threshold", "check_weight")))
        judge = ui.tr(gr.Dropdown(label=text("ui_experiments.judge", en), info=text("ui_experiments.judge_info", en,
                                  prompts=", ".join(JUDGE_PROMPTS.values())), choices=[], value=None,
                                  allow_custom_value=True, filterable=True, elem_id="exp-new-judge"),
                      label="ui_experiments.judge")
        with gr.Row():
            try_row = ui.tr(gr.Textbox(label=text("ui_experiments.try_row", en), value="1", max_length=12, scale=1,
                                       elem_id="exp-new-try-row"), label="ui_experiments.try_row")
            try_button = _button(ui, "ui_experiments.try", scale=2, elem_id="exp-new-try")
        trial = gr.Markdown("", elem_id="exp-new-trial")
    with gr.Row():
        repeats = ui.tr(gr.Textbox(label=text("ui_experiments.repeats", en), value="1", max_length=6,
                                   elem_id="exp-new-repeats"), label="ui_experiments.repeats")
        concurrency = ui.tr(gr.Textbox(label=text("ui_experiments.concurrency", en), value="8", max_length=6,
                                       elem_id="exp-new-concurrency"), label="ui_experiments.concurrency")
        budget = ui.tr(gr.Textbox(label=text("ui_experiments.budget", en), placeholder="USD", max_length=20,
                                  elem_id="exp-new-budget"), label="ui_experiments.budget")
    with gr.Row():
        estimate = _button(ui, "ui_experiments.estimate", variant="secondary", elem_id="exp-new-estimate")
        run = _button(ui, "ui_experiments.run", variant="primary", interactive=False, elem_id="exp-new-run")
        importer = ui.tr(gr.UploadButton(text("ui_experiments.import_promptfoo", en), type="filepath",
                                         file_types=[".yaml", ".yml", ".json"], elem_id="exp-new-promptfoo"),
                         label="ui_experiments.import_promptfoo")
    status = status_line("exp-new-status")
    estimated = gr.Markdown("", elem_id="exp-new-estimate-out")
    drafted = gr.State(None)      # the draft this form wrote (re-estimating replaces it)
    signature = gr.State(None)    # the form an estimate was shown for
    form = [name, dataset, prompts, models, checks, judge, repeats, concurrency, budget]

    # --- handlers ------------------------------------------------------------------------
    def form_signature(*values) -> str:
        return json.dumps(values, sort_keys=True, default=str)

    @ui.handler
    @reports(status)
    def load(ctx, chosen_dataset, known_judge):
        names = [d.name for d in services.datasets.list(ctx)]
        choices, default = model_choices(ui, ctx)
        return {dataset: gr.update(choices=names, value=chosen_dataset if chosen_dataset in names else None),
                models: gr.update(choices=choices),
                judge: gr.update(choices=choices, value=known_judge or default)}

    @ui.handler
    @reports(status)
    def refresh_datasets(ctx, chosen_dataset):
        names = [d.name for d in services.datasets.list(ctx)]
        return {dataset: gr.update(choices=names, value=chosen_dataset if chosen_dataset in names else None)}

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

    @ui.handler
    @reports(matches)
    def select_prompt(ctx, chosen):
        if not chosen:
            return {version: gr.update(choices=[(text("ui_testing.latest_plain", ctx.locale), "latest")],
                                       value="latest")}
        return {version: gr.update(choices=version_choices(ctx.locale, services.library.get(ctx, chosen)),
                                   value="latest")}

    @ui.handler
    @reports(matches)
    def relabel_versions(ctx, chosen, choice):
        # Handler-made choices: rebuilt in the new language, keeping the chosen version.
        if not chosen:
            return {version: gr.update(choices=[(text("ui_testing.latest_plain", ctx.locale), "latest")])}
        return {version: gr.update(choices=version_choices(ctx.locale, services.library.get(ctx, chosen)),
                                   value=choice or "latest")}

    @ui.handler
    @reports(status)
    def add_ref(ctx, chosen, choice, refs):
        if not chosen:
            raise Stop("ui_experiments.pick_prompt")
        services.library.get(ctx, chosen, **version_args(choice))  # the version or label exists
        refs = list(dict.fromkeys([*(refs or []), prompt_ref(chosen, choice)]))
        return {prompts: gr.update(choices=refs, value=refs), run: gr.update(interactive=False)}

    @ui.handler
    @reports(status)
    def add_spec(ctx, items, kind, negated, value, min_score, importance):
        if len(items or []) >= MAX_CHECKS_UI:
            raise ValidationError("experiments.too_many", field="checks", limit=MAX_CHECKS_UI)
        spec = {"type": kind, "negate": bool(negated),
                "weight": _number(importance, "check_weight", 0, 1000, False, ctx.locale) if importance else 1.0}
        if value not in (None, ""):
            spec["value"] = value
        score = _number(min_score, "check_threshold", 0, 1, False, ctx.locale)
        if score is not None:
            spec["threshold"] = score
        checked = parse_checks([spec])[0].to_dict()  # a bad regex, schema or number is said now
        items = [*(items or []), checked]
        return {checks: items, checks_shown: checks_table(ctx.locale, items), check_value: "",
                run: gr.update(interactive=False)}

    @ui.handler
    def drop_specs(ctx):
        return {checks: [], checks_shown: checks_table(ctx.locale, []), run: gr.update(interactive=False)}

    @ui.handler
    @reports(status)
    def try_one(ctx, chosen_dataset, refs, chosen_models, items, judge_model, where):
        if not chosen_dataset or not refs or not chosen_models:
            raise Stop("ui_experiments.try_needs")
        number = _number(where or "1", "try_row", 1, 10**9, True, ctx.locale) or 1
        found = services.experiment_runs.try_row(ctx, dataset=chosen_dataset, row=number, prompt=refs[0],
                                                 model=chosen_models[0], checks=list(items or []),
                                                 judge_model=judge_model or None)
        return {trial: trial_text(ctx.locale, found)}

    def settings_of(locale, times, parallel, money) -> tuple:
        return (_number(times or "1", "repeats", 1, 100, True, locale) or 1,
                _number(parallel or "8", "concurrency", 1, 256, True, locale) or 8,
                _number(money, "budget", 0, 1e9, False, locale))

    @ui.handler
    @reports(status, on_error=lambda ctx, *args: {run: gr.update(interactive=False), estimated: ""})
    def do_estimate(ctx, title, chosen_dataset, refs, chosen_models, items, judge_model, times, parallel, money,
                    previous):
        title = (title or "").strip()
        if not title:
            raise Stop("ui_experiments.need_name")
        if not chosen_dataset:
            raise Stop("ui_experiments.need_dataset")
        count, workers, max_cost = settings_of(ctx.locale, times, parallel, money)
        if previous == title:  # this form's own draft: replaced by the form as it is now
            existing = {e.name: e for e in services.experiments.list(ctx)}.get(title)
            if existing is not None and existing.status == "draft":
                services.experiments.remove(ctx, title)
        services.experiments.create(
            ctx, title, dataset=chosen_dataset, prompts=list(refs or []), models=list(chosen_models or []),
            checks=list(items or []), repeats=count, concurrency=workers, max_cost=max_cost,
            config={"judge_model": judge_model} if judge_model and _graded(items) else None)
        found = services.experiment_runs.estimate(ctx, title)
        return {estimated: estimate_text(ctx.locale, found), run: gr.update(interactive=True), drafted: title,
                signature: form_signature(title, chosen_dataset, refs, chosen_models, items, judge_model, times,
                                          parallel, money)}

    def _graded(items) -> bool:
        from ..services.experiment_runs import MODEL_GRADED

        return any((item or {}).get("type") in MODEL_GRADED for item in items or [])

    @ui.handler
    @reports(status)
    def start(ctx, title, chosen_dataset, refs, chosen_models, items, judge_model, times, parallel, money,
              previous, shown_for):
        now = form_signature((title or "").strip(), chosen_dataset, refs, chosen_models, items, judge_model, times,
                             parallel, money)
        if not previous or shown_for != now:
            raise Stop("ui_experiments.estimate_first")
        services.experiment_jobs.start(ctx, previous)
        gr.Info(text("ui_experiments.started", ctx.locale, name=previous))
        return {run: gr.update(interactive=False), drafted: None, signature: None, **open_running(previous)}

    @ui.handler
    def changed(ctx, title, *rest):
        # Run stays enabled only for the form an estimate was shown for (programmatic changes
        # that keep it so, such as an import filling the name, leave it enabled).
        *values, shown_for = rest
        return {run: gr.update(interactive=shown_for == form_signature((title or "").strip(), *values))}

    @ui.handler
    @reports(status)
    def import_config(ctx, path, _title, *rest):
        if not path:
            return {}
        made = services.results.import_promptfoo(ctx, path)
        title = made["experiment"]
        found = services.experiment_runs.estimate(ctx, title)
        message = text("ui_experiments.imported", ctx.locale, name=title, rows=made["rows"])
        gr.Info(message)
        names = [d.name for d in services.datasets.list(ctx)]
        # The imported draft is what Run starts, estimated as it stands: until the form is edited.
        return {estimated: message + "\n\n" + estimate_text(ctx.locale, found), dataset: gr.update(choices=names),
                name: title, drafted: title, signature: form_signature(title, *rest),
                run: gr.update(interactive=True)}

    # --- wiring --------------------------------------------------------------------------
    loc = ui.locale
    ui.on_load(load, [dataset, judge], [dataset, models, judge, status])
    ui.on_locale_change(relabel_versions, [prompt, version], [version, matches])
    for event in datasets_changed:
        event.success(refresh_datasets, [loc, dataset], [dataset, status], show_progress="hidden")
    search.change(do_search, [loc, search, prompt], [prompt, matches], trigger_mode="always_last",
                  show_progress="hidden")
    prompt.key_up(type_prompt, [loc, prompt], [prompt, matches], trigger_mode="multiple", concurrency_limit=1,
                  show_progress="hidden")
    prompt.change(select_prompt, [loc, prompt], [version, matches], show_progress="hidden")
    add_prompt.click(add_ref, [loc, prompt, version, prompts], [prompts, run, status], show_progress_on=[status])
    add_check.click(add_spec, [loc, checks, check_type, negate, check_value, threshold, weight],
                    [checks, checks_shown, check_value, run, status], show_progress_on=[status])
    clear_checks.click(drop_specs, [loc], [checks, checks_shown, run])
    try_button.click(try_one, [loc, dataset, prompts, models, checks, judge, try_row], [trial, status],
                     show_progress_on=[status])
    estimate.click(do_estimate, [loc, *form, drafted], [estimated, run, drafted, signature, status],
                   show_progress_on=[status])
    for component in (name, dataset, prompts, models, judge, repeats, concurrency, budget):
        component.change(changed, [loc, *form, signature], [run], show_progress="hidden")
    run_outputs = [run, drafted, signature, status, *open_running.outputs]
    run.click(start, [loc, *form, drafted, signature], run_outputs, show_progress_on=[status])
    importer.upload(import_config, [loc, importer, *form], [estimated, dataset, name, drafted, signature, run, status],
                    show_progress_on=[status])
    return SimpleNamespace(run=run, estimate=estimate)
