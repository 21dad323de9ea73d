"""What services accept and return (the Create/Update/Public families), separate from tables."""
from __future__ import annotations

import json
import re
import unicodedata
from datetime import datetime
from typing import Generic, Literal, Optional, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from .errors import ValidationError as _Invalid

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
TAG_RE = re.compile(r"^[^\s,]{1,64}$")
ROLES = ("system", "user", "assistant")
SORTS = ("relevance", "updated", "created", "name", "title")

T = TypeVar("T")

# Field limits shared by every path in (editor, CLI, import, builder): the services build these
# schemas, so one rule holds everywhere. Content's limit is a setting (PROMPTMGR_MAX_CONTENT_BYTES).
MAX_TITLE = 200
MAX_CATEGORY = 64
MAX_DESCRIPTION = 10_000
MAX_MESSAGE = 2_000
MAX_METADATA_BYTES = 64 * 1024
MAX_METADATA_DEPTH = 10
MAX_VARIABLES = 500
# Beyond 2**63 SQLite raises OverflowError and PostgreSQL a DataError: offsets stay well inside.
MAX_OFFSET = 10**12
# Text direction overrides (U+202A-202E, U+2066-2069) can make a name look like another one.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _field(name: str) -> str:
    return f"limits.fields.{name}"


def check_text(value: str, field: str) -> str:
    """What every stored text obeys: no NUL byte (PostgreSQL refuses it, so SQLite does too and every
    export imports on both) and no lone surrogate (not encodable as UTF-8)."""
    if "\x00" in value:
        raise _Invalid("limits.nul_byte", field_key=_field(field))
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _Invalid("limits.surrogate", field_key=_field(field)) from None
    return value


def check_line(value: str, field: str, limit: int) -> str:
    """A one-line name (title, category, tag): bounded, no control or direction-override characters."""
    check_text(value, field)
    if len(value) > limit:
        raise _Invalid("limits.too_long", field_key=_field(field), limit=limit)
    if any(unicodedata.category(ch) == "Cc" or ch in _BIDI for ch in value):
        raise _Invalid("limits.control_chars", field_key=_field(field))
    return value


def check_content_size(size: int) -> None:
    from .config import active_settings

    limit = active_settings().max_content_bytes
    if size > limit:
        raise _Invalid("limits.content_too_large", size=size, limit=limit)


def check_data(value, field: str, max_bytes: int = MAX_METADATA_BYTES, max_depth: int = MAX_METADATA_DEPTH):
    """Free-form JSON data (metadata, variable defaults): bounded depth and size, clean strings."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise _Invalid("limits.too_deep", field_key=_field(field), limit=max_depth)
        if isinstance(item, str):
            check_text(item, field)
        elif isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    raise _Invalid("limits.bad_key", field_key=_field(field))
                check_text(key, field)
                stack.append((child, depth + 1))
        elif isinstance(item, (list, tuple)):
            stack.extend((child, depth + 1) for child in item)
        elif item is not None and not isinstance(item, (bool, int, float)):
            raise _Invalid("limits.bad_value", field_key=_field(field))
        if len(stack) > max_bytes:  # a cheap bound before serializing
            raise _Invalid("limits.too_large", field_key=_field(field), limit=max_bytes)
    try:
        size = len(json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8"))
    except (ValueError, OverflowError):
        raise _Invalid("limits.bad_value", field_key=_field(field)) from None
    if size > max_bytes:
        raise _Invalid("limits.too_large", field_key=_field(field), limit=max_bytes)
    return value


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
        return check_text(value, "url") if value is not None else None

    @field_validator("text")
    @classmethod
    def _text(cls, value):
        return check_text(value, "content") if value is not None else None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant"]
    content: list[MessagePart]

    def texts(self) -> list[str]:
        """The message's text parts (the template texts of a chat prompt)."""
        return [part.text or "" for part in self.content if part.type == "text"]


def messages_size(messages: list[ChatMessage]) -> int:
    return sum(len((part.text or part.url or "").encode("utf-8")) for m in messages for part in m.content)


