"""The `promptmgr` command line. Each command group lives in its own module; this module wires
them up and converts errors to one line on stderr and a non-zero exit code, in one place.

Only the module of the command being run is imported and wired: Typer inspects the signature of
every registered command on each start (about 60 ms for all of them), and `prompts list` should
not pay for importing the model-facing commands either. `--help` and unknown names get them all."""
from __future__ import annotations

import sys
from importlib import import_module

from ..llm import offline  # noqa: F401  (first: keeps every library a command loads off the network)

import typer

# Top-level name -> the module that provides it. A module with `app` is a sub-command group under
# that name; one with `register(app)` adds its commands to the root.
GROUPS = {"prompts": "prompts", "providers": "providers", "runs": "runs", "datasets": "datasets",
          "experiments": "experiments"}
COMMANDS = {
    "categories": "library", "tags": "library", "export": "library", "import": "library",
    "models": "models", "tokens": "models", "run": "runs", "enhance": "enhance", "translate": "enhance",
    "ui": "ui", "serve": "serve",
}
COMMANDS["eval"] = "eval"  # promptfoo configs run for CI (cli/eval.py)
COMMANDS["stats"] = "stats"  # analytics over stored runs (cli/stats.py)
GROUPS.setdefault("experiments", "experiments")
COMMANDS["worker"] = "worker"  # hosted mode: runs queued experiment shards (cli/worker.py)
GROUPS["admin"] = "admin"  # hosted mode: workspaces, users, roles (cli/admin.py)
API_TOKEN_WORDS = ("create", "list", "revoke")  # cli/api_tokens.SUBCOMMANDS (not imported: startup cost)
ROOT_HELP = "promptmgr: a versioned prompt library, a testing bench for any model, and experiments."


def _root(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors.")) -> None:
    """Global options; --debug is read by main() before commands run."""


def build_app(command: str | None = None, sub: str | None = None) -> typer.Typer:
    """The CLI with `command` wired (every command when it is None or not a known name). `tokens`
    is two commands in one name: `tokens create|list|revoke` manage API tokens (cli/api_tokens.py),
    any other `tokens ...` counts a text's tokens (cli/models.py)."""
    if command == "tokens" and sub in API_TOKEN_WORDS:
        app = typer.Typer(name="promptmgr", no_args_is_help=True, add_completion=False,
                          pretty_exceptions_enable=False, help=ROOT_HELP)
        app.callback()(_root)
        app.add_typer(import_module(".api_tokens", __name__).app, name="tokens")
        return app
    app = typer.Typer(name="promptmgr", no_args_is_help=True, add_completion=False,
                      pretty_exceptions_enable=False, help=ROOT_HELP)
    app.callback()(_root)
    known = command in GROUPS or command in COMMANDS
    for name, module in GROUPS.items():
        if not known or name == command:
            app.add_typer(import_module(f".{module}", __name__).app, name=name)
    registered = set()
    for name, module in COMMANDS.items():
        if (not known or name == command) and module not in registered:
            import_module(f".{module}", __name__).register(app)
            registered.add(module)
    return app


def _command_of(args: list[str]) -> str | None:
    """The top-level command name: the first argument that is not an option (the root has only flags)."""
    return next((a for a in args if not a.startswith("-")), None)


def _sub_of(args: list[str]) -> str | None:
    """The argument right after the top-level command name, if any."""
    command = _command_of(args)
    rest = args[args.index(command) + 1:] if command in args else []
    return rest[0] if rest else None


def __getattr__(name: str):
    if name == "app":  # the whole CLI, for tools that import it (e.g. documentation generators)
        return build_app()
    raise AttributeError(name)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI. User errors print one translated line on stderr and exit 1; --debug re-raises."""
    from .common import cli_locale, fail

    args = list(sys.argv[1:] if argv is None else argv)
    try:
        build_app(_command_of(args), _sub_of(args))(args=args, prog_name="promptmgr")
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 — the one place that turns errors into exit codes
        if "--debug" in args:
            raise
        fail(exc, cli_locale())
