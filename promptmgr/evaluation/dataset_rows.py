"""What a dataset row is and how a file's rows become one: ids, promptfoo's reserved columns, limits.

- CSV, and flat objects in JSON/JSONL/YAML: every column is a variable except the special ones:
  `__id`/`id` (the row's stable id; `id` also stays a variable), `expected`/`expected_output`
  (the reference answer), and promptfoo's reserved columns: `__expected`, `__expected1`... (assertion
  strings, kept in metadata `asserts`; a plain or `equals:` first one is also the expected answer),
  `__description`, `__metric`, `__threshold`, `__prefix`, `__suffix`, `__providerOutput`,
  `__metadata:KEY`, `__config:__expectedN:KEY`. `__meta` (our own) holds the rest of the metadata as JSON.
- Structured objects (promptfoo test cases): {"vars": {...}, "expected", "id", "description",
  "assert", "metadata", "threshold", "metric", "options", ...}: `vars` are the variables, every other
  key but id/expected is kept in the row's metadata (`assert` as `asserts`).
`structured()` and `csv_cells()` write a row back in the same conventions: exports re-import to
the same rows."""
from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache

from ..errors import ValidationError

# csv's own cap on a field (its default): our cell limit may not exceed it.
_CSV_FIELD_CAP = csv.field_size_limit()
_UID_CHARS = 64
_EXPECTED_COLUMNS = ("expected", "expected_output")
_META_COLUMNS = {"__description": "description", "__metric": "metric", "__prefix": "prefix", "__suffix": "suffix",
                 "__providerOutput": "provider_output"}
_STRUCTURED_RENAMES = {"assert": "asserts"}  # structured object key -> metadata key
# promptfoo assertion types a `__expected` cell may start with ("contains: Paris"); anything else is
# the expected text itself (promptfoo's default: equals).
_ASSERTION_TYPES = frozenset("""
equals contains icontains contains-any icontains-any contains-all icontains-all starts-with regex is-json
contains-json is-sql contains-sql is-xml contains-xml is-html contains-html is-valid-openai-tools-call
is-valid-openai-function-call is-valid-function-call javascript python webhook levenshtein rouge-n bleu gleu
meteor similar llm-rubric g-eval model-graded-closedqa model-graded-factuality factuality answer-relevance
context-faithfulness context-recall context-relevance select-best classifier moderation perplexity
perplexity-score cost latency word-count finish-reason is-refusal pi guardrails trace-span-count
trace-span-duration trace-error-spans fn eval grade file""".split())
_ASSERTION_RE = re.compile(r"^(not-)?([a-z][a-z0-9-]*)(\(\d+(?:\.\d+)?\))?\s*:")


@dataclass(frozen=True)
class Limits:
    """What one dataset file may hold; every error names the row (1-based, after the header)."""

    max_file_bytes: int = 500 * 1024 * 1024
    max_rows: int = 1_000_000
    max_row_bytes: int = 1_000_000      # a row's variables, expected answer and metadata as JSON
    max_cell_chars: int = _CSV_FIELD_CAP  # one value (a CSV cell, a variable)
    max_columns: int = 500
    max_depth: int = 10


@dataclass(slots=True)
class Row:
    uid: str
    vars: dict
    expected: str | None = None
    meta: dict = field(default_factory=dict)


