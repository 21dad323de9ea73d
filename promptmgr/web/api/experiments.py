"""/api/v1 experiments: thin adapters over the services the Experiments tab and `promptmgr experiments`
call — ExperimentService (define, list, delete), ExperimentRunService (estimate, progress),
ExperimentJobs (run, resume, pause, cancel: a background run in this process, or the worker queue in
hosted mode on PostgreSQL), ExperimentResultService (summary, results, labels, promptfoo) and
ExperimentReviewService (the cell matrix, one cell, agreement, promote).

A run answers 202 at once with the URL of its status; the client polls that until the status is no
longer `running`. Results stream as JSON, JSONL or CSV, a chunk of cells at a time."""
from __future__ import annotations

from typing import Annotated, Literal, Optional

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from ...context import TenantContext
from ...errors import PromptMgrError
from ...schemas_experiments import ExperimentPublic
from ...services.experiment_runs import Estimate
from .deps import caller
from .errors import error_responses
from .experiment_schemas import (AgreementPublic, CellDetail, ExperimentCreate, ExperimentSummary,
                                 LabelPublic, LabelRequest, MatrixPage, PromotePublic, PromoteRequest, RunAccepted,
                                 RunRequest, RunStatus, StatusChange)

Caller = Annotated[TenantContext, Depends(caller)]
Name = Annotated[str, Path(max_length=200)]
CellId = Annotated[int, Path(ge=1, le=2**63 - 1)]
RESULT_MEDIA = {"json": "application/json", "jsonl": "application/x-ndjson", "csv": "text/csv"}
NO_STORE = {"cache-control": "no-store"}


def _services(request: Request):
    return request.app.state.pm_services


def _status_path(request: Request, name: str) -> str:
    # The API is mounted under /api/v1: root_path carries the prefix (as the OpenAPI servers entry does).
    return f"{request.scope.get('root_path', '')}/experiments/{name}/status"


def _accepted(request: Request, ctx: TenantContext, name: str) -> JSONResponse:
    status = _services(request).experiment_runs.progress(ctx, name)["status"]
    url = _status_path(request, name)
    body = RunAccepted(name=name, status=status, status_url=url)
    return JSONResponse(body.model_dump(), status_code=202, headers={"location": url, **NO_STORE})


def _start(request: Request, ctx: TenantContext, name: str, data: Optional[RunRequest], resume: bool):
    options = data or RunRequest()
    _services(request).experiment_jobs.start(ctx, name, resume=resume, max_cost=options.max_cost,
                                             concurrency=options.concurrency)
    return _accepted(request, ctx, name)


def _translated(key: Optional[str], params: Optional[dict], locale: str) -> Optional[str]:
    return PromptMgrError(key, **(params or {})).translate(locale) if key else None


