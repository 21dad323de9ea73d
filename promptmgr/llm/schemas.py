"""What the providers, testing and enhancement services accept and return."""
from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from ..errors import ValidationError

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
    ready: bool = True  # callable now: embedded, a configured provider's, or its key is set
    missing_keys: list[str] = Field(default_factory=list)  # environment variables that would hold its key


class ModelsOverview(BaseModel):
    """Everything `promptmgr models` shows; built without any network access."""

    default_model: Optional[str] = None
    default_source: Optional[Literal["user", "settings", "local"]] = None
    default_status: Optional["DefaultModelStatus"] = None
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
    error_key: Optional[str] = None  # the message key and its parameters; edges translate them
    error_params: Optional[dict] = None
    error: Optional[str] = None  # English (runs stored before error_key keep their stored text)
    batch_id: Optional[str] = None
    user_id: Optional[int] = None
    created_at: datetime

    @model_validator(mode="after")
    def _english_error(self) -> "RunPublic":
        if self.error_key and not self.error:
            self.error = self.message("en")
        return self

    @property
    def ok(self) -> bool:
        return self.error_code is None

    def message(self, locale: str | None = "en") -> str | None:
        """The error in the reader's language (None for a successful run)."""
        if not self.error_key:
            return self.error or self.error_code
        from ..errors import PromptMgrError

        return PromptMgrError(self.error_key, **(self.error_params or {})).translate(locale or "en")


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


# --- model parameters ----------------------------------------------------------------------------
MAX_STOPS = 4
_INTEGERS = ("max_tokens", "seed")


class ModelParams(BaseModel):
    """The parameters a run accepts. Strings from forms and the CLI are converted ("0.5", " 20 "),
    blank ones mean "not set"; booleans are never numbers. Build with ModelParams.parse()."""

    model_config = ConfigDict(extra="forbid")

    temperature: Optional[float] = Field(None, ge=0.0, le=2.0)
    max_tokens: Optional[int] = Field(None, ge=1)
    top_p: Optional[float] = Field(None, ge=0.0, le=1.0)
    seed: Optional[int] = None
    stop: Optional[Union[str, list[str]]] = None  # one string, or 2-4 strings

    @field_validator("temperature", "max_tokens", "top_p", "seed", mode="before")
    @classmethod
    def _number(cls, value, info: ValidationInfo):
        if value is None:
            return None
        if isinstance(value, str):
            value = value.strip()
            if not value:
                return None
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError("not a number")
        kind = int if info.field_name in _INTEGERS else float
        try:
            if kind is int and isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            number = kind(value)
        except (TypeError, ValueError, OverflowError):
            raise ValueError("not a number") from None
        if isinstance(number, float) and not math.isfinite(number):
            raise ValueError("not a finite number")
        return number

    @field_validator("stop", mode="before")
    @classmethod
    def _stop(cls, value):
        if value is None:
            return None
        if isinstance(value, str) and value.strip().startswith("["):
            try:
                value = json.loads(value)
            except ValueError:
                raise ValueError("not a JSON list") from None
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_STOPS or \
                not all(isinstance(s, str) and s for s in items):
            raise ValueError("1-4 non-empty strings")
        return items[0] if len(items) == 1 else items

    @classmethod
    def parse(cls, params: dict | None) -> "ModelParams":
        """Raises ValidationError (testing.unknown_param / testing.bad_param, naming the parameter)."""
        params = dict(params or {})
        try:
            return cls.model_validate(params)
        except PydanticValidationError as exc:
            error = exc.errors()[0]
            name = str(error["loc"][0]) if error.get("loc") else ""
            if error.get("type") == "extra_forbidden":
                raise ValidationError("testing.unknown_param", name=name, allowed=", ".join(PARAM_NAMES)) from None
            raise ValidationError("testing.bad_param", name=name, value=str(params.get(name, error.get("input"))),
                                  expected_key=f"testing.expected.{name}") from None

    def to_call(self) -> dict:
        """The set parameters only, as the gateway and the stored run take them."""
        return self.model_dump(exclude_none=True)


PARAM_NAMES = tuple(ModelParams.model_fields)


class DefaultModelStatus(BaseModel):
    """The default model and a note on it as a locale key with params, reflecting what is configured now."""

    model: Optional[str] = None
    source: Optional[Literal["user", "settings", "local"]] = None
    providers: int = 0
    note_key: str
    note_params: dict = Field(default_factory=dict)


class DiscoveredModels(BaseModel):
    """Models listed by the configured providers ("NAME/MODEL"), and the providers that failed (as data)."""

    models: list[str] = Field(default_factory=list)
    failures: list[ConnectionTest] = Field(default_factory=list)


ModelsOverview.model_rebuild()
