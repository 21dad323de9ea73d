"""What the /api/v1 experiment routes take and answer: request models with their size limits, and
response models mirroring exactly what the services return (estimate, run status, the statistics
summary, the review matrix, one cell, a label), so the OpenAPI document describes every answer.

Fields named `pass` in the services' dicts keep that name on the wire (an alias: `pass` is a Python
keyword)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

from ...schemas import MAX_DESCRIPTION

MAX_INT = 2**31 - 1
Interval = list[Optional[float]]  # [low, high]; both None while there is nothing to estimate from


class PromptRef(BaseModel):
    name: str = Field(max_length=100)
    version: Optional[int] = Field(default=None, ge=1, le=10**9)
    label: Optional[str] = Field(default=None, max_length=100)


class ExperimentCreate(BaseModel):
    """The definition the CLI (`experiments create`) and the Experiments tab accept: variants are
    every prompt (its latest version, a version or a label; pinned now) x every model."""

    name: str = Field(max_length=100)
    dataset: str = Field(max_length=100)
    dataset_version: Optional[int] = Field(default=None, ge=1, le=MAX_INT)
    prompts: list[Union[str, PromptRef]] = Field(min_length=1, max_length=20,
                                                 description='"NAME", "NAME@VERSION", "NAME:LABEL" or an object')
    models: list[str] = Field(min_length=1, max_length=20)
    checks: list[Union[str, dict[str, Any]]] = Field(default_factory=list, max_length=50,
                                                     description='"[not-]TYPE[:VALUE]" or {"type", "value", ...}')
    params: dict[str, Any] = Field(default_factory=dict)
    repeats: int = Field(default=1, ge=1, le=100)
    seed: int = Field(default=0, ge=0, le=MAX_INT)
    concurrency: int = Field(default=8, ge=1, le=256)
    baseline: Optional[str] = Field(default=None, max_length=400)
    description: str = Field(default="", max_length=MAX_DESCRIPTION)
    threshold: Optional[float] = Field(default=None, ge=0.0, le=1.0)
    judge_model: Optional[str] = Field(default=None, max_length=200)
    max_cost: Optional[float] = Field(default=None, ge=0.0, le=1e9)

    def prompt_refs(self) -> list[str]:
        refs = []
        for item in self.prompts:
            if isinstance(item, str):
                refs.append(item)
            else:
                refs.append(item.name + (f"@{item.version}" if item.version is not None else "")
                            + (f":{item.label}" if item.label is not None else ""))
        return refs


class RunRequest(BaseModel):
    concurrency: Optional[int] = Field(default=None, ge=1, le=256)
    max_cost: Optional[float] = Field(default=None, ge=0.0, le=1e9)


class LabelRequest(BaseModel):
    passed: bool
    score: Optional[float] = Field(default=None, ge=0.0, le=1.0)
    comment: Optional[str] = Field(default=None, max_length=2000)


class PromoteRequest(BaseModel):
    variant: str = Field(max_length=400)
    label: str = Field(max_length=100)


class RunAccepted(BaseModel):
    name: str
    status: str
    status_url: str


class VariantProgress(BaseModel):
    name: str
    total: int
    done: int
    errors: int
    passed: int


class RunStatus(BaseModel):
    """Where a run stands (from the database, wherever its runners are) and what this server knows
    of it: whether a runner is live, its ETA, why the last background run ended."""

    name: str
    status: str
    status_key: Optional[str] = None
    status_message: Optional[str] = None     # status_key in the caller's language
    status_params: dict[str, Any] = Field(default_factory=dict)
    done: int
    total: int
    errors: int
    cost: float
    max_cost: Optional[float] = None
    live: bool
    eta_s: Optional[float] = None
    error: Optional[str] = None              # the last background run's failure, in the caller's language
    updated_at: Optional[datetime] = None
    variants: list[VariantProgress] = Field(default_factory=list)


class StatusChange(BaseModel):
    name: str
    status: str


class CheckSummary(BaseModel):
    n: int
    passed: int
    errors: int = 0
    pass_rate: Optional[float] = None
    ci: Interval
    score_mean: Optional[float] = None
    score_ci: Interval


class VariantSummary(BaseModel):
    name: str
    prompt: str
    version: int
    model: str
    params: dict[str, Any] = Field(default_factory=dict)
    n: int
    passed: int
    pass_rate: Optional[float] = None
    ci: Interval                             # Wilson 95% interval of pass_rate
    cost: float
    latency_p50_ms: Optional[float] = None
    latency_p95_ms: Optional[float] = None
    errors: int
    score_mean: Optional[float] = None
    score_ci: Interval
    cost_per_pass: Optional[float] = None
    prompt_tokens: int
    completion_tokens: int
    checks: dict[str, CheckSummary] = Field(default_factory=dict)


class ComparisonSummary(BaseModel):
    variant: str
    baseline: str
    check: str
    p_value: Optional[float] = None          # exact McNemar on the discordant rows
    p_holm: Optional[float] = None
    diff: Optional[float] = None
    ci: Interval
    verdict: str                             # better | worse | inconclusive
    p_midp: Optional[float] = None
    n_pairs: int
    b: int
    c: int
    rows_needed: Optional[int] = None


class AgreementSummary(BaseModel):
    variant: str
    check: str
    kappa: Optional[float] = None
    n: int


class DatasetRef(BaseModel):
    name: str
    version: int


class CellTotals(BaseModel):
    total: int
    done: int
    errors: int
    pending: int
    running: int


class ExperimentSummary(BaseModel):
    """ExperimentResultService.show: the object of `promptmgr experiments show --json`."""

    name: str
    status: str
    status_key: Optional[str] = None
    status_params: dict[str, Any] = Field(default_factory=dict)
    description: str = ""
    dataset: DatasetRef
    baseline: str
    repeats: int
    checks: list[str]
    cells: CellTotals
    cost: Optional[float] = None
    variants: list[VariantSummary]
    comparisons: list[ComparisonSummary]
    agreement: list[AgreementSummary]


class AgreementPublic(BaseModel):
    variants: list[str]
    agreement: list[AgreementSummary]


class _Passing(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class MatrixCell(_Passing):
    id: int
    status: str
    passed: Optional[bool] = Field(default=None, alias="pass")
    human: Optional[bool] = None
    output: str = ""


class MatrixLine(BaseModel):
    row: int
    repeat: int
    vars: dict[str, Any] = Field(default_factory=dict)
    cells: dict[str, MatrixCell] = Field(default_factory=dict)   # variant name -> its cell


class MatrixPage(BaseModel):
    name: str
    status: str
    filter: Literal["all", "disagree", "failures", "errors"]
    total: int
    page: int
    pages: int
    page_size: int
    variants: list[str]
    lines: list[MatrixLine]


class CheckVerdict(_Passing):
    check: str
    passed: Optional[bool] = Field(default=None, alias="pass")
    score: Optional[float] = None
    reason: str = ""
    error: Optional[Any] = None


class HumanLabel(_Passing):
    passed: bool = Field(alias="pass")
    score: Optional[float] = None
    comment: str = ""
    by: str = ""
    at: Optional[str] = None


class CellDetail(_Passing):
    id: int
    experiment: str
    variant: str
    row: int
    repeat: int
    status: str
    passed: Optional[bool] = Field(default=None, alias="pass")
    score: Optional[float] = None
    vars: dict[str, Any] = Field(default_factory=dict)
    expected: Optional[str] = None
    input: str = ""
    output: str = ""
    prompt_tokens: Optional[int] = 0
    completion_tokens: Optional[int] = 0
    cost: float = 0.0
    judge_cost: float = 0.0
    latency_ms: Optional[float] = None
    cached: bool = False
    error_code: Optional[str] = None
    error_key: Optional[str] = None
    error_params: dict[str, Any] = Field(default_factory=dict)
    checks: list[CheckVerdict] = Field(default_factory=list)
    human: Optional[HumanLabel] = None


class LabelPublic(HumanLabel):
    experiment: str
    cell: int


class PromotePublic(BaseModel):
    experiment: str
    variant: str
    prompt: str
    version: int
    label: str
    labels: dict[str, int]
