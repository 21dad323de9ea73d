"""`promptmgr experiments estimate/run/resume/cancel`: the cost preflight and the runner.

The progress bar (done/total, errors, cost, ETA) goes to stderr, so `--json` keeps stdout clean.
Ctrl-C pauses the run: the cells in flight finish, the rest stay pending for `resume`."""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Annotated, Optional

import typer

from .common import context, echo, emit, services, t
from .models import aligned, money

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
NameArg = Annotated[str, typer.Argument(help="The experiment's name.")]
ConcurrencyOpt = Annotated[Optional[int], typer.Option(
    "--concurrency", "-c", help="Model calls at once (1-256; default: the experiment's).")]
MaxCostOpt = Annotated[Optional[float], typer.Option(
    "--max-cost", help="Budget in USD for the whole experiment: no call starts once spent plus what is in "
                       "flight would pass it; the experiment is paused and `resume --max-cost` continues.")]


def register(app: typer.Typer) -> None:
    app.command("estimate")(estimate)
    app.command("run")(run)
    app.command("resume")(resume)
    app.command("cancel")(cancel)


def estimate(name: NameArg, as_json: JsonOpt = False) -> None:
    """Calls, input tokens (exact where a tokenizer exists), expected output tokens and cost per variant."""
    result = services().experiment_runs.estimate(context(), name)
    emit(result.to_dict(), as_json, lambda _data: _estimate_text(result))


def _estimate_text(e) -> str:
    header = [t(f"runner.cli.col_{c}") for c in ("variant", "calls", "cached", "input", "output", "cost")]
    rows = [[v.name, str(v.calls), str(v.cached_calls) + ("~" if v.sampled_rows else ""),
             f"{v.input_tokens}" + ("" if v.input_exact else "~"),
             f"{v.output_tokens} ({t(f'runner.cli.source_{v.output_source}')})", money(v.cost)] for v in e.variants]
    lines = [aligned([header, *rows]), ""]
    if e.judge_calls:
        lines.append(t("runner.cli.judges", calls=e.judge_calls, cost=money(e.judge_cost)))
    lines.append(t("runner.cli.total", calls=e.calls, cost=money(e.cost), spent=money(e.spent)))
    sampled = [v.sampled_rows for v in e.variants if v.sampled_rows]
    if sampled:
        lines.append(t("runner.cli.sampled", rows=min(sampled)))
    if any(v.output_source == "default" for v in e.variants):
        lines.append(t("runner.cli.default_output", tokens=e.default_output_tokens))
    if e.unknown_prices:
        lines.append(t("runner.cli.unknown_prices", models=", ".join(e.unknown_prices)))
    return "\n".join(lines)


def run(name: NameArg, concurrency: ConcurrencyOpt = None, max_cost: MaxCostOpt = None,
        stop_early: Annotated[bool, typer.Option(
            "--stop-early", help="Two variants only: stop as soon as a sequential test finds a clear winner.")] = False,
        as_json: JsonOpt = False) -> None:
    """Run an experiment's cells; finished cells are stored as they come and a crash loses none."""
    _execute("run", name, as_json, concurrency=concurrency, max_cost=max_cost, stop_early=stop_early)


def resume(name: NameArg, concurrency: ConcurrencyOpt = None, max_cost: MaxCostOpt = None,
           as_json: JsonOpt = False) -> None:
    """Run the cells that are not done yet (after a pause, a budget stop or a crash)."""
    _execute("resume", name, as_json, concurrency=concurrency, max_cost=max_cost)


def cancel(name: NameArg) -> None:
    """Cancel an experiment; runners working on it stop within about a second."""
    status = services().experiment_runs.cancel(context(), name)
    echo(t("runner.cli.cancelled", name=name, status=status))


def _execute(method: str, name: str, as_json: bool, **kwargs) -> None:
    if services().settings.queued_experiments:  # hosted mode: the `promptmgr worker` processes run it
        jobs = services().enqueue_experiment(context(), name, resume=method == "resume", **kwargs)
        emit({"name": name, "status": "queued", "jobs": jobs}, as_json,
             lambda d: t("worker.cli.queued", name=name, jobs=len(jobs)))
        return
    svc, ctx = services().experiment_runs, context()
    pause = threading.Event()
    with _progress_bar() as progress, _pause_on_interrupt(pause):
        summary = getattr(svc, method)(ctx, name, progress=progress, pause=pause, **kwargs)
    data = _summary_dict(name, summary)
    emit(data, as_json, _summary_text)


def _summary_dict(name: str, s) -> dict:
    from dataclasses import asdict

    return {"name": name, **asdict(s)}


def _summary_text(d: dict) -> str:
    lines = [t("runner.cli.summary", name=d["name"], status=t(f"runner.status.{d['status']}"), done=d["done"],
               total=d["total"], errors=d["errors"], cost=money(d["cost"]), calls=d["calls"], cached=d["cached"],
               seconds=f"{d['elapsed_s']:.1f}")]
    if d.get("status_key"):
        from ..i18n import t as translate
        from .common import cli_locale

        lines.append(translate(d["status_key"], cli_locale(), **(d.get("status_params") or {})))
    return "\n".join(lines)


@contextmanager
def _pause_on_interrupt(pause: threading.Event):
    """Ctrl-C asks the runner to pause instead of killing it mid-write; a second one exits."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(_sig, _frame):
        if pause.is_set():
            raise KeyboardInterrupt
        pause.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def _progress_bar():
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    if not console.is_terminal:  # logs and CI: no bar, no control sequences
        yield None
        return
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[errors]}"), TextColumn("{task.fields[cost]}"), TimeRemainingColumn(),
                   console=console, transient=True)
    task = bar.add_task(t("runner.cli.running"), total=None, errors="", cost="")

    def update(p) -> None:
        bar.update(task, total=p.total, completed=p.done, errors=t("runner.cli.errors", n=p.errors),
                   cost=money(p.cost))

    with bar:
        yield update
