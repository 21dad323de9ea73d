"""/api/v1 providers, models, prices and the default model: thin adapters over ProviderService (the
same methods, and so the same policy, as the Settings tab and `promptmgr providers`/`models`).

A provider's key is write-only here: it goes in with POST /providers and never comes back out, not
even masked (the UI shows a masked key to tell two keys apart; an API client has no use for it, and
every character returned is one less to guess)."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Optional

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field

from ...context import TenantContext
from ...llm.schemas import ConnectionTest, DefaultModelStatus, ModelsOverview, PricePublic, ProviderPublic
from .deps import caller
from .errors import error_responses

Caller = Annotated[TenantContext, Depends(caller)]
NameArg = Annotated[str, Path(max_length=100)]
ModelArg = Annotated[str, Path(max_length=200)]
MAX_OVERVIEW = 5000


class ProviderOut(BaseModel):
    """A provider as the API shows it: whether it has a key, never the key."""

    name: str
    kind: str
    base_url: str  # credentials in the URL masked
    has_key: bool
    key_readable: bool = True  # False: stored under another passphrase (PROMPTMGR_SECRET_KEY changed)
    created_at: datetime


class ProviderCreate(BaseModel):
    name: str = Field(max_length=100)
    base_url: str = Field(max_length=2000)
    kind: str = Field(default="openai_compatible", max_length=40)
    api_key: Optional[str] = Field(default=None, max_length=4000, description="Write-only: never returned")


class ModelsOverviewOut(ModelsOverview):
    providers: list[ProviderOut] = Field(default_factory=list)


class PriceRequest(BaseModel):
    input_per_1k: float = Field(default=0.0, ge=0, le=1e9, description="USD per 1000 input tokens")
    output_per_1k: float = Field(default=0.0, ge=0, le=1e9, description="USD per 1000 output tokens")
    context_window: Optional[int] = Field(default=None, ge=1, le=2**31 - 1)


class DefaultModelRequest(BaseModel):
    model: Optional[str] = Field(default=None, max_length=200, description="None clears the choice")


def provider_out(provider: ProviderPublic) -> ProviderOut:
    return ProviderOut(**provider.model_dump(include=set(ProviderOut.model_fields)))


def build_router() -> APIRouter:
    router = APIRouter(tags=["providers"], responses=error_responses())

    def providers(request: Request):
        return request.app.state.pm_services.providers

    @router.get("/providers", response_model=list[ProviderOut], summary="The workspace's providers (no keys)")
    def list_providers(request: Request, ctx: Caller):
        return [provider_out(p) for p in providers(request).list(ctx)]

    @router.post("/providers", response_model=ProviderOut, status_code=201,
                 summary="Add a provider (admin); its api_key is stored encrypted and never returned")
    def add_provider(request: Request, ctx: Caller, data: ProviderCreate):
        return provider_out(providers(request).add(ctx, data.name, data.base_url, data.kind, data.api_key))

    @router.get("/providers/{name}", response_model=ProviderOut, summary="One provider (no key)")
    def get_provider(request: Request, ctx: Caller, name: NameArg):
        return provider_out(providers(request).get(ctx, name))

    @router.delete("/providers/{name}", status_code=204, summary="Remove a provider and its key (admin)")
    def remove_provider(request: Request, ctx: Caller, name: NameArg):
        providers(request).remove(ctx, name)
        return Response(status_code=204)

    @router.post("/providers/{name}/test", response_model=ConnectionTest,
                 summary="Ask the provider for its models (admin); a failure is data (ok: false)")
    def test_provider(request: Request, ctx: Caller, name: NameArg):
        return providers(request).test_connection(ctx, name)

    @router.get("/models", response_model=ModelsOverviewOut,
                summary="Known models, callable ones first, with providers, prices and the default model")
    def models(request: Request, ctx: Caller, q: Annotated[Optional[str], Query(max_length=200)] = None,
               limit: Annotated[int, Query(ge=0, le=MAX_OVERVIEW)] = 200):
        found = providers(request).overview(ctx, search=q, limit=limit)
        return ModelsOverviewOut(**{**found.model_dump(exclude={"providers"}),
                                    "providers": [provider_out(p) for p in found.providers]})

    @router.get("/prices", response_model=list[PricePublic], summary="Price overrides, by model")
    def prices(request: Request, ctx: Caller):
        return providers(request).prices(ctx)

    @router.put("/prices/{model:path}", response_model=PricePublic,
                summary="Set a model's prices (USD per 1000 tokens) and context window (admin)")
    def set_price(request: Request, ctx: Caller, model: ModelArg, data: PriceRequest):
        return providers(request).set_price(ctx, model, data.input_per_1k, data.output_per_1k, data.context_window)

    @router.delete("/prices/{model:path}", status_code=204, summary="Remove a model's price override (admin)")
    def remove_price(request: Request, ctx: Caller, model: ModelArg):
        providers(request).remove_price(ctx, model)
        return Response(status_code=204)

    @router.get("/default-model", response_model=DefaultModelStatus,
                summary="The caller's default model and where it comes from")
    def default_model(request: Request, ctx: Caller):
        return providers(request).default_status(ctx)

    @router.put("/default-model", response_model=DefaultModelStatus,
                summary="Choose (or clear with null) the caller's default model (admin)")
    def set_default_model(request: Request, ctx: Caller, data: DefaultModelRequest):
        service = providers(request)
        service.set_default_model(ctx, data.model)
        return service.default_status(ctx)

    return router
