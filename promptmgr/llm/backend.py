"""The one interface every model backend implements (litellm for remote providers, the embedded
llama.cpp model, test doubles). The gateway adds caching, retries, token counts and prices around it.

Backends raise on failure; `classify` turns their exceptions into a Failure (code, key, params).
Messages are OpenAI-format chat messages (see llm/schemas.ChatMessage)."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator

from .errors import Failure, classify
from .types import ChatMessage, ModelInfo, ModelTarget, Reply, TokenCount, Usage


class Backend(ABC):
    name: str = "backend"

    def warm(self) -> None:
        """Load what the first call needs (e.g. import a library) before a call's clock starts."""

    def available(self) -> bool:
        """False when the backend cannot serve any call here (e.g. the embedded model is not installed)."""
        return True

    def unavailable(self, target: ModelTarget) -> Failure:
        return Failure("error", "llm.error", {"model": target.display_name, "detail": self.name})

    @abstractmethod
    async def complete(self, target: ModelTarget, messages: list[ChatMessage], params: dict, *,
                       timeout: float) -> Reply:
        """One answer; raises on failure."""

    @abstractmethod
    def stream(self, target: ModelTarget, messages: list[ChatMessage], params: dict, *,
               timeout: float) -> AsyncIterator[str | Usage]:
        """An async generator of text deltas, then at most one Usage; raises on failure.

        Closing it (aclose, or cancelling the task iterating it) must stop the model call."""

    def classify(self, exc: BaseException, target: ModelTarget, timeout: float) -> Failure:
        return classify(exc, model=target.display_name, api_base=target.api_base, secret=target.api_key,
                        timeout=timeout, missing_keys=lambda: self.missing_keys(target))

    def estimate_cost(self, target: ModelTarget, prompt_tokens: int, completion_tokens: int) -> float | None:
        """USD for these counts, None when unknown; the target's own prices win."""
        if target.input_cost_per_token is None and target.output_cost_per_token is None:
            return None
        return prompt_tokens * float(target.input_cost_per_token or 0.0) + \
            completion_tokens * float(target.output_cost_per_token or 0.0)

    def model_info(self, target: ModelTarget) -> ModelInfo:
        return ModelInfo(target.display_name, self.name, target.context_window, target.input_cost_per_token,
                         target.output_cost_per_token, False)

    def known_models(self) -> list[ModelInfo]:
        """Models this backend can name without any network access."""
        return []

    def missing_keys(self, target: ModelTarget) -> list[str]:
        """Environment variables this target needs and that are not set ([] when it can be called)."""
        return []

    def count_text(self, model: str, text: str) -> TokenCount | None:
        """This backend's own token count, or None to let llm.tokens estimate."""
        return None

    def count_messages(self, model: str, messages: list[ChatMessage]) -> TokenCount | None:
        return None
