"""/api/v1 runs: run a prompt on a model, list and read stored runs — thin adapters over
TestingService (the same policy as the Testing tab and `promptmgr run`). A provider failure is
stored and returned as data (the run's error fields), as everywhere else."""
from __future__ import annotations

from typing import Annotated, Optional

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from ...context import TenantContext
from ...llm.schemas import RunPublic
from ...schemas import Page
from .deps import caller
from .errors import error_responses

Caller = Annotated[TenantContext, Depends(caller)]


class RunRequest(BaseModel):
    prompt: str = Field(max_length=200)
    model: Optional[str] = Field(default=None, max_length=200)
    label: Optional[str] = Field(default=None, max_length=100)
    version: Optional[int] = Field(default=None, ge=1, le=2**31 - 1)
    variables: dict[str, object] = Field(default_factory=dict)
    params: dict[str, object] = Field(default_factory=dict)
    system_prompt: Optional[str] = Field(default=None, max_length=100_000)


def build_router() -> APIRouter:
    router = APIRouter(tags=["runs"], responses=error_responses())

    def testing(request: Request):
        return request.app.state.pm_services.testing

    @router.post("/runs", response_model=RunPublic, status_code=201, summary="Run a prompt on a model")
    def run(request: Request, ctx: Caller, data: RunRequest):
        return testing(request).run(ctx, data.prompt, version=data.version, label=data.label, model=data.model,
                                    variables=data.variables, params=data.params or None,
                                    system_prompt=data.system_prompt)

    @router.get("/runs", response_model=Page[RunPublic], summary="Stored runs, newest first")
    def list_runs(request: Request, ctx: Caller, prompt: Annotated[Optional[str], Query(max_length=200)] = None,
                  model: Annotated[Optional[str], Query(max_length=200)] = None,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 50, offset: Annotated[int, Query(ge=0, le=10**9)] = 0):
        return testing(request).list_runs(ctx, prompt_name=prompt, model=model, limit=limit, offset=offset)

    @router.get("/runs/{run_id}", response_model=RunPublic, summary="One stored run")
    def get_run(request: Request, ctx: Caller, run_id: Annotated[int, Field(ge=1, le=2**31 - 1)]):
        return testing(request).get_run(ctx, run_id)

    return router