def as_messages(messages: list | None) -> list[ChatMessage] | None:
    """Stored messages (JSON dicts) as the typed models; typed ones pass through. Raises ValidationError."""
    if messages is None:
        return None
    if all(isinstance(m, ChatMessage) for m in messages):
        return list(messages)
    return parse(_Messages, {"messages": messages}).messages


class _Messages(BaseModel):
    messages: list[ChatMessage]


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
    # Strict: "false" in an import file is not true (a lax bool would turn any non-empty string into it).
    is_enhancement: Optional[StrictBool] = None
    visibility: Optional[Literal["private", "public"]] = None
    metadata: Optional[dict] = None

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags):
        if tags is None:
            return None
        cleaned = list(dict.fromkeys(tag.strip().lower() for tag in tags if tag.strip()))
        for tag in cleaned:
            check_line(tag, "tag", 64)
            if not TAG_RE.match(tag):
                raise ValueError(f"invalid tag {tag!r}: no spaces or commas, at most 64 characters")
        return cleaned

    @field_validator("category")
    @classmethod
    def _category(cls, value):
        return check_line(value.strip().lower(), "category", MAX_CATEGORY) if value is not None else None

    @field_validator("title")
    @classmethod
    def _title(cls, value):
        return check_line(value, "title", MAX_TITLE) if value is not None else None

    @field_validator("description")
    @classmethod
    def _description(cls, value):
        if value is not None and len(check_text(value, "description")) > MAX_DESCRIPTION:
            raise _Invalid("limits.too_long", field_key=_field("description"), limit=MAX_DESCRIPTION)
        return value

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value):
        return check_data(value, "metadata") if value is not None else None


class _VersionFields(BaseModel):
    """What a version holds, checked the same way wherever it comes from."""

    @field_validator("content", check_fields=False)
    @classmethod
    def _content(cls, value):
        if value is not None:
            check_text(value, "content")
            check_content_size(len(value.encode("utf-8")))
        return value

    @field_validator("messages", check_fields=False)
    @classmethod
    def _messages(cls, value):
        if value is not None:
            check_content_size(messages_size(value))
        return value

    @field_validator("variables", check_fields=False)
    @classmethod
    def _variables(cls, value):
        if value is not None:
            if len(value) > MAX_VARIABLES:
                raise _Invalid("limits.too_many", field_key=_field("variables"), limit=MAX_VARIABLES)
            check_data(value, "variables")
        return value

    @field_validator("message", check_fields=False)
    @classmethod
    def _message(cls, value):
        if value is not None and len(check_text(value, "message")) > MAX_MESSAGE:
            raise _Invalid("limits.too_long", field_key=_field("message"), limit=MAX_MESSAGE)
        return value


class PromptCreate(_VersionFields, PromptFields):
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


class PromptUpdate(_VersionFields, PromptFields):
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
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)

    @field_validator("q", "category", "tag")
    @classmethod
    def _clean(cls, value):
        # PostgreSQL refuses NUL bytes in any text parameter (with the SQL in its message).
        return check_text(value, "query") if value is not None else None


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
    # Every rename, in document order: (name in the file, name given); a file can repeat a name.
    renamed: list[tuple[str, str]] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list)


def parse(model: type[BaseModel], data: dict):
    """Build a schema from user input; pydantic's errors become one readable ValidationError."""
    from pydantic import ValidationError as PydanticValidationError

    from .errors import ValidationError

    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        errors = exc.errors()
        bound = {"less_than_equal": ("limits.at_most", "le"), "greater_than_equal": ("limits.at_least", "ge")}
        if len(errors) == 1 and errors[0]["type"] in bound:  # e.g. --offset 9223372036854775808
            key, name = bound[errors[0]["type"]]
            raise ValidationError(key, field=".".join(str(p) for p in errors[0]["loc"]),
                                  limit=errors[0].get("ctx", {}).get(name)) from None
        details = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            details.append(f"{where}: {message}" if where else message)
        raise ValidationError("errors.invalid", detail="; ".join(details)) from None
