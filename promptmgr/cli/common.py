"""What every command shares: the services, the caller's context, output and errors."""
from __future__ import annotations

import json
import os
import re
import sys
from functools import lru_cache
from typing import Any, Callable

import typer

# What a terminal would act on instead of showing: C0 controls but newline and tab (ESC starts
# screen clears, OSC 52 clipboard writes, OSC 8 links), a CR not ending a line (overwrites what was
# printed), DEL, C1 controls (\x9b is an 8-bit CSI) and text-direction overrides.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]|\r(?!\n)")
# json.dumps escapes C0 controls itself; with ensure_ascii=False it leaves DEL, C1 and overrides.
_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match) -> str:
    char = match.group()
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def safe_text(text: str) -> str:
    """Stored text made harmless for a terminal: control characters shown as \\xNN escapes."""
    return _UNSAFE.sub(_escape, text)


def safe_json(text: str) -> str:
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def echo(text: str, err: bool = False, nl: bool = True) -> None:
    """Print human output: every CLI printer goes through here (or emit), never typer.echo directly."""
    typer.echo(safe_text(text), err=err, nl=nl)


def cli_locale() -> str:
    from ..i18n import normalize_locale

    return normalize_locale(os.environ.get("PROMPTMGR_LOCALE") or os.environ.get("LANG")) or "en"


@lru_cache(maxsize=1)
def _local_services():
    from ..bootstrap import build_services

    return build_services()


def services():
    """The local services. In remote mode (PROMPTMGR_SERVER or `prompts --server`) a command that
    needs them has no remote version: it is refused rather than quietly run on the local library."""
    from .remote import target

    if target() is not None:
        from ..errors import ValidationError

        raise ValidationError("client.cli.local_only")
    return _local_services()


# The test fixtures reset the cached services between tests.
services.cache_clear, services.cache_info = _local_services.cache_clear, _local_services.cache_info


def library():
    """The prompt library the commands work on: a promptmgr server's API in remote mode, else the
    local library service bound to the caller (cli/remote.py). The same methods and results."""
    from .remote import BoundLibrary, target

    remote = target()
    if remote is None:
        return BoundLibrary(services().library, context())
    if not remote.token:
        from ..errors import ValidationError

        raise ValidationError("client.cli.token_required", origin=remote.origin)
    return _remote_library(remote.url, remote.token, cli_locale())


@lru_cache(maxsize=1)
def _remote_library(url: str, token: str, locale: str):
    """One connection pool per server for the process (a command may make several calls)."""
    from .remote import RemoteLibrary

    return RemoteLibrary(url, token, locale)


def context():
    """The caller's TenantContext (single-user mode: the local tenant and user)."""
    # The audit log's origin of a terminal command: this machine.
    return services().local_context().with_locale(cli_locale()).with_origin("local", "promptmgr-cli")


def t(key: str, **params) -> str:
    from ..i18n import t as translate

    return translate(key, cli_locale(), **params)


def to_jsonable(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    return value


def emit(data: Any, as_json: bool, human: Callable[[Any], str | None] | None = None) -> None:
    """Print `data` as JSON, or as the human text `human(data)` returns."""
    if as_json or human is None:
        typer.echo(safe_json(json.dumps(to_jsonable(data), ensure_ascii=False, indent=2, default=str)))
    else:
        text = human(data)
        if text:
            echo(text)


def parse_pairs(pairs: list[str], option: str) -> dict[str, str]:
    """KEY=VALUE options into a dict; a pair without '=' is a user error."""
    from ..errors import ValidationError

    result = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValidationError("cli.bad_pair", option=option, value=pair)
        result[key.strip()] = value
    return result


def fail(exc: BaseException, locale: str) -> None:
    """One line on stderr and exit 1 for user errors, 2 for anything unexpected."""
    from ..errors import PromptMgrError
    from ..i18n import t as translate

    if isinstance(exc, PromptMgrError):
        echo(_one_line(translate("cli.error", locale, message=exc.translate(locale))), err=True)
        sys.exit(1)
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    if isinstance(exc, DBAPIError):
        # The driver's message only: str(exc) would add the SQL and its parameters (a whole import
        # batch, encrypted keys...). PostgreSQL's message can span lines (DETAIL, HINT): the first.
        detail = _one_line(str(exc.orig))
        echo(translate("cli.error", locale, message=translate("errors.database", locale, detail=detail)), err=True)
        sys.exit(1)
    detail = _one_line(str(exc.args[0]) if isinstance(exc, SQLAlchemyError) and exc.args else str(exc))
    echo(translate("cli.unexpected", locale, kind=type(exc).__name__, detail=detail), err=True)
    sys.exit(2)


def _one_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0]


def interactive() -> bool:
    return sys.stdin.isatty()


def confirm_delete(check_exists: Callable[[], Any], name: str, *, needs_yes: str, ask: str, cancelled: str) -> None:
    """Ask before a deletion: a missing thing is reported before anything is asked, a script without
    a terminal must pass --yes (`needs_yes`), and "no" exits 1. The three are locale keys."""
    from ..errors import ValidationError

    check_exists()
    if not interactive():
        raise ValidationError(needs_yes, name=name)
    if not typer.confirm(t(ask, name=name), default=False):
        echo(t(cancelled), err=True)
        raise typer.Exit(1)