def content_uid(vars_: dict, expected: str | None) -> str:
    """A row's id when its file gives none: the same content always gets the same id."""
    text = json.dumps([vars_, expected], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def bad_row(number: int, key: str, **params) -> ValidationError:
    return ValidationError("datasets.bad_row", row=number, detail=ValidationError(key, **params))


class RowChecker:
    """Turns one raw object into a Row, enforcing the limits."""

    def __init__(self, limits: Limits):
        self.limits = limits
        # Every id given so far (a file's own and content hashes): ids are unique within a version.
        self.ids: set[str] = set()

    def row(self, number: int, raw, flat_text: bool) -> Row:
        if not isinstance(raw, dict):
            raise bad_row(number, "datasets.row_not_object")
        try:
            if isinstance(raw.get("vars"), dict) and not flat_text:
                row = self._structured(number, raw)
            else:
                row = self._flat(number, raw)
            self._check(number, row)
        except ValidationError as exc:
            if exc.message_key == "datasets.bad_row":
                raise
            raise ValidationError("datasets.bad_row", row=number, detail=exc) from None
        return row

    def _structured(self, number: int, raw: dict) -> Row:
        meta = {_STRUCTURED_RENAMES.get(key, key): value for key, value in raw.items()
                if key not in ("vars", "expected", "id", "__id")}
        return Row(uid=self._uid(raw.get("__id", raw.get("id"))), vars=dict(raw["vars"]),
                   expected=_expected_text(raw.get("expected")), meta=meta)

    def _flat(self, number: int, raw: dict) -> Row:
        vars_: dict = {}
        meta: dict = {}
        asserts: list = []
        expected = None
        uid = raw.get("__id")
        for key, value in raw.items():
            kind = _column_kind(key) if isinstance(key, str) else "bad"
            if kind == "var":
                vars_[key] = value
            elif kind == "bad":
                raise ValidationError("datasets.bad_column_name")
            elif kind == "expected":
                expected = _expected_text(value)
            elif kind == "assert":
                if isinstance(value, str) and value.strip():
                    asserts.append(value.strip())
            elif value in ("", None) or kind == "id":
                continue
            elif kind == "threshold":
                meta["threshold"] = _number(value)
            elif kind == "metadata":
                meta.setdefault("metadata", {})[key[len("__metadata:"):]] = value
            elif kind == "config":
                target, _, option = key[len("__config:"):].partition(":")
                meta.setdefault("config", {}).setdefault(target, {})[option] = value
            elif kind == "meta":
                meta.update(_meta_json(value))
            else:
                meta[kind] = value
        if uid in (None, "") and "id" in raw:
            uid = raw["id"]
        if asserts:
            meta["asserts"] = asserts
            if expected is None:
                expected = _plain_expected(asserts[0])
        return Row(uid=self._uid(uid), vars=vars_, expected=expected, meta=meta)

    def _uid(self, value) -> str:
        if value is None or value == "":
            return ""
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ValidationError("datasets.bad_id")
        text = str(value).strip()
        # isprintable: no control, format, private-use or separator character but the plain space.
        if not text or len(text) > _UID_CHARS or not text.isprintable():
            raise ValidationError("datasets.bad_id")
        if text in self.ids:
            raise ValidationError("datasets.duplicate_id", id=text)
        self.ids.add(text)
        return text

    def _exact(self, data: dict) -> None:
        """check_data's verdict on a row, its errors worded about the row."""
        from ..schemas import check_data

        limits = self.limits
        try:
            check_data(data, "metadata", max_bytes=limits.max_row_bytes, max_depth=limits.max_depth + 2)
        except ValidationError as exc:
            if exc.message_key == "limits.too_large":
                raise ValidationError("datasets.row_too_large", limit=limits.max_row_bytes) from None
            if exc.message_key == "limits.too_deep":
                raise ValidationError("datasets.too_deep", limit=limits.max_depth) from None
            # The same message about the row, not about "the metadata" (check_data's field).
            raise ValidationError(exc.message_key, **{**exc.params, "field_key": "datasets.fields.row"}) from None

    def _check(self, number: int, row: Row) -> None:
        limits = self.limits
        if not row.vars:
            raise ValidationError("datasets.no_variables")
        if len(row.vars) > limits.max_columns:
            raise ValidationError("datasets.too_many_columns", limit=limits.max_columns)
        for key, value in row.vars.items():
            if not key.strip():
                raise ValidationError("datasets.empty_column")
            if isinstance(value, str) and len(value) > limits.max_cell_chars:
                raise ValidationError("datasets.cell_too_large", column=shown(key), limit=limits.max_cell_chars)
        if row.expected is not None and len(row.expected) > limits.max_cell_chars:
            raise ValidationError("datasets.cell_too_large", column="expected", limit=limits.max_cell_chars)
        # Clean strings (no NUL, no lone surrogate), bounded depth and size: what both databases
        # store. One pass collects the texts and checks them at once (check_data's per-value
        # checks were 40% of an import); any doubt goes to check_data for its exact verdict.
        data = {"vars": row.vars, "expected": row.expected, "meta": row.meta}
        texts: list[str] = []
        values = row.vars.values()
        if all(type(v) is str for v in values):  # a CSV row: its variables are texts as they are
            texts += row.vars
            texts += values
            rest = _plain_data([row.expected, row.meta], texts, limits.max_depth + 1)
            items = -1 if rest < 0 else rest + 2 * len(row.vars)
        else:
            items = _plain_data(data, texts, limits.max_depth + 2)
        if items < 0:
            return self._exact(data)
        joined = "\n".join(texts)
        try:
            encoded = len(joined.encode("utf-8"))
        except UnicodeEncodeError:  # a lone surrogate
            return self._exact(data)
        # An upper bound of the JSON size: every text, 5 more bytes per character JSON escapes,
        # 24 per value (quotes, separators, a number's digits).
        bound = encoded + 24 * items
        if bound + 5 * encoded > limits.max_row_bytes:  # only then can the escapes matter: count them
            bound += 5 * len(_JSON_ESCAPED.findall(joined))
        if "\x00" in joined or bound > limits.max_row_bytes:
            self._exact(data)
        if not row.uid:
            # The same content again gets the same hash with "-2", "-3"...: still stable (the same
            # file gives the same ids) and unique, so an export (which writes ids) imports again.
            uid = base = content_uid(row.vars, row.expected)
            repeat = 1
            while uid in self.ids:
                repeat += 1
                uid = f"{base}-{repeat}"
            self.ids.add(uid)
            row.uid = uid


@lru_cache(maxsize=4096)
def _column_kind(key: str) -> str:
    """What a flat row's column is (the same for every row of a file: cached)."""
    if key == "__id":
        return "id"
    if key in _EXPECTED_COLUMNS:
        return "expected"
    if key.startswith("__expected"):
        return "assert"
    if key in _META_COLUMNS:
        return _META_COLUMNS[key]
    if key == "__threshold":
        return "threshold"
    if key.startswith("__metadata:"):
        return "metadata"
    if key.startswith("__config:"):
        return "config"
    if key == "__meta":
        return "meta"
    return "var"


def _plain_data(value, texts: list[str], max_depth: int) -> int:
    """Collect the texts (keys too) of JSON-like data and count its values; -1 for anything
    check_data must judge: too deep, a non-text key, a value JSON cannot hold."""
    stack = [(value, 1)]
    items = 0
    while stack:
        item, depth = stack.pop()
        items += 1
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, dict):
            if depth > max_depth:
                return -1
            for key, child in item.items():
                if not isinstance(key, str):
                    return -1
                texts.append(key)
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            if depth > max_depth:
                return -1
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, float):
            if item != item or item in (_INF, -_INF):
                return -1
        elif item is not None and not isinstance(item, int):
            return -1
    return items


