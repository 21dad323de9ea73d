"""A prompt as the client returns it, rendering locally with the server's own code: the same jinja
sandbox, limits (PROMPTMGR_MAX_RENDER_BYTES, PROMPTMGR_RENDER_SECONDS) and variable rules as
`POST /api/v1/prompts/{name}/render` (promptmgr/templating.py)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

SOURCES = ("server", "cache", "stale", "fallback")


@dataclass(frozen=True)
class Prompt:
    """`source` says where this copy came from: `server` (fetched now), `cache` (fresh within the
    TTL), `stale` (past the TTL, being revalidated, or the server is unreachable), `fallback` (the
    Client's fallback text: `version` is None and the variables are the template's own). Cached
    copies are shared between callers: treat the lists and dicts as read-only."""

    name: str
    version: int | None
    content: str
    messages: list[dict] | None = None
    variables: list[dict] = field(default_factory=list)
    labels: dict[str, int] = field(default_factory=dict)
    kind: str = "text"
    source: str = "server"
    data: dict = field(default_factory=dict, repr=False)  # the API's whole answer (title, tags...)

    @classmethod
    def from_api(cls, data: dict) -> "Prompt":
        return cls(name=data["name"], version=data.get("version"), content=data.get("content") or "",
                   messages=data.get("messages"), variables=list(data.get("variables") or []),
                   labels=dict(data.get("labels") or {}), kind=data.get("kind") or "text", data=data)

    @classmethod
    def fallback(cls, name: str, content: str) -> "Prompt":
        return cls(name=name, version=None, content=content, source="fallback")

    def with_source(self, source: str) -> "Prompt":
        return self if self.source == source else dataclasses.replace(self, source=source)

    @property
    def variable_names(self) -> list[str]:
        """Names the template uses: declared ones, else those found in the text."""
        from ..templating import extract_all, texts_of

        declared = [v["name"] for v in self.variables]
        return declared or extract_all(texts_of(self.content, self.messages))

    def _render(self, values: dict[str, Any]) -> tuple[str | None, list | None]:
        from ..templating import render

        return render(self.content, self.messages, self.variables, values)

    def render(self, /, **variables: Any) -> str:
        """The text with its variables filled in (a chat prompt: its messages as `[role]` blocks,
        as the server's render gives them). Raises promptmgr.errors.ValidationError (a missing or
        badly typed value) or TemplateError (the template failed or exceeded a limit)."""
        from ..templating import version_text

        content, messages = self._render(variables)
        return content if messages is None else version_text("", messages)

    def render_messages(self, /, **variables: Any) -> list[dict] | None:
        """A chat prompt's messages with their text parts rendered, as the server's render returns
        them in `messages`; None for a text prompt (use render)."""
        return self._render(variables)[1]
