"""What services accept and return (the Create/Update/Public families), separate from tables."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Generic, Literal, Optional, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
TAG_RE = re.compile(r"^[^\s,]{1,64}$")
ROLES = ("system", "user", "assistant")
SORTS = ("relevance", "updated", "created", "name", "title")

T = TypeVar("T")


class MessagePart(BaseModel):
    """Text, or an image given by URL, data URI or a stored file ("file:<name>")."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["text", "image"]
    text: Optional[str] = None
    url: Optional[str] = None

    @field_validator("url")
    @classmethod
    def _url(cls, value):
        if value is not None and not re.match(r"^(https?://|data:image/|file:)", value):
            raise ValueError("image url must be http(s)://, data:image/... or file:<stored file>")
        return value


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant"]
    content: list[MessagePart]


class VariableSpec(BaseModel):
    name: str
    type: str = "string"
    required: bool = True
    default: object = None
    description: str = ""


class PromptFields(BaseModel):
    title: Optional[str] = None
    description: Optional[str] = None
    category: Optional[str] = None
    tags: Optional[list[str]] = None
    is_enhancement: Optional[bool] = None
    visibility: Optional[Literal["private", "public"]] = None
    metadata: Optional[dict] = None

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags):
        if tags is None:
            return None
        cleaned = list(dict.fromkeys(tag.strip().lower() for tag in tags if tag.strip()))
        for tag in cleaned:
            if not TAG_RE.match(tag):
                raise ValueError(f"invalid tag {tag!r}: no spaces or commas, at most 64 characters")
        return cleaned

    @field_validator("category")
    @classmethod
    def _category(cls, value):
        return value.strip().lower() if value is not None else None


class PromptCreate(PromptFields):
    name: str
    kind: Literal["text", "chat"] = "text"
    content: Optional[str] = None
    messages: Optional[list[ChatMessage]] = None
    variables: Optional[list[dict]] = None
    message: str = ""

    @field_validator("name")
    @classmethod
    def _name(cls, value):
        if not NAME_RE.match(value):
            raise ValueError("names are 1-100 characters of a-z, 0-9, '.', '_' or '-', "
                             "starting with a letter or digit")
        return value


class PromptUpdate(PromptFields):
    """Any field left None is unchanged. A change of content, messages or variables makes a
    new version and must name base_version, the version the edit started from."""

    base_version: Optional[int] = None
    content: Optional[str] = None
    messages: Optional[list[ChatMessage]] = None
    variables: Optional[list[dict]] = None
    message: str = ""

    def changes_content(self) -> bool:
        return self.content is not None or self.messages is not None or self.variables is not None


class VersionPublic(BaseModel):
    number: int
    content: str
    messages: Optional[list[dict]] = None
    variables: list[dict] = Field(default_factory=list)
    author: str = ""
    message: str = ""
    created_at: datetime
    labels: list[str] = Field(default_factory=list)


class PromptSummary(BaseModel):
    name: str
    title: str
    description: str
    category: str
    tags: list[str]
    is_enhancement: bool
    visibility: str
    kind: str
    latest_version: int
    updated_at: datetime
    created_at: datetime


class PromptPublic(PromptSummary):
    """A prompt at one version (the latest unless a version or label was asked for)."""

    version: int
    content: str
    messages: Optional[list[dict]] = None
    variables: list[dict] = Field(default_factory=list)
    used_variables: list[str] = Field(default_factory=list)
    version_message: str = ""
    version_author: str = ""
    version_created_at: datetime
    labels: dict[str, int] = Field(default_factory=dict)
    metadata: dict = Field(default_factory=dict)
    owner: str = ""


class PromptQuery(BaseModel):
    q: Optional[str] = None
    category: Optional[str] = None
    tag: Optional[str] = None
    visibility: Optional[Literal["private", "public"]] = None
    is_enhancement: Optional[bool] = None
    kind: Optional[Literal["text", "chat"]] = None
    sort: Literal["relevance", "updated", "created", "name", "title"] = "relevance"
    limit: int = Field(default=50, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class CountedName(BaseModel):
    name: str
    count: int


class ImportReport(BaseModel):
    created: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    renamed: dict[str, str] = Field(default_factory=dict)
    skipped: list[str] = Field(default_factory=list)


def parse(model: type[BaseModel], data: dict):
    """Build a schema from user input; pydantic's errors become one readable ValidationError."""
    from pydantic import ValidationError as PydanticValidationError

    from .errors import ValidationError

    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        details = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            details.append(f"{where}: {message}" if where else message)
        raise ValidationError("errors.invalid", detail="; ".join(details)) from None
