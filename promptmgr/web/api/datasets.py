"""/api/v1 datasets: thin adapters over DatasetService (the same methods, and so the same policy, as
the Experiments tab and `promptmgr datasets`).

POST /datasets takes either JSON rows or a multipart file upload (CSV, JSONL, JSON, YAML), both within
the API's body limit. The service imports files: the rows or the upload are written to a private
temporary folder (mode 0700, removed afterwards) and handed to DatasetService.add, so an upload is
checked exactly as `promptmgr datasets add` checks a file."""
from __future__ import annotations

import json
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path as FsPath
from typing import Annotated, Any, Literal, Optional

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field
from pydantic import ValidationError as ShapeError

from ...context import TenantContext
from ...errors import ValidationError
from ...schemas import MAX_DESCRIPTION, Page
from ...schemas_experiments import DatasetPublic, DatasetRowPublic
from .deps import caller
from .errors import error_responses

Caller = Annotated[TenantContext, Depends(caller)]
Name = Annotated[str, Path(max_length=200)]
Version = Annotated[Optional[int], Query(ge=1, le=2**31 - 1)]
FORMATS = ("csv", "jsonl", "json", "yaml")
MEDIA = {"csv": "text/csv", "jsonl": "application/x-ndjson", "json": "application/json", "yaml": "application/yaml"}
MAX_ROWS = 100_000          # rows in one JSON body (the body limit usually bounds it first)
MAX_EDITS = 1000            # DatasetService.MAX_EDITS: a person's edit, not an import
MAX_FORM_FIELDS = 8
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class DatasetCreate(BaseModel):
    """A dataset (or the next version of an existing one) from rows given inline: each row either
    {"vars": {...}, "expected": ..., "id": ...} or flat columns, as in a JSONL file."""

    name: str = Field(max_length=100)
    rows: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_ROWS)
    description: Optional[str] = Field(default=None, max_length=MAX_DESCRIPTION)
    message: str = Field(default="", max_length=MAX_DESCRIPTION)


class DatasetUpload(BaseModel):
    """The form fields next to the uploaded file."""

    name: str = Field(max_length=100)
    description: Optional[str] = Field(default=None, max_length=MAX_DESCRIPTION)
    message: str = Field(default="", max_length=MAX_DESCRIPTION)
    format: Optional[Literal["csv", "jsonl", "json", "yaml"]] = None


class RowChange(BaseModel):
    position: int = Field(ge=1, le=10**9)
    vars: dict[str, Any]
    expected: Optional[str] = Field(default=None, max_length=1_000_000)


class NewRow(BaseModel):
    vars: dict[str, Any]
    expected: Optional[str] = Field(default=None, max_length=1_000_000)


class RowsEdit(BaseModel):
    base_version: int = Field(ge=1, le=2**31 - 1)
    edits: list[RowChange] = Field(default_factory=list, max_length=MAX_EDITS)
    added: list[NewRow] = Field(default_factory=list, max_length=MAX_EDITS)
    message: str = Field(default="", max_length=MAX_DESCRIPTION)


def _request_body() -> dict:
    """Both bodies POST /datasets accepts, described for the OpenAPI document (read by hand below)."""
    upload = {"type": "object", "required": ["name", "file"], "properties": {
        "name": {"type": "string", "maxLength": 100},
        "file": {"type": "string", "format": "binary", "description": "A .csv, .jsonl, .json or .yaml file"},
        "description": {"type": "string", "maxLength": MAX_DESCRIPTION},
        "message": {"type": "string", "maxLength": MAX_DESCRIPTION},
        "format": {"type": "string", "enum": list(FORMATS)}}}
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": DatasetCreate.model_json_schema()},
        "multipart/form-data": {"schema": upload}}}}


def _datasets(request: Request):
    return request.app.state.pm_services.datasets


def _invalid(exc: ShapeError, prefix: tuple = ("body",)):
    from fastapi.exceptions import RequestValidationError

    return RequestValidationError([{**error, "loc": (*prefix, *error.get("loc", ()))}
                                   for error in exc.errors(include_url=False, include_context=False)])


