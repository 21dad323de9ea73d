"""The Analytics tab: calls, tokens, cost and errors of every stored run over time, by model and by
prompt; latency p50/p95 by model; cache hits. Each plot has its numbers in a table beside it,
formatted for the page's language (babel).

Nothing loads with the page: the tab reads its data when it is selected (and again on Refresh or
when the period, grouping or measure changes). One service call (AnalyticsService.dashboard)
aggregates in the database, so the tab costs the same with a million runs as with ten."""
from __future__ import annotations

import gradio as gr

from ..i18n import normalize_locale
from ..services.analytics import parse_period
from .common import UI, text
from .feedback import reports

METRICS = ("calls", "tokens", "cost", "errors")
TIMELINE_HEADERS = ("when", "calls", "tokens", "cost", "errors")
MODEL_HEADERS = ("model", "calls", "tokens", "cost", "errors", "cache_hits")
LATENCY_HEADERS = ("model", "p50", "p95", "uncached")
PROMPT_HEADERS = ("prompt", "calls", "tokens", "cost", "errors")
DEFAULT_SINCE = "30d"
TOP_PROMPTS = 10


# --- numbers for the locale ---------------------------------------------------------------
def _babel(locale: str | None) -> str:
    return normalize_locale(locale) or "en"


def number(value: float | int, locale: str | None) -> str:
    from babel.numbers import format_decimal

    return format_decimal(value, locale=_babel(locale))


def money(value: float, locale: str | None) -> str:
    from babel.numbers import format_currency

    # Single calls cost fractions of a cent: keep six decimals below a cent, four above.
    rounded = round(value, 4 if abs(value) >= 0.01 else 6)
    return format_currency(rounded, "USD", locale=_babel(locale), currency_digits=False, decimal_quantization=False)


def percent(value: float | None, locale: str | None) -> str:
    from babel.numbers import format_percent

    return "–" if value is None else format_percent(round(value, 3), locale=_babel(locale), decimal_quantization=False)


def millis(value: float | None, locale: str | None) -> str:
    return "–" if value is None else number(round(value), locale)


def day_label(day, locale: str | None) -> str:
    from babel.dates import format_skeleton

    return format_skeleton("yMMMd", day, locale=_babel(locale))


def metric_value(item, metric: str) -> float:
    return item.tokens if metric == "tokens" else getattr(item, metric)


def prompt_name(name: str, locale: str | None) -> str:
    return name or text("ui_analytics.no_prompt", locale)


# --- what the tab shows -------------------------------------------------------------------
def table(locale: str | None, headers: tuple[str, ...], rows: list[list[str]]) -> dict:
    return {"headers": [text(f"ui_analytics.col_{h}", locale) for h in headers], "data": rows}


def summary(locale: str | None, totals) -> str:
    parts = {"calls": number(totals.calls, locale), "tokens": number(totals.tokens, locale),
             "cost": money(totals.cost, locale), "errors": number(totals.errors, locale),
             "error_rate": percent(totals.error_rate, locale), "cache_rate": percent(totals.cache_hit_rate, locale),
             "experiments": number(totals.experiment_calls, locale)}
    line = text("ui_analytics.summary", locale, **parts)
    if totals.unpriced:
        line += "  \n" + text("ui_analytics.unpriced", locale, count=number(totals.unpriced, locale))
    if not totals.calls:
        line = text("ui_analytics.empty", locale)
    return line


def frames(locale: str | None, board, metric: str) -> dict:
    """pandas frames for the plots: x, y (and series) columns, x labels in the locale, in order."""
    import pandas as pd

    timeline_x = [day_label(p.bucket, locale) for p in board.timeline]
    timeline = pd.DataFrame({"x": timeline_x, "y": [metric_value(p, metric) for p in board.timeline]})
    models = pd.DataFrame({"x": [m.model for m in board.models], "y": [metric_value(m, metric) for m in board.models]})
    latency_rows = [(f"{m.model} · {name}", value, name) for m in board.models
                    for name, value in (("p50", m.latency_p50_ms), ("p95", m.latency_p95_ms)) if value is not None]
    latency = pd.DataFrame(latency_rows, columns=["x", "y", "series"])
    prompts = pd.DataFrame({"x": [prompt_name(p.prompt, locale) for p in board.prompts],
                            "y": [p.cost for p in board.prompts]})
    return {"timeline": (timeline, timeline_x), "models": (models, list(models["x"])),
            "latency": (latency, list(latency["x"])), "prompts": (prompts, list(prompts["x"]))}


def tables(locale: str | None, board) -> dict:
    def counts(item) -> list[str]:
        return [number(item.calls, locale), number(item.tokens, locale), money(item.cost, locale),
                number(item.errors, locale)]

    return {
        "timeline": table(locale, (f"when_{board.bucket}", *TIMELINE_HEADERS[1:]), [[day_label(p.bucket, locale), *counts(p)]
                                                     for p in reversed(board.timeline)]),
        "models": table(locale, MODEL_HEADERS, [[m.model, *counts(m), percent(m.cache_hit_rate, locale)]
                                                for m in board.models]),
        "latency": table(locale, LATENCY_HEADERS, [[m.model, millis(m.latency_p50_ms, locale),
                                                    millis(m.latency_p95_ms, locale), number(m.calls - m.cached, locale)]
                                                   for m in board.models]),
        "prompts": table(locale, PROMPT_HEADERS, [[prompt_name(p.prompt, locale), *counts(p)] for p in board.prompts]),
    }