_JSON_ESCAPED = re.compile(r'["\\\x00-\x1f]')
_INF = float("inf")


def _expected_text(value) -> str | None:
    if value is None or isinstance(value, str):
        return value if value != "" else None
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _plain_expected(assertion: str) -> str | None:
    """The expected answer an `__expected` cell states: its text, unless it is another assertion."""
    match = _ASSERTION_RE.match(assertion)
    if match is None or match.group(2) not in _ASSERTION_TYPES:
        return assertion
    if match.group(2) == "equals" and not match.group(1):
        return assertion[match.end():].strip()
    return None


def _number(value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValidationError("datasets.bad_threshold", value=str(value)[:40]) from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValidationError("datasets.bad_threshold", value=str(value)[:40])
    return number


def _meta_json(value) -> dict:
    if isinstance(value, dict):
        return value
    if value in ("", None):
        return {}
    try:
        loaded = json.loads(value)
    except (TypeError, ValueError, RecursionError):
        loaded = None
    if not isinstance(loaded, dict):
        raise ValidationError("datasets.bad_meta")
    return loaded


def shown(name: str) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in name[:60])


def structured(row: Row) -> dict:
    """A row as a promptfoo-style test case object (what JSON, JSONL and YAML exports hold)."""
    out: dict = {"id": row.uid, "vars": row.vars}
    if row.expected is not None:
        out["expected"] = row.expected
    for key, value in row.meta.items():
        out[{v: k for k, v in _STRUCTURED_RENAMES.items()}.get(key, key)] = value
    return out


def csv_cells(row: Row) -> dict[str, str]:
    """A row's special columns in promptfoo's CSV convention; what CSV cannot say goes to `__meta`."""
    cells: dict[str, str] = {"__id": row.uid}
    if row.expected is not None:
        cells["expected"] = row.expected
    rest: dict = {}
    inverse = {v: k for k, v in _META_COLUMNS.items()}
    for key, value in row.meta.items():
        if key in inverse and isinstance(value, str):
            cells[inverse[key]] = value
        elif key == "threshold" and isinstance(value, (int, float)) and not isinstance(value, bool):
            cells["__threshold"] = repr(float(value))
        elif key == "asserts" and isinstance(value, list) and all(isinstance(a, str) for a in value):
            cells.update({f"__expected{i}": a for i, a in enumerate(value, start=1)})
        elif key == "metadata" and isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
            cells.update({f"__metadata:{k}": v for k, v in value.items()})
        else:
            rest[key] = value
    if rest:
        cells["__meta"] = json.dumps(rest, ensure_ascii=False, sort_keys=True)
    return cells


def cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