@contextmanager
def _private_folder():
    folder = tempfile.mkdtemp(prefix="promptmgr-api-")  # mode 0700: only this process's user reads it
    try:
        yield FsPath(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _shown_path(exc: ValidationError, shown: str) -> ValidationError:
    """The service names the file it read: the caller knows the upload by its own name, and the
    server's temporary path is none of its business."""
    if "path" in exc.params:
        exc.params["path"] = shown
    return exc


async def _from_json(request: Request, ctx: TenantContext, folder: FsPath):
    from starlette.concurrency import run_in_threadpool

    try:
        data = DatasetCreate.model_validate_json(await request.body())
    except ShapeError as exc:
        raise _invalid(exc) from None
    path = folder / "rows.jsonl"
    with open(path, "w", encoding="utf-8") as handle:
        for row in data.rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    try:
        return await run_in_threadpool(_datasets(request).add, ctx, data.name, path, description=data.description,
                                       format="jsonl", message=data.message)
    except ValidationError as exc:
        raise _shown_path(exc, "rows") from None


async def _from_upload(request: Request, ctx: TenantContext, folder: FsPath):
    from starlette.concurrency import run_in_threadpool
    from starlette.datastructures import UploadFile

    from ...evaluation.dataset_io import format_of

    async with request.form(max_files=1, max_fields=MAX_FORM_FIELDS) as form:
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
        try:
            data = DatasetUpload.model_validate(fields)
        except ShapeError as exc:
            raise _invalid(exc) from None
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            from fastapi.exceptions import RequestValidationError

            raise RequestValidationError([{"loc": ("body", "file"), "type": "missing", "msg": "Field required"}])
        # The upload's own name, reduced to safe characters: its extension names the format, and the
        # dataset's version remembers where it came from.
        shown = _SAFE_NAME.sub("_", FsPath(upload.filename or "").name)[-100:].lstrip(".") or "upload"
        try:
            fmt = format_of(shown, data.format)
        except ValidationError as exc:
            raise _shown_path(exc, shown) from None
        path = folder / shown
        with open(path, "wb") as handle:
            await run_in_threadpool(shutil.copyfileobj, upload.file, handle)
    try:
        return await run_in_threadpool(_datasets(request).add, ctx, data.name, path, description=data.description,
                                       format=fmt, message=data.message)
    except ValidationError as exc:
        raise _shown_path(exc, shown) from None


def build_router() -> APIRouter:
    router = APIRouter(tags=["datasets"], responses=error_responses())

    @router.get("/datasets", response_model=list[DatasetPublic], summary="Every dataset at its latest version")
    def list_datasets(request: Request, ctx: Caller):
        return _datasets(request).list(ctx)

    @router.post("/datasets", response_model=DatasetPublic, status_code=201, openapi_extra=_request_body(),
                 summary="Create a dataset, or its next version, from JSON rows or an uploaded file")
    async def create_dataset(request: Request, ctx: Caller):
        kind = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        if kind not in ("application/json", "multipart/form-data"):
            raise ValidationError("api_experiments.errors.media_type", media_type=kind[:100] or "-",
                                  allowed="application/json, multipart/form-data")
        with _private_folder() as folder:
            if kind == "application/json":
                return await _from_json(request, ctx, folder)
            return await _from_upload(request, ctx, folder)

    @router.get("/datasets/{name}", response_model=DatasetPublic,
                summary="A dataset at a version (default: the latest) with its version history")
    def get_dataset(request: Request, name: Name, ctx: Caller, version: Version = None):
        return _datasets(request).get(ctx, name, version)

    @router.get("/datasets/{name}/rows", response_model=Page[DatasetRowPublic], summary="A page of a version's rows")
    def rows(request: Request, name: Name, ctx: Caller, version: Version = None,
             limit: Annotated[int, Query(ge=1, le=1000)] = 100, offset: Annotated[int, Query(ge=0, le=10**9)] = 0):
        datasets = _datasets(request)
        shown = datasets.get(ctx, name, version)
        items = list(datasets.rows(ctx, name, shown.version, limit=limit, offset=offset))
        return Page[DatasetRowPublic](items=items, total=shown.row_count, limit=limit, offset=offset)

    @router.patch("/datasets/{name}/rows", response_model=DatasetPublic,
                  summary="Edit and add rows: a new version from base_version (409 when it is not the latest)")
    def edit_rows(request: Request, name: Name, ctx: Caller, data: RowsEdit):
        return _datasets(request).edit_rows(
            ctx, name, base_version=data.base_version, message=data.message,
            edits={c.position: {"vars": c.vars, "expected": c.expected} for c in data.edits},
            added=[{"vars": r.vars, "expected": r.expected} for r in data.added])

    @router.get("/datasets/{name}/export", summary="A version as a CSV, JSONL, JSON or YAML file",
                response_class=Response, responses={200: {"description": "The file", "content": {
                    # JSON and YAML are documents (a list of rows); CSV and JSONL plain text.
                    media: {"schema": {"type": "string"} if kind in ("csv", "jsonl") else {}}
                    for kind, media in MEDIA.items()}}})
    def export(request: Request, name: Name, ctx: Caller, format: Annotated[Literal["csv", "jsonl", "json", "yaml"],
                                                                            Query()] = "csv", version: Version = None):
        from starlette.background import BackgroundTask
        from starlette.responses import FileResponse

        datasets = _datasets(request)
        shown = datasets.get(ctx, name, version)
        folder = FsPath(tempfile.mkdtemp(prefix="promptmgr-api-"))
        try:
            path = folder / f"{shown.name}-v{shown.version}.{format}"
            datasets.export(ctx, name, path, shown.version, format)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        # The file is sent from disk (bounded memory for a big version), then the folder removed.
        return FileResponse(path, media_type=MEDIA[format], filename=path.name, headers={"cache-control": "no-store"},
                            background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True))

    @router.delete("/datasets/{name}", status_code=204, response_class=Response,
                   summary="Delete a dataset with every version (409 while an experiment uses it)")
    def delete_dataset(request: Request, name: Name, ctx: Caller):
        _datasets(request).remove(ctx, name)
        return Response(status_code=204)

    return router
