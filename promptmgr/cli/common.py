"""What every command shares: the services, the caller's context, output and errors."""
from __future__ import annotations

import json
import os
import sys
from functools import lru_cache
from typing import Any, Callable

import typer


def cli_locale() -> str:
    from ..i18n import normalize_locale

    return normalize_locale(os.environ.get("PROMPTMGR_LOCALE") or os.environ.get("LANG")) or "en"


@lru_cache(maxsize=1)
def services():
    from ..bootstrap import build_services

    return build_services()


def context():
    """The caller's TenantContext (single-user mode: the local tenant and user)."""
    return services().local_context().with_locale(cli_locale())


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
        typer.echo(json.dumps(to_jsonable(data), ensure_ascii=False, indent=2, default=str))
    else:
        text = human(data)
        if text:
            typer.echo(text)


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
        typer.echo(translate("cli.error", locale, message=exc.translate(locale)), err=True)
        sys.exit(1)
    from sqlalchemy.exc import OperationalError

    if isinstance(exc, OperationalError):
        typer.echo(translate("cli.error", locale, message=translate("errors.database", locale,
                                                                       detail=str(exc.orig).strip())), err=True)
        sys.exit(1)
    typer.echo(translate("cli.unexpected", locale, kind=type(exc).__name__, detail=str(exc)), err=True)
    sys.exit(2)
