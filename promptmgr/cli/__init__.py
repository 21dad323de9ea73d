"""The `promptmgr` command line. Each command group lives in its own module; this module wires
them up and converts errors to one line on stderr and a non-zero exit code, in one place."""
from __future__ import annotations

import sys

import typer

from . import enhance, library, models, prompts, providers, runs
from . import ui as ui_command

app = typer.Typer(
    name="promptmgr", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="promptmgr: a versioned prompt library, a testing bench for any model, and experiments.",
)
app.add_typer(prompts.app, name="prompts")
library.register(app)
app.add_typer(providers.app, name="providers")
app.add_typer(runs.app, name="runs")
models.register(app)
runs.register(app)
enhance.register(app)
ui_command.register(app)


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors.")) -> None:
    """Global options; --debug is read by main() before commands run."""


def main(argv: list[str] | None = None) -> None:
    """Run the CLI. User errors print one translated line on stderr and exit 1; --debug re-raises."""
    from .common import cli_locale, fail

    args = list(sys.argv[1:] if argv is None else argv)
    try:
        app(args=args, prog_name="promptmgr")
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 — the one place that turns errors into exit codes
        if "--debug" in args:
            raise
        fail(exc, cli_locale())