def _plot(ui: UI, key: str, elem_id: str, **kw) -> gr.BarPlot:
    # y_lim from 0: Gradio would start the axis at the smallest bar, which then shows as nothing.
    return ui.tr(gr.BarPlot(None, x="x", y="y", label=text(key), x_title=" ", y_title=" ", x_label_angle=-30,
                            y_lim=[0, None], height=280, elem_id=elem_id, **kw), label=key)


def _table(ui: UI, headers: tuple[str, ...], elem_id: str) -> gr.Dataframe:
    return ui.tr(gr.Dataframe(headers=[text(f"ui_analytics.col_{h}") for h in headers], column_count=len(headers),
                              interactive=False, wrap=True, max_height=300, elem_id=elem_id),
                 headers=",".join(f"ui_analytics.col_{h}" for h in headers))


def build(ui: UI) -> None:
    """The tab's controls, plots and tables. Built lazily (ui/lazy.py) when the tab is first
    opened, so its data loads then; Refresh and the filters load it again."""
    services = ui.services
    opened = gr.State(False)
    with gr.Row(equal_height=False):
        since = ui.tr(gr.Textbox(DEFAULT_SINCE, label=text("ui_analytics.since"), info=text("ui_analytics.when_info"),
                                 max_lines=1, max_length=40, elem_id="analytics-since"),
                      label="ui_analytics.since", info="ui_analytics.when_info")
        until = ui.tr(gr.Textbox("", label=text("ui_analytics.until"), placeholder=text("ui_analytics.until_placeholder"),
                                 max_lines=1, max_length=40, elem_id="analytics-until"),
                      label="ui_analytics.until", placeholder="ui_analytics.until_placeholder")
        bucket = ui.tr(gr.Radio([(text("ui_analytics.day"), "day"), (text("ui_analytics.week"), "week")], value="day",
                                label=text("ui_analytics.bucket"), elem_id="analytics-bucket"),
                       label="ui_analytics.bucket", choices="ui_analytics.day=day,ui_analytics.week=week")
        metric = ui.tr(gr.Radio([(text(f"ui_analytics.metric_{m}"), m) for m in METRICS], value="calls",
                                label=text("ui_analytics.metric"), elem_id="analytics-metric"),
                       label="ui_analytics.metric", choices=",".join(f"ui_analytics.metric_{m}={m}" for m in METRICS))
        refresh = ui.tr(gr.Button(text("ui_analytics.refresh"), variant="primary", scale=0,
                                  min_width=120, elem_id="analytics-refresh"), value="ui_analytics.refresh")
    status = gr.Markdown("", elem_id="analytics-status", elem_classes=["pm-status"])
    totals = gr.Markdown("", elem_id="analytics-totals")
    plots, numbers = {}, {}
    sections = (("timeline", "ui_analytics.plot_timeline", TIMELINE_HEADERS),
                ("models", "ui_analytics.plot_models", MODEL_HEADERS),
                ("latency", "ui_analytics.plot_latency", LATENCY_HEADERS),
                ("prompts", "ui_analytics.plot_prompts", PROMPT_HEADERS))
    for name, key, headers in sections:
        with gr.Row(equal_height=False, elem_id=f"analytics-{name}"):
            with gr.Column(scale=3, min_width=320):
                extra = {"color": "series"} if name == "latency" else {}
                plots[name] = _plot(ui, key, f"analytics-{name}-plot", **extra)
            with gr.Column(scale=2, min_width=260):
                numbers[name] = _table(ui, headers, f"analytics-{name}-table")
    outputs = [opened, totals, status, *plots.values(), *numbers.values()]

    @ui.handler
    @reports(status)
    def load(ctx, since_text, until_text, chosen_bucket, chosen_metric):
        # Errors name the fields as the page labels them, not as the CLI's options.
        period = parse_period(since_text, until_text, names=(text("ui_analytics.since", ctx.locale),
                                                             text("ui_analytics.until", ctx.locale)))
        board = services.analytics.dashboard(ctx, period, bucket=chosen_bucket or "day", top_prompts=TOP_PROMPTS)
        chosen_metric = chosen_metric if chosen_metric in METRICS else "calls"
        locale, shown = ctx.locale, frames(ctx.locale, board, chosen_metric)
        measure = text(f"ui_analytics.metric_{chosen_metric}", locale)
        titles = {"timeline": (text(f"ui_analytics.col_when_{board.bucket}", locale), measure),
                  "models": (text("ui_analytics.col_model", locale), measure),
                  "latency": (text("ui_analytics.col_model", locale), text("ui_analytics.latency_ms", locale)),
                  "prompts": (text("ui_analytics.col_prompt", locale), text("ui_analytics.metric_cost", locale))}
        updates = {opened: True, totals: summary(locale, board.totals)}
        for name, (frame, order) in shown.items():
            x_title, y_title = titles[name]
            extra = {"color_title": text("ui_analytics.percentile", locale)} if name == "latency" else {}
            updates[plots[name]] = gr.update(value=frame, sort=order or None, x_title=x_title, y_title=y_title,
                                             **extra)
        for name, value in tables(locale, board).items():
            updates[numbers[name]] = value
        return updates

    @ui.handler
    def relocalize(ctx, was_opened, *values):
        # A language switch relabels the tables (emptying them): refill them if the tab was opened.
        return ui.call_loader(load, ctx, *values) if was_opened else {}

    inputs = [ui.locale, since, until, bucket, metric]
    ui.on_load(load, inputs[1:], outputs)
    refresh.click(load, inputs, outputs, show_progress_on=[status])
    for box in (since, until):
        box.submit(load, inputs, outputs, show_progress_on=[status])
    for radio in (bucket, metric):
        radio.input(load, inputs, outputs, show_progress_on=[status])
    ui.on_locale_change(relocalize, [opened, since, until, bucket, metric], outputs)
