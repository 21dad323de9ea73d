"""/api/v1 analytics, export and import: thin adapters over AnalyticsService and TransferService (the
same methods, and so the same numbers and policy, as the Analytics tab, `promptmgr stats`, the
Library's export/import and `promptmgr export`/`import`).

The import body is the export's document as JSON; its size is bounded by the API's body limit
(PROMPTMGR_API_MAX_BODY_KB, 413 above it) before any of it is parsed."""
from __future__ import annotations

from typing import Annotated, Any, Literal, Optional

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from ...context import TenantContext
from ...schemas_analytics import Dashboard
from ...services.analytics import MAX_PROMPTS, parse_period
from ...services.transfer import FORMAT, FORMAT_VERSION, ConflictPolicy
from .deps import caller
from .errors import error_responses

Caller = Annotated[TenantContext, Depends(caller)]
MAX_IMPORT_PROMPTS = 100_000
WhenArg = Annotated[Optional[str], Query(max_length=40, description="24h, 7d, 2w (that long ago) or an ISO date/time (UTC)")]


class ExportedVersion(BaseModel):
    number: int
    content: Optional[str] = Field(default=None, description="A text prompt's template (absent for chat prompts)")
    messages: Optional[list[dict[str, Any]]] = Field(default=None, description="A chat prompt's messages")
    variables: list[dict[str, Any]] = Field(default_factory=list)
    message: str = ""
    author: str = ""
    created_at: str


class ExportedPrompt(BaseModel):
    name: str
    title: str = ""
    description: str = ""
    category: str = ""
    tags: list[str] = Field(default_factory=list)
    is_enhancement: bool = False
    visibility: str = "private"
    kind: str = "text"
    metadata: dict[str, Any] = Field(default_factory=dict)
    labels: dict[str, int] = Field(default_factory=dict)
    created_at: str
    updated_at: str
    versions: list[ExportedVersion]


class LibraryDocument(BaseModel):
    """The library document (`promptmgr export`'s JSON): every prompt with every version and label."""

    format: Literal["promptmgr-library"]
    format_version: Literal[1]
    exported_at: str
    prompts: list[ExportedPrompt]


class ImportDocument(BaseModel):
    """A library document to import. Its entries are checked by the import itself (the same checks and
    limits as every other way in), which names the first bad entry; nothing is written then."""

    model_config = ConfigDict(extra="allow")
    format: Literal["promptmgr-library"]
    format_version: Literal[1] = FORMAT_VERSION
    prompts: list[dict[str, Any]] = Field(max_length=MAX_IMPORT_PROMPTS)


class ImportReportOut(BaseModel):
    created: list[str]
    updated: list[str]
    # [name in the document, name given], in document order (pairs as lists: a tuple's prefixItems
    # schema trips OpenAPI tools such as schemathesis).
    renamed: list[Annotated[list[str], Field(min_length=2, max_length=2)]]
    skipped: list[str]


assert FORMAT == "promptmgr-library", "LibraryDocument and ImportDocument name the format literally"


def build_router() -> APIRouter:
    router = APIRouter(responses=error_responses())

    @router.get("/analytics", response_model=Dashboard, tags=["analytics"],
                summary="Calls, tokens, cost, errors and cache hits: totals, over time, by model, by prompt")
    def analytics(request: Request, ctx: Caller, since: WhenArg = None, until: WhenArg = None,
                  bucket: Literal["day", "week"] = "day",
                  top: Annotated[int, Query(ge=1, le=MAX_PROMPTS, description="At most this many prompts")] = 20):
        period = parse_period(since, until, names=("since", "until"))
        return request.app.state.pm_services.analytics.dashboard(ctx, period, bucket=bucket, top_prompts=top)

    @router.get("/export", response_model=LibraryDocument, response_model_exclude_unset=True, tags=["library"],
                summary="The whole library (every prompt, version and label) as one document")
    def export(request: Request, ctx: Caller):
        return request.app.state.pm_services.transfer.export(ctx)

    @router.post("/import", response_model=ImportReportOut, tags=["library"],
                 summary="Add a library document's prompts (overwrite needs an admin); all or nothing")
    def import_(request: Request, ctx: Caller, document: ImportDocument,
                on_conflict: Annotated[ConflictPolicy, Query()] = "skip"):
        return request.app.state.pm_services.transfer.import_(ctx, document.model_dump(), on_conflict)

    return router
