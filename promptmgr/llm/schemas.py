"""What the providers, testing and enhancement services accept and return."""
from __future__ import annotations

from datetime import datetime
from typing import Literal, Optional

from pydantic import BaseModel, Field

PROVIDER_KINDS = ("openai_compatible", "ollama", "lm_studio", "vllm")


class ProviderPublic(BaseModel):
    """A configured provider; the API key only ever appears masked."""

    name: str
    kind: str
    base_url: str
    has_key: bool
    api_key_masked: Optional[str] = None
    key_readable: bool = True
    created_at: datetime


class PricePublic(BaseModel):
    model: str
    input_cost_per_token: float
    output_cost_per_token: float
    input_per_1k: float
    output_per_1k: float
    context_window: Optional[int] = None


class ConnectionTest(BaseModel):
    """The outcome of `providers test`: reachable or not, as data."""

    provider: str
    endpoint: str
    ok: bool
    status_code: Optional[int] = None
    models: list[str] = Field(default_factory=list)
    latency_ms: float = 0.0
    error_code: Optional[str] = None
    error_key: Optional[str] = None
    error_params: dict = Field(default_factory=dict)
    error: Optional[str] = None


class ModelInfoPublic(BaseModel):
    name: str
    provider: Optional[str] = None
    context_window: Optional[int] = None
    input_cost_per_token: Optional[float] = None
    output_cost_per_token: Optional[float] = None
    known: bool = True


class ModelsOverview(BaseModel):
    """Everything `promptmgr models` shows; built without any network access."""

    default_model: Optional[str] = None
    default_source: Optional[Literal["user", "settings", "local"]] = None
    local_model: str
    local_available: bool
    providers: list[ProviderPublic] = Field(default_factory=list)
    prices: list[PricePublic] = Field(default_factory=list)
    known: list[ModelInfoPublic] = Field(default_factory=list)
    known_total: int = 0


class RunPublic(BaseModel):
    """One stored model call on a prompt version."""

    id: int
    prompt_name: str
    version_number: Optional[int] = None
    model: str
    params: dict = Field(default_factory=dict)
    variables: dict = Field(default_factory=dict)
    rendered_input: list = Field(default_factory=list)
    output: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: Optional[float] = None
    latency_ms: float = 0.0
    cached: bool = False
    error_code: Optional[str] = None
    error: Optional[str] = None
    batch_id: Optional[str] = None
    user_id: Optional[int] = None
    created_at: datetime

    @property
    def ok(self) -> bool:
        return self.error_code is None


class TokenEstimate(BaseModel):
    tokens: int
    exact: bool
    method: str
    model: Optional[str] = None
    output_tokens: int = 0
    cost: Optional[float] = None
    context_window: Optional[int] = None
    fits: Optional[bool] = None
    warning: Optional[str] = None
    rendered: bool = True


class Candidate(BaseModel):
    """A proposed new content for a prompt, not yet saved."""

    action: Literal["enhance", "translate"]
    prompt_name: str
    base_version: int
    kind: Literal["text", "chat"]
    text: str
    messages: Optional[list[dict]] = None
    diff: str
    model: str
    enhancer: Optional[str] = None
    target_language: Optional[str] = None
    missing_placeholders: list[str] = Field(default_factory=list)
    added_placeholders: list[str] = Field(default_factory=list)
    runs: list[RunPublic] = Field(default_factory=list)
