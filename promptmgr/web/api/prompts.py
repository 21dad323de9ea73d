"""/api/v1 prompts, categories and tags: thin adapters over LibraryService (the same methods, and
so the same policy, as the UI and the CLI). The hot path, GET /prompts/{name}?label=production,
answers with an ETag and If-None-Match gets a 304."""
from __future__ import annotations

import hashlib
from typing import Annotated, Optional

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ...context import TenantContext
from ...schemas import (CountedName, Page, PromptCreate, PromptPublic, PromptQuery, PromptSummary, PromptUpdate,
                        VersionPublic)
from .deps import caller
from .errors import error_responses

Caller = Annotated[TenantContext, Depends(caller)]
NameArg = Annotated[str, Field(max_length=200)]
MAX_INT = 2**31 - 1  # version numbers are 32-bit integers in the database
CACHE_CONTROL = "private, no-cache"  # clients may keep it but must revalidate (cheap with If-None-Match)


class RenderRequest(BaseModel):
    variables: dict[str, object] = Field(default_factory=dict)
    version: Optional[int] = Field(default=None, ge=1, le=MAX_INT)
    label: Optional[str] = Field(default=None, max_length=100)


class RestoreRequest(BaseModel):
    version: int = Field(ge=1, le=MAX_INT)
    base_version: Optional[int] = Field(default=None, ge=1, le=MAX_INT)


class LabelRequest(BaseModel):
    version: Optional[int] = Field(default=None, ge=1, le=MAX_INT)


class DiffPublic(BaseModel):
    old: int
    new: int
    diff: str


def _library(request: Request):
    return request.app.state.pm_services.library


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag in tags


def build_router() -> APIRouter:
    router = APIRouter(tags=["prompts"], responses=error_responses())

    @router.get("/prompts", response_model=Page[PromptSummary], summary="List and search prompts")
    def list_prompts(request: Request, ctx: Caller, query: Annotated[PromptQuery, Query()]):
        return _library(request).list(ctx, query)

    @router.get("/prompts/{name}", response_model=PromptPublic, summary="A prompt at a label, a version or its latest",
                responses={304: {"description": "Not modified (If-None-Match)"}})
    async def get_prompt(request: Request, name: str, label: Annotated[Optional[str], Query(max_length=100)] = None,
                         version: Annotated[Optional[int], Query(ge=1, le=MAX_INT)] = None):
        # The clients' hot path: the caller is resolved in the same worker-thread hop as the read
        # rather than as a dependency of its own (a hop costs as much as the read itself on a small
        # machine; bench/bench_api.py). The same caller(), so the same authentication and limits.
        def read() -> bytes:
            return _library(request).get(caller(request), name, version=version, label=label).model_dump_json().encode()

        body = await run_in_threadpool(read)
        headers = {"etag": _etag(body), "cache-control": CACHE_CONTROL, "vary": "Authorization, Cookie"}
        if _matches(request.headers.get("if-none-match"), headers["etag"]):
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="application/json", headers=headers)

    @router.post("/prompts", response_model=PromptPublic, status_code=201, summary="Create a prompt")
    def create_prompt(request: Request, ctx: Caller, data: PromptCreate):
        return _library(request).create(ctx, data)

    @router.patch("/prompts/{name}", response_model=PromptPublic,
                  summary="Edit a prompt (a new version from base_version; 409 when it is not the latest)")
    def update_prompt(request: Request, name: str, ctx: Caller, data: PromptUpdate):
        return _library(request).update(ctx, name, data)

    @router.delete("/prompts/{name}", status_code=204, summary="Delete a prompt with its versions and labels")
    def delete_prompt(request: Request, name: str, ctx: Caller):
        _library(request).delete(ctx, name)
        return Response(status_code=204)

    @router.get("/prompts/{name}/versions", response_model=list[VersionPublic], summary="Every version, oldest first")
    def history(request: Request, name: str, ctx: Caller):
        return _library(request).history(ctx, name)

    @router.get("/prompts/{name}/diff", response_model=DiffPublic, summary="Unified diff between two versions")
    def diff(request: Request, name: str, ctx: Caller, old: Annotated[int, Query(ge=1, le=MAX_INT)],
             new: Annotated[int, Query(ge=1, le=MAX_INT)]):
        return DiffPublic(old=old, new=new, diff=_library(request).diff(ctx, name, old, new))

    @router.post("/prompts/{name}/restore", response_model=PromptPublic,
                 summary="Make an old version's content the newest version")
    def restore(request: Request, name: str, ctx: Caller, data: RestoreRequest):
        return _library(request).restore(ctx, name, data.version, data.base_version)

    @router.get("/prompts/{name}/labels", response_model=dict[str, int], summary="The prompt's labels")
    def labels(request: Request, name: str, ctx: Caller):
        return _library(request).get(ctx, name).labels

    @router.put("/prompts/{name}/labels/{label}", response_model=dict[str, int],
                summary="Point a label at a version (protected labels need an admin)")
    def set_label(request: Request, name: str, label: str, ctx: Caller,
                  data: Annotated[Optional[LabelRequest], Body()] = None):
        return _library(request).set_label(ctx, name, label, data.version if data else None)

    @router.delete("/prompts/{name}/labels/{label}", response_model=dict[str, int], summary="Remove a label")
    def remove_label(request: Request, name: str, label: str, ctx: Caller):
        return _library(request).remove_label(ctx, name, label)

    @router.post("/prompts/{name}/render", response_model=PromptPublic, summary="Render with variables")
    def render(request: Request, name: str, ctx: Caller, data: RenderRequest):
        return _library(request).render(ctx, name, data.variables, version=data.version, label=data.label)

    @router.get("/categories", response_model=list[CountedName], tags=["library"], summary="Categories and counts")
    def categories(request: Request, ctx: Caller):
        return _library(request).categories(ctx)

    @router.get("/tags", response_model=list[CountedName], tags=["library"], summary="Tags and counts")
    def tags(request: Request, ctx: Caller):
        return _library(request).tags(ctx)

    return router
