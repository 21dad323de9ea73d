"""`promptmgr stats`: calls, tokens, cost, errors, cache hits and latency of stored runs, by model,
by prompt or over time (the numbers the UI's Analytics tab plots), aggregated in the database."""
from __future__ import annotations

from typing import Annotated, Optional

import typer

from .common import context, emit, services, t
from .models import aligned, money

GROUPINGS = ("model", "prompt", "day", "week")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def register(app: typer.Typer) -> None:
    app.command("stats")(stats)


def stats(
    since: Annotated[Optional[str], typer.Option(
        "--since", "-s", help="Only runs since then: 24h, 7d, 2w (that long ago) or an ISO date such as "
                              "2026-11-01 (UTC). Default: all runs.")] = None,
    until: Annotated[Optional[str], typer.Option(
        "--until", help="Only runs before then (same forms; a date includes that whole day).")] = None,
    by: Annotated[str, typer.Option(
        "--by", "-b", help="Group by model (with latency p50/p95), prompt (most expensive first), day or week.")]
    = "model",
    limit: Annotated[int, typer.Option("--limit", "-n", help="With --by prompt: at most this many prompts "
                                                             "(1-100).")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Analytics over every stored run (testing bench, builder, enhance, translate, experiments).

    --json prints {since, until, by, totals, rows}; costs are in US dollars, latencies in milliseconds."""
    from ..errors import ValidationError
    from ..services.analytics import parse_period

    choice = by.strip().lower()
    if choice not in GROUPINGS:
        raise ValidationError("analytics.cli.bad_by", value=by[:20], choices=", ".join(GROUPINGS))
    period = parse_period(since, until)
    analytics, ctx = services().analytics, context()
    totals = analytics.totals(ctx, period)
    if choice == "model":
        rows = analytics.by_model(ctx, period)
    elif choice == "prompt":
        rows = analytics.by_prompt(ctx, period, limit=limit)
    else:
        rows = analytics.timeline(ctx, period, bucket=choice)
    data = {"since": period.since, "until": period.until, "by": choice, "totals": totals, "rows": rows}
    emit(data, as_json, lambda d: _text(d))


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _text(data: dict) -> str:
    totals, by = data["totals"], data["by"]
    since = data["since"].strftime("%Y-%m-%d %H:%M") if data["since"] else t("analytics.cli.start")
    until = data["until"].strftime("%Y-%m-%d %H:%M") if data["until"] else t("analytics.cli.now")
    lines = [t("analytics.cli.period", since=since, until=until),
             t("analytics.cli.totals", calls=totals.calls, tokens=totals.tokens, cost=money(totals.cost),
               errors=totals.errors, error_rate=_percent(totals.error_rate),
               cache_rate=_percent(totals.cache_hit_rate))]
    if totals.unpriced:
        lines.append(t("analytics.cli.unpriced", count=totals.unpriced))
    if not data["rows"]:
        lines.append(t("analytics.cli.none"))
        return "\n".join(lines)
    common = ["calls", "tokens", "cost", "errors", "cache"]
    if by == "model":
        columns = ["model", *common, "p50", "p95"]
    elif by == "prompt":
        columns = ["prompt", *common]
    else:
        columns = [by, *common]
    table = [[t(f"analytics.cli.col_{c}") for c in columns]]
    for row in data["rows"]:
        first = {"model": lambda r: r.model, "prompt": lambda r: r.prompt or t("analytics.cli.no_prompt")}.get(
            by, lambda r: r.bucket.isoformat())(row)
        cells = [first, str(row.calls), str(row.tokens), money(row.cost), str(row.errors), _percent(row.cache_hit_rate)]
        if by == "model":
            cells += [_ms(row.latency_p50_ms), _ms(row.latency_p95_ms)]
        table.append(cells)
    lines += ["", aligned(table)]
    return "\n".join(lines)
