"""Judges for the model-graded checks (llm-rubric, factuality).

A Judge is an async callable `(kind, variables) -> LLMResult`. library_judge renders the judge prompt
from the caller's library ("judge-llm-rubric", "judge-factuality": the starter library ships them, so
they are versioned and editable like any prompt) and calls the gateway at temperature 0. The reply is
read by parse_verdict: the first JSON object in it, {"pass", "score", "reason"}, score clamped to 0..1.
A reply without one is an error for that check (evaluation/checks.py), never an exception there."""
from __future__ import annotations

import asyncio
import json
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ..errors import PromptMgrError
from ..llm.types import LLMResult
from .check_json import json_values

if TYPE_CHECKING:
    from ..context import TenantContext

__all__ = ["Judge", "JUDGE_PROMPTS", "JUDGE_PARAMS", "JudgeVerdict", "library_judge", "parse_verdict"]

JUDGE_PROMPTS = {"llm-rubric": "judge-llm-rubric", "factuality": "judge-factuality"}
# Deterministic (and so served from the response cache on a re-run); a verdict is short.
JUDGE_PARAMS = {"temperature": 0.0, "max_tokens": 1024}
MAX_REPLY_CHARS = 100_000     # of a judge's reply, read for a verdict
MAX_REASON_CHARS = 2_000
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


class Judge(Protocol):
    async def __call__(self, kind: str, variables: dict) -> LLMResult: ...


@dataclass(frozen=True)
class JudgeVerdict:
    passed: bool | None     # None: the judge gave only a score
    score: float
    reason: str


def _as_pass(value) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "pass", "passed"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "no", "fail", "failed"):
        return False
    raise ValueError(value)


def _as_score(value) -> float:
    if isinstance(value, bool):
        return float(value)
    number = float(value.strip()) if isinstance(value, str) else float(value)
    if math.isnan(number):
        raise ValueError(value)
    return min(max(number, 0.0), 1.0)


def parse_verdict(text: str) -> JudgeVerdict:
    """The first JSON object in the reply that carries "pass" or "score" (code fences and text
    around it are fine). Raises PromptMgrError("evaluation.judge_not_json") when there is none."""
    text = (text or "")[:MAX_REPLY_CHARS]
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for chunk in candidates:
        for obj in (value for value in json_values(chunk, "{") if isinstance(value, dict)):
            lowered = {str(k).strip().lower(): v for k, v in obj.items()}
            if "pass" not in lowered and "score" not in lowered:
                continue
            try:
                passed = _as_pass(lowered["pass"]) if lowered.get("pass") is not None else None
                score = _as_score(lowered["score"]) if lowered.get("score") is not None else None
            except (TypeError, ValueError, OverflowError):
                raise PromptMgrError("evaluation.judge_bad_verdict", excerpt=_excerpt(json.dumps(obj))) from None
            if passed is None and score is None:
                continue
            if score is None:
                score = 1.0 if passed else 0.0
            reason = lowered.get("reason")
            reason = reason if isinstance(reason, str) else ("" if reason is None else json.dumps(reason))
            return JudgeVerdict(passed, score, reason[:MAX_REASON_CHARS])
    raise PromptMgrError("evaluation.judge_not_json", excerpt=_excerpt(text))


def _excerpt(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _shipped_prompt(name: str) -> dict:
    """The starter library's version of a judge prompt, for a library that lacks it."""
    from ..resources import data_text
    from ..services.transfer import safe_yaml_load

    for prompt in safe_yaml_load(data_text("starter_library.yaml"))["prompts"]:
        if prompt["name"] == name:
            version = prompt["versions"][-1]
            return {"content": version.get("content"), "messages": version.get("messages"),
                    "variables": version.get("variables"), "version": None}
    raise PromptMgrError("errors.not_found", what="prompt", name=name)


class LibraryJudge:
    """A Judge over the caller's library and one judge model (see library_judge)."""

    def __init__(self, services, ctx: "TenantContext", target, gateway=None):
        self.services, self.ctx, self.target = services, ctx, target
        self.gateway = gateway or services.gateway
        self._prompts: dict[str, dict] = {}
        self._lock = asyncio.Lock()

    def using(self, gateway) -> "LibraryJudge":
        """The same judge calling through `gateway` (the runner's, which leaves retries to it)."""
        return LibraryJudge(self.services, self.ctx, self.target, gateway)

    def _load(self, kind: str) -> dict:
        from ..errors import NotFoundError

        name = JUDGE_PROMPTS[kind]
        try:
            prompt = self.services.library.get(self.ctx, name)
        except NotFoundError:
            return _shipped_prompt(name)
        return {"content": None if prompt.messages is not None else prompt.content, "messages": prompt.messages,
                "variables": prompt.variables, "version": prompt.version}

    async def _prompt(self, kind: str) -> dict:
        async with self._lock:  # read each judge prompt once per experiment run, off the event loop
            if kind not in self._prompts:
                self._prompts[kind] = await asyncio.to_thread(self._load, kind)
            return self._prompts[kind]

    @property
    def versions(self) -> dict[str, int | None]:
        """The library version of each judge prompt used so far (None: the shipped text), for the record."""
        return {JUDGE_PROMPTS[kind]: prompt["version"] for kind, prompt in self._prompts.items()}

    def messages(self, prompt: dict, variables: dict) -> list[dict]:
        from .. import templating
        from ..services.testing import build_messages

        content, messages = templating.render(prompt["content"], prompt["messages"], prompt["variables"], variables)
        return build_messages(content, messages, None, None)[0]

    async def __call__(self, kind: str, variables: dict) -> LLMResult:
        if kind not in JUDGE_PROMPTS:
            raise PromptMgrError("evaluation.unknown_type", type=kind, known=", ".join(sorted(JUDGE_PROMPTS)))
        prompt = await self._prompt(kind)
        messages = self.messages(prompt, variables)
        return await self.gateway.acomplete(self.target, messages, dict(JUDGE_PARAMS))


def library_judge(services, ctx: "TenantContext", model: str | None) -> Judge:
    """A Judge for this caller: their library's judge prompts (the shipped ones when their library has
    none), `model` or their default model. Raises ValidationError (no model, a bad model name) and
    PermissionDeniedError (the caller may not run experiments) here, before any cell runs."""
    from ..policy import Action, require

    require(ctx, Action.RUN_EXPERIMENTS)
    return LibraryJudge(services, ctx, services.providers.resolve(ctx, model))
