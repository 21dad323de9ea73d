"""`promptmgr eval PATH`: a promptfoo config imported into a new experiment, run, and reported, for CI.

Exit codes (promptfoo's convention for failures): 0 every cell passed its checks; 100 at least one
cell failed a check or errored (the provider failed); 1 bad input (the config, a path, a name...) or
a run that did not complete; 2 an unexpected error; 130 interrupted."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import context, echo, emit, services, t

EXIT_FAILED = 100


def register(root: typer.Typer) -> None:
    root.command("eval", epilog="Exit codes: 0 all passed, 100 a cell failed a check or errored, 1 bad input "
                                "or an incomplete run, 2 unexpected error.")(eval_)


def _name(path: str) -> str:
    from ..services.promptfoo_import import slug

    folder = Path(path).resolve().parent.name
    stem = slug(Path(path).stem if Path(path).stem != "promptfooconfig" else folder, 60) or "eval"
    return f"eval-{stem}-{datetime.now(timezone.utc).strftime('%Y%m%d-%H%M%S-%f')}"


def eval_(
    path: Annotated[str, typer.Argument(help="A promptfoo config (promptfooconfig.yaml).")],
    concurrency: Annotated[Optional[int], typer.Option(
        "--concurrency", "-j", help="Model calls at once (default: the config's maxConcurrency, else 8).")] = None,
    name: Annotated[Optional[str], typer.Option(
        "--name", help="The new experiment's name (default: eval-<config>-<UTC time>).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Run a promptfoo config: import it into a new experiment, run every cell, print the results table.
    Exits 100 when any cell fails a check (or errors), 0 when all pass."""
    from .experiments_report import summary_table

    svc, ctx = services(), context()
    report = svc.results.import_promptfoo(ctx, path, name=name or _name(path))
    experiment = report["experiment"]
    with _runner_ui() as (progress, pause):
        svc.experiment_runs.run(ctx, experiment, concurrency=concurrency, progress=progress, pause=pause)
    summary = svc.results.show(ctx, experiment)
    cells = summary["cells"]
    failed = cells["errors"] + sum(v["n"] - v["passed"] for v in summary["variants"])  # n: graded cells
    incomplete = summary["status"] != "completed" or cells["pending"] + cells["running"] > 0
    code = 1 if incomplete else (EXIT_FAILED if failed else 0)
    emit({"import": report, "summary": summary, "failed": failed, "exit_code": code}, as_json,
         lambda data: summary_table(data["summary"]))
    if not as_json:
        if incomplete:
            echo(t("results.cli.incomplete", name=experiment, status=summary["status"]), err=True)
        elif failed:
            echo(t("results.cli.eval_failed", failed=failed, total=cells["total"]), err=True)
        else:
            echo(t("results.cli.eval_passed", total=cells["total"]), err=True)
    raise typer.Exit(code)


@contextmanager
def _runner_ui():
    """The runner CLI's progress bar on stderr (none off a terminal, so --json stays clean) and its
    Ctrl-C handling (first press pauses the run: `experiments resume` continues it)."""
    import threading

    from .experiments_run import _pause_on_interrupt, _progress_bar  # the runner part's CLI helpers

    pause = threading.Event()
    with _progress_bar() as progress, _pause_on_interrupt(pause):
        yield progress, pause
