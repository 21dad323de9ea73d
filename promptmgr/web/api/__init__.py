"""The REST API under /api/v1 (hosted mode): a FastAPI sub-application mounted by web/app.py's
create_app, with its own OpenAPI document (/api/v1/openapi.json) and docs (/api/v1/docs).

Routes are thin adapters over the services; auth, rate limits and the error shape are in deps.py,
limiting.py and errors.py."""
from __future__ import annotations

PREFIX = "/api/v1"
CORS_HEADERS = ["authorization", "content-type", "if-none-match", "accept-language", "x-request-id"]
CORS_EXPOSED = ["etag", "location", "retry-after", "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset",
                "x-request-id"]


def build_api(services, limits=None):
    """The API app over `services`; `limits` (a limiting.RateLimits) defaults to the settings'."""
    from fastapi import FastAPI

    from ... import __version__
    from . import admin, data, datasets, errors, experiments, health, prompts, providers, runs
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
    api.include_router(providers.build_router())
    api.include_router(data.build_router())
    api.include_router(admin.build_router())
    api.include_router(datasets.build_router())
    api.include_router(experiments.build_router())
    api.add_middleware(BodyLimit, max_bytes=settings.api_max_body_kb * 1024)
    if settings.cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        # Tokens only (no credentials): a cookie session must never be usable from another origin.
        api.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_credentials=False,
                           allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"], allow_headers=CORS_HEADERS,
                           expose_headers=CORS_EXPOSED, max_age=600)
    return api
