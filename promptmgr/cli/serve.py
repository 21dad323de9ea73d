"""`promptmgr serve`: the hosted app (PROMPTMGR_MODE=multi) with uvicorn: sign-in pages and the
Gradio app behind them, for a team on a server or a Space.

uvicorn and gradio are imported only when the command runs."""
from __future__ import annotations

from typing import Annotated

import typer


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on (0.0.0.0 for every interface; "
                                                      "add the public name to PROMPTMGR_ALLOWED_HOSTS).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 7860,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64,
                                         help="Worker processes. Several need PostgreSQL and, behind a proxy, "
                                              "sticky sessions.")] = 1,
) -> None:
    """Serve the hosted, multi-user app (login, workspaces, roles). Needs PROMPTMGR_MODE=multi and
    PROMPTMGR_SECRET_KEY; the first start says how to create the first owner (or creates it from
    PROMPTMGR_ADMIN_EMAIL and PROMPTMGR_ADMIN_PASSWORD)."""
    from ..config import get_settings
    from ..errors import ValidationError

    if get_settings().mode != "multi":
        raise ValidationError("web.cli.single_mode")
    from ..web.start import run

    run(host, port, workers)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
