"""The REST API under /api/v1 (hosted mode): a FastAPI sub-application mounted by web/app.py's
create_app, with its own OpenAPI document (/api/v1/openapi.json) and docs (/api/v1/docs).

Routes are thin adapters over the services; auth, rate limits and the error shape are in deps.py,
limiting.py and errors.py."""
from __future__ import annotations

PREFIX = "/api/v1"


def build_api(services, limits=None):
    """The API app over `services`; `limits` (a limiting.RateLimits) defaults to the settings'."""
    from fastapi import FastAPI

    from ... import __version__
    from . import datasets, errors, experiments, health, prompts, runs
    from .limiting import BodyLimit, RateLimits

    settings = services.settings
    api = FastAPI(title="promptmgr API", version=__version__, docs_url="/docs", redoc_url=None,
                  openapi_url="/openapi.json")  # mounted: FastAPI lists /api/v1 as the server itself
    api.state.pm_services = services
    api.state.pm_limits = limits or RateLimits(settings.rate_limit, settings.workspace_rate_limit, settings.redis_url)
    errors.install(api)
    api.include_router(health.build_router())
    api.include_router(prompts.build_router())
    api.include_router(runs.build_router())
    api.include_router(datasets.build_router())
    api.include_router(experiments.build_router())
    api.add_middleware(BodyLimit, max_bytes=settings.api_max_body_kb * 1024)
    return api
