"""`promptmgr ui`: start the Gradio app on this machine (single-user, no login).

Gradio is imported only when the command runs: `promptmgr --help` stays fast."""
from __future__ import annotations

from typing import Annotated

import typer

from .common import echo, services, t


def ui(
    host: Annotated[str, typer.Option("--host", help="Address to listen on. Keep 127.0.0.1: there is no login, so "
                                                      "any other address needs --expose.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 7860,
    expose: Annotated[bool, typer.Option(
        "--expose", help="Allow a --host other machines can reach (also PROMPTMGR_EXPOSE=1). Everyone who reaches "
                         "the port can then read, change, delete and export your library and run models on your "
                         "stored keys.")] = False,
) -> None:
    """Open the prompt library, builder, testing bench and settings in your browser."""
    from ..config import get_settings
    from ..errors import ValidationError
    from ..exposure import check_bind

    settings = get_settings()
    if settings.mode == "multi":  # without the sign-in pages every handler would refuse the caller
        raise ValidationError("web.cli.use_serve")
    expose = expose or settings.expose
    check_bind(host, settings.mode, expose)  # refused before anything loads
    from ..ui.app import create_demo, launch

    demo = create_demo(services())
    try:
        launch(demo, host=host, port=port, expose=expose, settings=settings, quiet=True, prevent_thread_lock=True)
    except OSError as exc:  # the port is taken, or the address is not this machine's
        raise ValidationError("ui.app.cannot_listen", host=host, port=port, detail=str(exc).splitlines()[0]) from None
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    echo(t("ui.app.running", url=f"http://{shown}:{port}/"))
    demo.block_thread()  # until Ctrl+C


def register(app: typer.Typer) -> None:
    app.command("ui")(ui)
