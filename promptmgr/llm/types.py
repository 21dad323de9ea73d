"""The values every part of the model layer passes around: where a call goes (ModelTarget), what
came back (LLMResult) and what is known about a model (ModelInfo). No imports beyond the stdlib."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Literal, Required, TypedDict, Union


# -- chat messages as the model layer receives them (OpenAI format) ------------------------------
class TextPart(TypedDict):
    type: Literal["text"]
    text: str


class ImageURL(TypedDict):
    url: str  # https://..., data:image/...;base64,... (stored "file:NAME" images are inlined first)


class ImagePart(TypedDict):
    type: Literal["image_url"]
    image_url: ImageURL


ContentPart = Union[TextPart, ImagePart]


class ChatMessage(TypedDict, total=False):
    role: Required[str]  # system, user, assistant (others reach providers as they are)
    content: Required[Union[str, list[ContentPart], None]]
    name: str


def content_parts(content) -> tuple[list[str], int, bool]:
    """A message content's texts, the number of images and whether every part was plain text or an image."""
    if content is None:
        return [], 0, True
    if isinstance(content, str):
        return [content], 0, True
    texts, images, known = [], 0, True
    for part in content:
        if isinstance(part, dict) and part.get("type") == "text":
            texts.append(part.get("text") or "")
        elif isinstance(part, dict) and part.get("type") in ("image_url", "image", "input_image"):
            images += 1
        else:  # audio, files...: counted by their JSON, an estimate
            texts.append(json.dumps(part, ensure_ascii=False, sort_keys=True))
            known = False
    return texts, images, known


def flatten_content(content) -> str:
    """Message content as one text (images dropped)."""
    return "\n".join(content_parts(content)[0])


@dataclass(frozen=True)
class ModelTarget:
    """How to reach one model; resolved by the providers service from what the user typed.

    tenant_id and credential_id scope the response cache: two tenants, or one tenant with two
    keys, never share an answer. credential_id names the credential (e.g. "provider:3:<fingerprint>"),
    never the key itself."""

    model: str
    display_name: str
    api_base: str | None = None
    api_key: str | None = field(default=None, repr=False)
    input_cost_per_token: float | None = None
    output_cost_per_token: float | None = None
    context_window: int | None = None
    tenant_id: int | None = None
    credential_id: str | None = None


@dataclass
class LLMResult:
    text: str
    prompt_tokens: int
    completion_tokens: int
    cost: float | None
    latency_ms: float
    model: str
    cached: bool = False
    finish_reason: str | None = None
    error_code: str | None = None
    error_key: str | None = None
    error_params: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error_code is None

    def to_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


@dataclass(frozen=True)
class ModelInfo:
    name: str
    provider: str | None
    context_window: int | None
    input_cost_per_token: float | None
    output_cost_per_token: float | None
    known: bool


@dataclass(frozen=True)
class Reply:
    """A backend's answer to one non-streamed call; None counts are filled in by the gateway."""

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None


@dataclass(frozen=True)
class Usage:
    """The last item of a backend's stream: what a non-streamed call returns besides the text."""

    prompt_tokens: int | None
    completion_tokens: int | None
    finish_reason: str | None


@dataclass(frozen=True)
class TokenCount:
    tokens: int
    exact: bool  # False = an estimate
    method: str  # "tiktoken:o200k_base", "litellm", "llama.cpp", "heuristic"
