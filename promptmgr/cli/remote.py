"""Where the `prompts` commands (and `categories`, `tags`) send their calls: the local library
service bound to the CLI's caller, or a promptmgr server's REST API with the same methods and the same
return types, so every command prints the same text and JSON either way.

Remote mode: PROMPTMGR_SERVER (or `prompts --server URL`) with PROMPTMGR_TOKEN (or `--token`).
Every other command refuses in remote mode (common.services) instead of quietly working on the local
library."""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

# The `prompts` group's --server/--token for the command being run (set by its callback, cleared when
# the command's context closes: a later command in the same process starts from the environment).
_given: dict = {}


@dataclass(frozen=True)
class Target:
    url: str
    token: str | None
    origin: str  # "--server" or "PROMPTMGR_SERVER": named in the error when the token is missing


def target() -> Target | None:
    """The server this invocation talks to, or None for the local library."""
    from ..config import get_settings

    settings = get_settings()
    token = _given.get("token") or settings.server_token
    if _given.get("server"):
        return Target(_given["server"], token, "--server")
    if settings.server:
        return Target(settings.server, token, "PROMPTMGR_SERVER")
    return None


def remember(ctx, server: str | None, token: str | None) -> None:
    """The `prompts` group's options, for the command `ctx` runs only."""
    _given.clear()
    _given.update(server=server, token=token)
    ctx.call_on_close(_given.clear)


class BoundLibrary:
    """The local LibraryService with the caller's context filled in: library.get(name) calls
    services.library.get(ctx, name)."""

    def __init__(self, service, ctx):
        self._service, self._ctx = service, ctx

    def __getattr__(self, name: str):
        return partial(getattr(self._service, name), self._ctx)


class RemoteLibrary:
    """LibraryService's methods (without ctx: the token is the caller) over the REST API, returning
    the same schemas. Errors are the client's typed ones, which are PromptMgrErrors carrying the
    server's message in the CLI's language: the CLI's one error handler prints them as local ones."""

    def __init__(self, url: str, token: str, locale: str):
        from ..client.http import Api

        self.api = Api(url, token, timeout=30.0, locale=locale)

    def _path(self, name: str, *rest: str) -> str:
        from ..client.http import segment

        # No URL addresses these (/prompts/ is the list; the server decodes %2F before routing), and
        # no prompt can have such a name: the service's answer for them.
        if not name or "/" in name:
            from ..errors import NotFoundError

            raise NotFoundError(what="prompt", name=name)
        return "/".join(["/prompts", segment(name), *(segment(r) for r in rest)])

    def get(self, name: str, version: int | None = None, label: str | None = None):
        from ..schemas import PromptPublic

        return PromptPublic.model_validate(self.api.json("GET", self._path(name),
                                                         params={"version": version, "label": label}))

    def list(self, query=None):
        from ..schemas import Page, PromptQuery, PromptSummary

        query = query or PromptQuery()
        return Page[PromptSummary].model_validate(
            self.api.json("GET", "/prompts", params=query.model_dump(mode="json", exclude_none=True)))

    def history(self, name: str):
        from ..schemas import VersionPublic

        return [VersionPublic.model_validate(v) for v in self.api.json("GET", self._path(name, "versions"))]

    def diff(self, name: str, old: int, new: int) -> str:
        return self.api.json("GET", self._path(name, "diff"), params={"old": old, "new": new})["diff"]

    def categories(self):
        from ..schemas import CountedName

        return [CountedName.model_validate(c) for c in self.api.json("GET", "/categories")]

    def tags(self):
        from ..schemas import CountedName

        return [CountedName.model_validate(c) for c in self.api.json("GET", "/tags")]

    def render(self, name: str, values: dict | None = None, version: int | None = None, label: str | None = None):
        from ..schemas import PromptPublic

        body = {"variables": values or {}, "version": version, "label": label}
        return PromptPublic.model_validate(self.api.json("POST", self._path(name, "render"), json=body))

    def create(self, data):
        from ..schemas import PromptPublic

        return PromptPublic.model_validate(self.api.json("POST", "/prompts", json=_body(data)))

    def update(self, name: str, data):
        from ..schemas import PromptPublic

        return PromptPublic.model_validate(self.api.json("PATCH", self._path(name), json=_body(data)))

    def restore(self, name: str, number: int, base_version: int | None = None):
        from ..schemas import PromptPublic

        body = {"version": number, "base_version": base_version}
        return PromptPublic.model_validate(self.api.json("POST", self._path(name, "restore"), json=body))

    def set_label(self, name: str, label: str, version: int | None = None) -> dict[str, int]:
        return self.api.json("PUT", self._path(name, "labels", label), json={"version": version})

    def remove_label(self, name: str, label: str) -> dict[str, int]:
        return self.api.json("DELETE", self._path(name, "labels", label))

    def delete(self, name: str) -> None:
        self.api.json("DELETE", self._path(name))


def _body(data) -> dict:
    """A validated schema as the API reads it: unset fields left out (PATCH: "leave as it is")."""
    return data.model_dump(mode="json", exclude_none=True)
