"""What a check is, as stored on an experiment and typed on the command line.

`TYPE[:VALUE]` (`contains:Paris`, `not-icontains:sorry`, `regex:^\\d+$`, `is-json`,
`llm-rubric:Answers politely`): the part after the first colon is the value, kept verbatim.
Checks are stored as plain dicts (CheckSpec.to_dict) in Experiment.checks, so the table does not
depend on the registry's Python types. evaluation/checks.py holds the registry of types."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..errors import ValidationError

MAX_CHECKS = 50
MAX_VALUE_CHARS = 10_000
NEGATION = "not-"


@dataclass(frozen=True)
class CheckSpec:
    type: str                       # a registered type, without "not-"
    value: Any = None               # str for most types; number for cost/latency/levenshtein; dict for is-json schema...
    negate: bool = False
    weight: float = 1.0
    threshold: float | None = None  # the score this check needs to pass (type default when None)
    metric: str | None = None       # a display name (promptfoo's `metric`); default: the spec text

    @property
    def name(self) -> str:
        """How reports name the check: its metric, else `[not-]TYPE[:VALUE]` shortened."""
        if self.metric:
            return self.metric
        text = f"{NEGATION if self.negate else ''}{self.type}"
        if self.value not in (None, ""):
            value = self.value if isinstance(self.value, str) else _compact(self.value)
            text += ":" + (value if len(value) <= 60 else value[:57] + "...")
        return text

    def to_dict(self) -> dict:
        return {key: value for key, value in asdict(self).items() if value not in (None, False) or key == "type"}

    @classmethod
    def from_dict(cls, data: dict) -> "CheckSpec":
        return cls(type=data["type"], value=data.get("value"), negate=bool(data.get("negate", False)),
                   weight=float(data.get("weight", 1.0)), threshold=data.get("threshold"),
                   metric=data.get("metric"))


def _compact(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def split_spec(text: str) -> tuple[str, bool, str | None]:
    """`[not-]TYPE[:VALUE]` -> (type, negate, value or None). Raises ValidationError for an empty
    type or an oversized value; whether the type exists is the registry's question."""
    if not isinstance(text, str) or not text.strip():
        raise ValidationError("evaluation.check_empty")
    head, sep, value = text.strip().partition(":")
    head = head.strip().lower()
    negate = head.startswith(NEGATION)
    if negate:
        head = head[len(NEGATION):]
    if not head:
        raise ValidationError("evaluation.check_empty")
    if len(value) > MAX_VALUE_CHARS:
        raise ValidationError("evaluation.check_too_long", max=MAX_VALUE_CHARS)
    return head, negate, (value if sep else None)
