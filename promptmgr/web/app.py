"""The hosted app: one ASGI app serving the sign-in pages (FastAPI) with the Gradio app mounted at
/ behind the session. Built by create_app(services); `promptmgr serve` and `python app.py` (with
PROMPTMGR_MODE=multi) run it with uvicorn."""
from __future__ import annotations

import logging
import os

from ..llm import offline  # noqa: F401  (before gradio reaches for the network)

log = logging.getLogger("promptmgr.web")


def create_app(services=None, *, host: str = "127.0.0.1", demo=None):
    """The ASGI app for hosted mode over `services` (default: from the environment's settings).
    `host` is the address it listens on (for the Host-header check, as in ui.app.launch)."""
    import gradio as gr
    from fastapi import FastAPI
    from starlette.middleware.sessions import SessionMiddleware as SignedSession

    from ..exposure import HostCheckMiddleware, allowed_hosts
    from ..ui.app import create_demo
    from ..ui.theme import CSS, make_theme
    from . import metrics, oidc, pages
    from .auth_port import AuthPort
    from .requests_log import RequestContextMiddleware
    from .session import SessionMiddleware

    if services is None:
        from ..bootstrap import build_services

        services = build_services()
    settings = services.settings
    from ..services.auth import check_hosted_settings

    check_hosted_settings(settings)  # no sessions without PROMPTMGR_SECRET_KEY
    port = AuthPort(services)
    config = oidc.oidc_config()
    app = FastAPI(title="promptmgr", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(pages.build_router(port, lambda: config is not None))
    app.include_router(oidc.build_router(port, config))
    app.include_router(metrics.build_router(services))
    from .api import PREFIX, build_api

    # Before Gradio's mount at /: the first matching mount wins. The API does its own auth (tokens
    # or this session's cookie, web/api/deps.py); the session middleware below still reads the cookie.
    app.state.pm_api = build_api(services)
    app.mount(PREFIX, app.state.pm_api)

    def signed_in(request) -> str | None:
        """Gradio's auth_dependency (synchronous): the signed-in user, or None for Gradio's 401."""
        ctx = getattr(request.state, "pm_ctx", None)
        return None if ctx is None else f"user-{ctx.user_id}"

    demo = demo or create_demo(services)
    app = gr.mount_gradio_app(
        app, demo, path="/", auth_dependency=signed_in, ssr_mode=False, theme=make_theme(), css=CSS,
        footer_links=["gradio"], max_file_size=settings.max_upload_mb * 1024 * 1024, mcp_server=False)
    # Outermost last: the request id and metrics, the Host check, then the session, then the OpenID round trip's signed cookie.
    if config is not None:
        app.add_middleware(SignedSession, secret_key=settings.secret_key or os.urandom(32).hex(),
                           session_cookie="pm_oidc", max_age=600, same_site="lax",
                           https_only=False)
    app.add_middleware(SessionMiddleware, auth=port)
    app.add_middleware(HostCheckMiddleware, allowed=allowed_hosts(host, settings.allowed_hosts))
    app.add_middleware(RequestContextMiddleware, metrics=metrics.process_metrics())  # ids every request
    app.state.pm_services, app.state.pm_demo = services, demo
    app.state.pm_oidc_issuer = config.issuer if config is not None else None
    return app
