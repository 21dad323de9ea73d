"""The Experiments tab's Running view: live progress of the opened experiment (done/total, errors,
cost so far, ETA, pass rate per variant), polled from the database by a gr.Timer while a run is
live in this app; Pause, Cancel and Start/Resume.

Progress comes from the database and the job registry (services/experiment_jobs.py), never from
the page: a reloaded page re-attaches to a run in progress, and after a restart an experiment left
`running` with no live job is shown as interrupted and can be resumed."""
from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from .common import UI, status_line, text
from .experiments_view import progress_line, progress_table
from .feedback import Stop, reports

POLL_SECONDS = 2.0
CANCELLABLE = ("draft", "running", "paused")
RESUMABLE = ("draft", "running", "paused", "cancelled", "failed")


def _button(ui: UI, key: str, **kw) -> gr.Button:
    return ui.tr(gr.Button(text(key), **kw), value=key)


def build(ui: UI, current: gr.Textbox) -> SimpleNamespace:
    services, en = ui.services, "en"
    ui.tr(gr.Markdown(text("ui_experiments.running_intro", en)), value="ui_experiments.running_intro")
    with gr.Row():
        pick = ui.tr(gr.Dropdown(label=text("ui_experiments.running_pick", en), choices=[], value=None, scale=3,
                                 elem_id="exp-run-pick"), label="ui_experiments.running_pick")
        budget = ui.tr(gr.Textbox(label=text("ui_experiments.resume_budget", en), placeholder="USD", max_length=20,
                                  scale=1, elem_id="exp-run-budget"), label="ui_experiments.resume_budget")
    shown = gr.Markdown("", elem_id="exp-run-progress")
    table = ui.tr(gr.Dataframe(value=progress_table(en, {"variants": []}), interactive=False,
                               elem_id="exp-run-table"),
                  headers=",".join(f"ui_experiments.col_{h}" for h in ("variant", "done", "errors", "pass_rate")))
    with gr.Row():
        pause = _button(ui, "ui_experiments.pause", interactive=False, elem_id="exp-run-pause")
        cancel = _button(ui, "ui_experiments.cancel_run", variant="stop", interactive=False, elem_id="exp-run-cancel")
        resume = _button(ui, "ui_experiments.resume", variant="primary", interactive=False, elem_id="exp-run-resume")
    status = status_line("exp-run-status")
    timer = gr.Timer(POLL_SECONDS, active=False)

    # --- handlers ------------------------------------------------------------------------
    def view(ctx, name) -> dict:
        if not name:
            return {shown: text("ui_experiments.running_none", ctx.locale),
                    table: progress_table(ctx.locale, {"variants": []}), pause: gr.update(interactive=False),
                    cancel: gr.update(interactive=False), resume: gr.update(interactive=False),
                    timer: gr.Timer(active=False)}
        progress = services.experiment_runs.progress(ctx, name)
        job = services.experiment_jobs.state(ctx, name)
        live = job["live"]
        return {shown: f"**{name}** · " + progress_line(ctx.locale, progress, job),
                table: progress_table(ctx.locale, progress),
                pause: gr.update(interactive=live and not job["pausing"]),
                cancel: gr.update(interactive=progress["status"] in CANCELLABLE),
                resume: gr.update(interactive=not live and progress["status"] in RESUMABLE),
                timer: gr.Timer(active=live)}

    def choices(ctx) -> list[str]:
        return [e.name for e in services.experiments.list(ctx)]

    @ui.handler
    @reports(status, clear=False)
    def attach(ctx, name):
        """Page load: the opened experiment, else one live in this app, else one left running."""
        names = choices(ctx)
        if not name or name not in names:
            live = services.experiment_jobs.live_names(ctx)
            running = [e.name for e in services.experiments.list(ctx) if e.status == "running"]
            name = (live or running or [""])[0]
        return {pick: gr.update(choices=names, value=name or None), current: name, **view(ctx, name)}

    @ui.handler
    @reports(status, clear=False)
    def follow(ctx, name):
        return {pick: gr.update(choices=choices(ctx), value=name or None), **view(ctx, name)}

    @ui.handler
    def chosen(ctx, name):
        return {current: name or ""}

    @ui.handler
    @reports(status, clear=False)
    def tick(ctx, name):
        return view(ctx, name)

    @ui.handler
    @reports(status)
    def do_pause(ctx, name):
        if not name:
            raise Stop("ui_experiments.running_none")
        services.experiment_jobs.pause(ctx, name)
        return {**view(ctx, name), status: text("ui_experiments.pausing", ctx.locale)}

    @ui.handler
    @reports(status)
    def do_cancel(ctx, name):
        if not name:
            raise Stop("ui_experiments.running_none")
        services.experiment_jobs.cancel(ctx, name)
        return {**view(ctx, name), status: text("ui_experiments.cancelled", ctx.locale)}

    @ui.handler
    @reports(status)
    def do_resume(ctx, name, money):
        if not name:
            raise Stop("ui_experiments.running_none")
        from .experiments_new import _number

        max_cost = _number(money, "budget", 0, 1e9, False, ctx.locale)
        draft = services.experiment_runs.progress(ctx, name)["status"] == "draft"
        services.experiment_jobs.start(ctx, name, resume=not draft, max_cost=max_cost)
        return {**view(ctx, name), status: text("ui_experiments.started", ctx.locale, name=name)}

    # --- wiring --------------------------------------------------------------------------
    loc = ui.locale
    outputs = [shown, table, pause, cancel, resume, timer, status]
    ui.on_load(attach, [current], [pick, current, *outputs])
    current.change(follow, [loc, current], [pick, *outputs], show_progress_on=[status], show_progress="hidden")
    pick.input(chosen, [loc, pick], [current], show_progress="hidden")
    # One poll at a time per page: a tick that comes while the last one is still being answered
    # (a busy server) is skipped, not queued behind it.
    timer.tick(tick, [loc, current], outputs, trigger_mode="once", show_progress_on=[status],
               show_progress="hidden")
    pause.click(do_pause, [loc, current], outputs, show_progress_on=[status])
    cancel.click(do_cancel, [loc, current], outputs, show_progress_on=[status])
    resume.click(do_resume, [loc, current, budget], outputs, show_progress_on=[status])
    return SimpleNamespace(pick=pick, timer=timer)
