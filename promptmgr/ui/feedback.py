"""Errors of a user's action shown without locking the form.

Gradio 6 paints its red "Error" status over every output of an event that raises, hiding what was
typed and swallowing clicks. Handlers of forms therefore do not raise for a core error: the
message becomes a toast and a status line (one of the event's outputs), and the event succeeds.
Wrap under ui.handler: `@ui.handler` then `@reports(status)`, so ctx is already resolved."""
from __future__ import annotations

import functools
import inspect
from typing import Callable

import gradio as gr

from ..errors import PromptMgrError
from .common import text


class Stop(Exception):
    """Raised inside a reporting handler to end it with a translated status line (no core error)."""

    def __init__(self, key: str, **params):
        super().__init__(key)
        self.key, self.params = key, params


def message_of(exc: Exception, locale: str) -> str:
    if isinstance(exc, Stop):
        return text(exc.key, locale, **exc.params)
    return exc.translate(locale)


def warn(status, exc: Exception, locale: str, extra: dict | None = None) -> dict:
    """Toast the error and put it on the status line: the updates a failed action returns."""
    message = message_of(exc, locale)
    gr.Warning(message)
    return {**(extra or {}), status: "⚠ " + message}


def reports(status, on_error: Callable[..., dict] | None = None, clear: bool = True) -> Callable:
    """Turn PromptMgrError (and Stop) of `fn(ctx, *inputs)` into a toast plus `status` text.

    on_error(ctx, *inputs) may add updates for a failed action (for example re-enabling a button).
    A successful call that does not mention `status` clears it (unless clear=False: a follow-up
    step such as a refresh must not wipe what the action before it reported)."""

    def decorate(fn: Callable) -> Callable:
        def failed(ctx, args, exc) -> dict:
            return warn(status, exc, ctx.locale, on_error(ctx, *args) if on_error else None)

        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def streaming(ctx, *args, **kwargs):
                try:
                    yield from fn(ctx, *args, **kwargs)
                except (PromptMgrError, Stop) as exc:
                    yield failed(ctx, args, exc)

            return streaming

        @functools.wraps(fn)
        def wrapped(ctx, *args, **kwargs):
            try:
                result = fn(ctx, *args, **kwargs)
            except (PromptMgrError, Stop) as exc:
                return failed(ctx, args, exc)
            if clear and isinstance(result, dict) and status not in result:
                result = {**result, status: ""}
            return result

        return wrapped

    return decorate
