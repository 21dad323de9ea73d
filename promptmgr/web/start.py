"""Starting the hosted app: the start checks, the first owner, and uvicorn. Shared by
`promptmgr serve` and `python app.py` (a Space)."""
from __future__ import annotations

import os
import sys

from ..i18n import normalize_locale, t
from .requests_log import configure_logging

APP_FACTORY = "promptmgr.web.start:app_from_env"


def _say(key: str, **params) -> None:
    locale = normalize_locale(os.environ.get("PROMPTMGR_LOCALE") or os.environ.get("LANG")) or "en"
    print(t(key, locale, **params), file=sys.stderr, flush=True)


def prepare(services, workers: int = 1) -> None:
    """Refuse settings hosted mode cannot run with (no PROMPTMGR_SECRET_KEY, SQLite shared by
    several workers), then create the first owner from PROMPTMGR_ADMIN_EMAIL/PASSWORD once or say
    how to create one. Raises ValidationError."""
    from ..services.auth import check_hosted_settings

    check_hosted_settings(services.settings, workers)
    if services.settings.queued_experiments:  # the experiment queue's tables (promptmgr/worker.py)
        from ..worker import ensure_schema

        ensure_schema(services)
    outcome = services.accounts.ensure_first_owner()
    if outcome == "created":
        _say("web.cli.owner_created", email=services.settings.admin_email)
    elif outcome == "missing":
        _say("web.cli.no_user")


def app_from_env():
    """The ASGI app for one uvicorn worker, from the environment (uvicorn --factory)."""
    from ..bootstrap import build_services
    from .app import create_app

    services = build_services()
    configure_logging(services.settings.log_format, services.settings.log_level)
    prepare(services, int(os.environ.get("PROMPTMGR_WORKERS", "1")))
    return create_app(services, host=os.environ.get("PROMPTMGR_BIND_HOST", "127.0.0.1"))


def run(host: str, port: int, workers: int = 1, services=None) -> None:
    """Serve until stopped. One worker runs in this process; several are uvicorn's processes,
    each building its own app (the checks ran here first, so a refused setting stops at once)."""
    import uvicorn

    if services is None:
        from ..bootstrap import build_services

        services = build_services()
    configure_logging(services.settings.log_format, services.settings.log_level)
    prepare(services, workers)
    os.environ["PROMPTMGR_BIND_HOST"], os.environ["PROMPTMGR_WORKERS"] = host, str(workers)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    _say("web.cli.running", url=f"http://{shown}:{port}/")
    # proxy_headers: X-Forwarded-Proto from the proxy in front decides the Secure cookie flag.
    # log_config=None: uvicorn's own records go through configure_logging's handler (JSON with the
    # request id); its access log is off, RequestContextMiddleware writes one line per request.
    options = dict(host=host, port=port, proxy_headers=True, forwarded_allow_ips="*", log_config=None,
                   access_log=False)
    if workers == 1:
        from .app import create_app

        uvicorn.run(create_app(services, host=host), **options)
    else:
        uvicorn.run(APP_FACTORY, factory=True, workers=workers, **options)
