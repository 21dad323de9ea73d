"""Running on the Testing tab: Preview (the rendered messages, no call), Run (1-4 models side by
side, streamed by TestingService.stream_many), Stop (cancels the model calls themselves), and the
run history, whose rows open a run's full output, input, parameters and error.

Run is disabled while a run is in progress and enabled again however it ended. Stop reaches the
running event through a token the Run click drew: the cancel flag lives here, keyed by the caller
and that token, because Gradio's own `cancels=` only abandons the handler, not the calls."""
from __future__ import annotations

import threading
import uuid

import gradio as gr

from ..errors import ValidationError
from ..services.testing import RunDelta
from .common import UI, text
from .feedback import Stop, reports
from .testing_view import (
    HISTORY_HEADERS, collect_variables, history_table, messages_text, run_stats, run_summary, version_args,
)

HISTORY_LIMIT = 25

_running: dict[tuple, threading.Event] = {}
_running_lock = threading.Lock()


def _key(ctx, token: str) -> tuple:
    return ctx.tenant_id, ctx.user_id, token


def build_runs(ui: UI, form):
    """The run controls, outputs and history under the form. Returns a function that wires the
    history refresh after the prompt-selection event."""
    services, en, max_models = ui.services, "en", form.max_models
    token = gr.State("")
    with gr.Row():
        preview = ui.tr(gr.Button(text("ui_testing.preview", en), elem_id="testing-preview"),
                        value="ui_testing.preview")
        run = ui.tr(gr.Button(text("ui_testing.run", en), variant="primary", elem_id="testing-run"),
                    value="ui_testing.run")
        stop = ui.tr(gr.Button(text("ui_testing.stop", en), variant="stop", interactive=False,
                               elem_id="testing-stop"), value="ui_testing.stop")
    status = gr.Markdown("", elem_id="testing-status")
    rendered = ui.tr(gr.Textbox(label=text("ui_testing.rendered", en), lines=6, max_lines=20, interactive=False,
                                visible=False, buttons=["copy"], elem_id="testing-rendered"),
                     label="ui_testing.rendered")
    columns, headers, outputs, stats = [], [], [], []
    with gr.Row(equal_height=False):
        for i in range(max_models):
            with gr.Column(visible=i == 0, min_width=240) as column:
                headers.append(gr.Markdown("", elem_id=f"testing-model-{i}"))
                outputs.append(ui.tr(gr.Textbox(label=text("ui_testing.output", en), lines=10, max_lines=30,
                                                interactive=False, buttons=["copy"], elem_id=f"testing-output-{i}"),
                                     label="ui_testing.output"))
                stats.append(gr.Markdown("", elem_id=f"testing-stats-{i}"))
            columns.append(column)
    ui.tr(gr.Markdown(text("ui_testing.history_heading", en)), value="ui_testing.history_heading")
    ui.tr(gr.Markdown(text("ui_testing.history_info", en)), value="ui_testing.history_info")
    history = ui.tr(gr.Dataframe(headers=[text(f"ui_testing.history_{h}", en) for h in HISTORY_HEADERS],
                                 column_count=len(HISTORY_HEADERS), interactive=False, wrap=True, max_height=360,
                                 column_widths=["5%", "13%", "7%", "14%", "10%", "9%", "8%", "7%", "27%"],
                                 elem_id="testing-history"),
                    headers=",".join(f"ui_testing.history_{h}" for h in HISTORY_HEADERS))
    with gr.Column(visible=False, elem_id="testing-run-details") as details:
        summary = gr.Markdown("", elem_id="testing-run-summary")
        with gr.Row():
            run_input = ui.tr(gr.Textbox(label=text("ui_testing.run_input", en), lines=6, max_lines=20,
                                         interactive=False, buttons=["copy"], elem_id="testing-run-input"),
                              label="ui_testing.run_input")
            run_output = ui.tr(gr.Textbox(label=text("ui_testing.run_output", en), lines=6, max_lines=20,
                                          interactive=False, buttons=["copy"], elem_id="testing-run-output"),
                               label="ui_testing.run_output")

    form_inputs = [form.prompt, form.version, form.slot_names, form.extra]

    def chosen_models(ctx, picked) -> list[str]:
        picked = [m.strip() for m in picked or [] if m and m.strip()]
        if len(picked) > max_models:
            raise ValidationError("testing.model_count", count=len(picked), max=max_models)
        if not picked:
            default, _source = services.providers.default_model(ctx)
            if not default:
                raise ValidationError("providers.no_model")
            picked = [default]
        return picked

    # --- handlers ------------------------------------------------------------------------
    @ui.handler
    @reports(status, on_error=lambda ctx, *args: {rendered: gr.update(visible=False)})
    def do_preview(ctx, name, choice, names, extra_json, system_text, *values):
        if not name:
            raise Stop("ui_testing.choose_prompt")
        prepared = services.testing.prepare(ctx, name, variables=collect_variables(names, list(values), extra_json),
                                            system_prompt=system_text or None, resolve_files=False,
                                            **version_args(choice))
        return {rendered: gr.update(visible=True, value=messages_text(prepared.stored_messages))}

    @ui.handler
    def begin(ctx):
        return {token: uuid.uuid4().hex, run: gr.update(interactive=False), stop: gr.update(interactive=True),
                status: text("ui_testing.running", ctx.locale)}

    @ui.handler
    def finish(ctx):
        return {run: gr.update(interactive=True), stop: gr.update(interactive=False)}

    @ui.handler
    def do_stop(ctx, current):
        with _running_lock:
            cancel = _running.get(_key(ctx, current or ""))
        if cancel is not None:
            cancel.set()
        # Only the button: the run's own last update says "stopped" (two writers would race).
        return {stop: gr.update(interactive=False)}

    def clear_running(ctx, *args) -> dict:
        return {s: "" for s in stats}

    @ui.handler
    @reports(status, on_error=clear_running)
    def do_run(ctx, current, name, choice, names, extra_json, picked, temp, max_tok, top, seed_value, system_text,
               cache_mode, *values):
        if not name:
            raise Stop("ui_testing.choose_prompt")
        variables = collect_variables(names, list(values), extra_json)
        models = chosen_models(ctx, picked)
        params = {"temperature": temp, "max_tokens": max_tok, "top_p": top, "seed": seed_value}
        cancel = threading.Event()
        key = _key(ctx, current or uuid.uuid4().hex)
        with _running_lock:
            _running[key] = cancel
        stream = services.testing.stream_many(
            ctx, name, models, variables=variables, params=params, system_prompt=system_text or None,
            use_cache=form.cache_modes.get(cache_mode), cancel=cancel, **version_args(choice))
        texts, done = [""] * len(models), set()
        try:
            first = True
            for event in stream:
                index, update = event.index, {}
                if first:  # rendering and parameters passed: show the columns
                    first = False
                    update = show_columns(ctx, models)
                if isinstance(event, RunDelta):
                    texts[index] += event.text
                    update[outputs[index]] = texts[index]
                else:  # the stored run
                    item = event.run
                    done.add(index)
                    texts[index] = item.output or texts[index]
                    update[outputs[index]] = texts[index]
                    update[headers[index]] = f"#### {item.model}"
                    update[stats[index]] = run_stats(ctx.locale, item)
                yield update
            final = {status: text("ui_testing.stopped", ctx.locale) if cancel.is_set() else ""}
            for index in range(len(models)):
                if index not in done:  # no stored run came back for it: it was stopped before an answer
                    final[stats[index]] = text("ui_testing.stopped", ctx.locale)
                    final[outputs[index]] = texts[index]
            yield final
        finally:
            cancel.set()  # the page went away or the run failed: no call keeps running
            close = getattr(stream, "close", None)
            if close is not None:
                close()
            with _running_lock:
                _running.pop(key, None)

    def show_columns(ctx, models) -> dict:
        update = {}
        for i in range(max_models):
            active = i < len(models)
            update[columns[i]] = gr.update(visible=active or i == 0)
            update[headers[i]] = f"#### {models[i]}" if active else ""
            update[outputs[i]] = ""
            update[stats[i]] = text("ui_testing.running", ctx.locale) if active else ""
        return update

    @ui.handler
    @reports(status, clear=False)
    def refresh_history(ctx, name):
        if not name:
            return {history: history_table(ctx.locale, []), details: gr.update(visible=False)}
        page = services.testing.list_runs(ctx, prompt_name=name, limit=HISTORY_LIMIT)
        return {history: history_table(ctx.locale, page.items)}

    @ui.handler
    @reports(status, clear=False)
    def open_run(ctx, evt: gr.SelectData):
        shown = evt.row_value or []
        run_id = str(shown[0]).strip() if shown else ""
        if not run_id.isdigit():
            return {}
        chosen = services.testing.get_run(ctx, int(run_id))
        return {details: gr.update(visible=True), summary: run_summary(ctx.locale, chosen),
                run_input: messages_text(chosen.rendered_input or []), run_output: chosen.output or ""}

    # --- wiring --------------------------------------------------------------------------
    preview.click(do_preview, [ui.locale, *form_inputs, form.system, *form.slots], [status, rendered])
    run_inputs = [ui.locale, token, *form_inputs, form.models, form.temperature, form.max_tokens, form.top_p,
                  form.seed, form.system, form.cache, *form.slots]
    running = run.click(begin, [ui.locale], [token, run, stop, status], queue=False).then(
        do_run, run_inputs, [*columns, *headers, *outputs, *stats, status], concurrency_limit=4,
        show_progress="hidden")
    running.then(finish, [ui.locale], [run, stop], queue=False).then(
        refresh_history, [ui.locale, form.prompt], [history, details, status])
    stop.click(do_stop, [ui.locale, token], [stop], concurrency_limit=None, show_progress="hidden")
    history.select(open_run, [ui.locale], [details, summary, run_input, run_output, status])
    ui.on_locale_change(refresh_history, [form.prompt], [history, details, status])

    def wire_history(selected):
        selected.then(refresh_history, [ui.locale, form.prompt], [history, details, status])

    return wire_history
