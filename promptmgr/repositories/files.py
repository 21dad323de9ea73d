"""Which stored files the tenant's prompt versions reference (for cleaning up the rest)."""
from __future__ import annotations

from ..models import PromptVersion
from .base import Repository

FILE_SCHEME = "file:"


class FileRefRepository(Repository):
    def referenced_files(self) -> set[str]:
        """Names of every "file:NAME" image in any version of the tenant's chat prompts."""
        names: set[str] = set()
        statement = self._scoped(PromptVersion, PromptVersion.messages).where(PromptVersion.messages.is_not(None))
        for messages in self.session.exec(statement):
            for message in messages or ():
                for part in (message.get("content") or ()) if isinstance(message, dict) else ():
                    url = part.get("url") if isinstance(part, dict) else None
                    if isinstance(url, str) and url.startswith(FILE_SCHEME):
                        names.add(url[len(FILE_SCHEME):].strip())
        return names