def build_router() -> APIRouter:
    router = APIRouter(tags=["experiments"], responses=error_responses())
    accepted = {202: {"model": RunAccepted, "description": "Under way: poll status_url (also the Location header)"}}

    @router.get("/experiments", response_model=list[ExperimentPublic], summary="Every experiment, newest first")
    def list_experiments(request: Request, ctx: Caller):
        return _services(request).experiments.list(ctx)

    @router.post("/experiments", response_model=ExperimentPublic, status_code=201,
                 summary="Define an experiment: every prompt x every model over a dataset version, all cells pending")
    def create_experiment(request: Request, ctx: Caller, data: ExperimentCreate):
        return _services(request).experiments.create(
            ctx, data.name, dataset=data.dataset, dataset_version=data.dataset_version, prompts=data.prompt_refs(),
            models=data.models, checks=data.checks, params=data.params, repeats=data.repeats, seed=data.seed,
            concurrency=data.concurrency, baseline=data.baseline, description=data.description,
            threshold=data.threshold, config={"judge_model": data.judge_model} if data.judge_model else None,
            max_cost=data.max_cost)

    @router.get("/experiments/{name}", response_model=ExperimentPublic,
                summary="One experiment with its variants, checks and cell counts")
    def get_experiment(request: Request, name: Name, ctx: Caller):
        return _services(request).experiments.get(ctx, name)

    @router.delete("/experiments/{name}", status_code=204, response_class=Response,
                   summary="Delete an experiment with its variants and cells (its runs stay in the history)")
    def delete_experiment(request: Request, name: Name, ctx: Caller):
        _services(request).experiments.remove(ctx, name)
        return Response(status_code=204)

    # The service's own dataclass describes the answer: one definition for the code and the OpenAPI.
    @router.get("/experiments/{name}/estimate", response_model=Estimate,
                summary="Calls, tokens and cost of the cells not yet done")
    def estimate(request: Request, name: Name, ctx: Caller):
        return _services(request).experiment_runs.estimate(ctx, name)

    @router.post("/experiments/{name}/run", status_code=202, response_model=RunAccepted, responses=accepted,
                 summary="Run a draft experiment in the background; 202 with the status URL")
    def run(request: Request, name: Name, ctx: Caller, data: Annotated[Optional[RunRequest], Body()] = None):
        return _start(request, ctx, name, data, resume=False)

    @router.post("/experiments/{name}/resume", status_code=202, response_model=RunAccepted, responses=accepted,
                 summary="Run the cells not done yet (after a pause, a budget stop, a cancel or a crash)")
    def resume(request: Request, name: Name, ctx: Caller, data: Annotated[Optional[RunRequest], Body()] = None):
        return _start(request, ctx, name, data, resume=True)

    @router.post("/experiments/{name}/pause", response_model=StatusChange,
                 summary="Stop issuing calls; the run ends paused (resumable) once calls in flight return")
    def pause(request: Request, name: Name, ctx: Caller):
        services = _services(request)
        services.experiment_jobs.pause(ctx, name)
        return StatusChange(name=name, status=services.experiment_runs.progress(ctx, name)["status"])

    @router.post("/experiments/{name}/cancel", response_model=StatusChange,
                 summary="Cancel the run (wherever its runners are) and mark the experiment cancelled")
    def cancel(request: Request, name: Name, ctx: Caller):
        return StatusChange(name=name, status=_services(request).experiment_jobs.cancel(ctx, name))

    @router.get("/experiments/{name}/status", response_model=RunStatus,
                summary="Progress of the run: done/total, errors, cost, status (poll after run)")
    def status(request: Request, name: Name, ctx: Caller):
        services = _services(request)
        progress = services.experiment_runs.progress(ctx, name)
        job = services.experiment_jobs.state(ctx, name)
        error = job.get("error")
        body = RunStatus(
            name=progress["name"], status=progress["status"], status_key=progress["status_key"],
            status_message=_translated(progress["status_key"], progress["status_params"], ctx.locale),
            status_params=progress["status_params"], done=progress["done"], total=progress["total"],
            errors=progress["errors"], cost=progress["spent"], max_cost=progress["max_cost"], live=job["live"],
            eta_s=job.get("eta_s"), error=error.translate(ctx.locale) if error is not None else None,
            updated_at=progress["updated_at"], variants=progress["variants"])
        return JSONResponse(body.model_dump(mode="json"), headers=NO_STORE)

    @router.get("/experiments/{name}/summary", response_model=ExperimentSummary,
                summary="Statistics: per-variant pass rates with Wilson intervals, McNemar comparisons with "
                        "the baseline, judge agreement")
    def summary(request: Request, name: Name, ctx: Caller):
        return _services(request).results.show(ctx, name)

    @router.get("/experiments/{name}/results", response_class=StreamingResponse,
                summary="Every finished cell (JSON close to promptfoo's output, JSONL or CSV), streamed",
                responses={200: {"description": "The results", "content": {
                    media: {"schema": {"type": "string"} if kind in ("csv", "jsonl") else {}}
                    for kind, media in RESULT_MEDIA.items()}}})
    def results(request: Request, name: Name, ctx: Caller,
                format: Annotated[Literal["json", "jsonl", "csv"], Query()] = "json"):
        chunks = _services(request).results.results(ctx, name, format)  # checks now; reads as it streams
        return StreamingResponse(chunks, media_type=RESULT_MEDIA[format], headers={
            **NO_STORE, "content-disposition": f'attachment; filename="{name}-results.{format}"'})

    @router.get("/experiments/{name}/cells", response_model=MatrixPage,
                summary="A page of the matrix: (row, repeat) lines with every variant's cell")
    def cells(request: Request, name: Name, ctx: Caller,
              filter: Annotated[Literal["all", "disagree", "failures", "errors"], Query()] = "all",
              page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
              page_size: Annotated[int, Query(ge=1, le=50)] = 20):
        return _services(request).review.matrix(ctx, name, filter, page, page_size)

    @router.get("/experiments/{name}/cells/{cell_id}", response_model=CellDetail,
                summary="One cell in full: input, output, each check's verdict, tokens, cost, human label")
    def cell(request: Request, name: Name, cell_id: CellId, ctx: Caller):
        return _services(request).review.cell(ctx, name, cell_id)

    @router.put("/experiments/{name}/cells/{cell_id}/label", response_model=LabelPublic,
                summary="Record a human verdict on a finished cell")
    def label(request: Request, name: Name, cell_id: CellId, ctx: Caller, data: LabelRequest):
        return _services(request).results.label(ctx, name, cell_id, data.passed, data.score, data.comment)

    @router.get("/experiments/{name}/agreement", response_model=AgreementPublic,
                summary="Cohen's kappa of the human labels against the checks, per variant and pooled")
    def agreement(request: Request, name: Name, ctx: Caller):
        return _services(request).review.agreement(ctx, name)

    @router.post("/experiments/{name}/promote", response_model=PromotePublic,
                 summary="Point a label at the prompt version a variant ran (protected labels need an admin)")
    def promote(request: Request, name: Name, ctx: Caller, data: PromoteRequest):
        return _services(request).review.promote(ctx, name, data.variant, data.label)

    @router.get("/experiments/{name}/promptfoo", response_model=dict,
                summary="The experiment as a promptfoo config (prompts, providers, tests with vars and assert)")
    def promptfoo(request: Request, name: Name, ctx: Caller):
        return _services(request).results.export_promptfoo(ctx, name)

    return router
