"""Rendering one prompt version for every dataset row of an experiment.

templating.render() parses and compiles the template on every call (about a millisecond); over
200,000 cells that is minutes. A VariantRenderer compiles once per variant and renders each row
with the same limits (size, loops, time) as the testing bench."""
from __future__ import annotations

from typing import Callable

from .. import templating
from ..services.testing import build_messages


class VariantRenderer:
    def __init__(self, content: str | None, messages: list | None, declared: list[dict] | None,
                 files: Callable[[str], str] | None = None):
        from ..schemas import as_messages

        self.is_chat = messages is not None
        self.files = files
        texts = templating.texts_of(None if self.is_chat else content, messages)
        self.names = templating.extract_all(texts)
        self.specs = {v["name"]: v for v in templating.normalize_declarations(declared)}
        if self.is_chat:
            self.messages = as_messages(messages)
            self.compiled = [[templating.compile_template(part.text or "") if part.type == "text" else None
                              for part in message.content] for message in self.messages]
        else:
            self.template = templating.compile_template(content or "")

    def context(self, values: dict) -> dict:
        return templating.context_of(self.names, self.specs, values)

    def render(self, values: dict) -> tuple[list[dict], list[dict]]:
        """(messages for the call, messages as stored). Raises ValidationError, TemplateError."""
        context = self.context(values or {})
        if not self.is_chat:
            return build_messages(templating.render_limited(self.template, context), None, None, self.files)
        rendered = []
        for message, templates in zip(self.messages, self.compiled):
            parts = [part.model_copy(update={"text": templating.render_limited(tpl, context)}) if tpl is not None
                     else part for part, tpl in zip(message.content, templates)]
            rendered.append(message.model_copy(update={"content": parts}).model_dump(exclude_none=True))
        return build_messages(None, rendered, None, self.files)
