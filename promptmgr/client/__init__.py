"""The Python client for a promptmgr server's REST API, for applications that fetch their prompts at
run time: `Client(url, token).get_prompt("greet", label="production").render(name="Ada")`.

It imports neither gradio, litellm nor the database layer (sqlmodel): only httpx, pydantic and
jinja2 (rendering uses promptmgr/templating.py, the server's own sandbox). See docs/api.md."""
from __future__ import annotations

from .core import Client
from .errors import (ApiError, AuthenticationError, ConflictError, InvalidRequestError, NotFoundError,
                     PermissionDeniedError, RateLimitedError, ServerUnavailableError)
from .prompt import Prompt

__all__ = ["Client", "Prompt", "ApiError", "AuthenticationError", "ConflictError", "InvalidRequestError",
           "NotFoundError", "PermissionDeniedError", "RateLimitedError", "ServerUnavailableError"]
