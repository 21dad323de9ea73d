"""promptfoo configs (promptfooconfig.yaml) read into an import plan, and experiments written back.

Reading validates everything and writes nothing: every unsupported part (assert types, providers,
prompt files, config keys) is collected and reported in ONE error, so a user fixes the config once.
Files named with `file://` must stay inside the config's folder (resolved, symlinks included), and
every file, list and the YAML alias expansion is bounded."""
from __future__ import annotations

import csv
import io
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ValidationError
from .spec import CheckSpec

MAX_PROMPTS = 100
MAX_PROVIDERS = 50
MAX_ROWS = 100_000
MAX_FILES = 1_000
FILE = "file://"
# Check types whose value may differ per test: the per-test value is stored as the row's `expected`
# and the check keeps no value (the checks use `expected` then, as promptfoo's `__expected` column).
EXPECTED_TYPES = frozenset({"equals", "contains", "icontains", "starts-with", "levenshtein", "rouge-n", "factuality"})
TOP_LEVEL = {"prompts", "providers", "targets", "tests", "defaultTest", "evaluateOptions", "description"}
# Keys that change nothing about what runs or how it is judged.
IGNORED_TOP_LEVEL = {"$schema", "sharing", "outputPath", "writeLatestResults", "tags", "metadata", "env"}
TEST_KEYS = {"vars", "assert", "description", "threshold", "metadata", "options"}
PARAMS = {"temperature": "temperature", "max_tokens": "max_tokens", "top_p": "top_p", "seed": "seed",
          "stop": "stop"}
# promptfoo provider prefixes -> litellm's (a model name with no prefix is OpenAI's in litellm).
PREFIXES = {"openai": "", "anthropic": "anthropic/", "ollama": "ollama/", "mistral": "mistral/", "groq": "groq/",
            "openrouter": "openrouter/", "deepseek": "deepseek/", "togetherai": "together_ai/",
            "perplexity": "perplexity/", "xai": "xai/", "cohere": "cohere/"}
MODES = {"chat", "completion", "messages"}
_CSV_EXPECTED = re.compile(r"^(not-)?([a-z][a-z0-9-]*)(?:\((-?[\d.]+)\))?:\s?(.*)$", re.DOTALL)


@dataclass
class PlannedPrompt:
    content: str | None          # a text prompt
    messages: list | None        # a chat prompt (our message format)
    label: str | None            # promptfoo's label, used to name a new library prompt
    origin: str                  # where it came from, for messages


@dataclass
class Plan:
    description: str
    prompts: list[PlannedPrompt]
    models: list[str]
    provider_ids: dict[str, Any]     # model -> the promptfoo provider entry it came from (kept for export)
    params: dict
    rows: list[dict]                 # {"vars", "expected", "metadata"}
    checks: list[CheckSpec]
    threshold: float | None = None
    repeats: int = 1
    concurrency: int | None = None
    unsupported: list[str] = field(default_factory=list)


class Folder:
    """The config's folder: every `file://` reference resolves inside it or is refused."""

    def __init__(self, config_path: Path):
        self.base = config_path.resolve().parent
        self.files = 0

    def path(self, ref: str) -> Path:
        raw = ref[len(FILE):] if ref.startswith(FILE) else ref
        if not raw or "\x00" in raw:
            raise ValidationError("results.pf_bad_path", path=ref[:200])
        candidate = Path(raw)
        resolved = (candidate if candidate.is_absolute() else self.base / candidate).resolve()
        if not resolved.is_relative_to(self.base):
            raise ValidationError("results.pf_path_escape", path=ref[:200])
        return resolved

    def read(self, ref: str) -> str:
        from ..services.transfer import check_document_size

        self.files += 1
        if self.files > MAX_FILES:
            raise ValidationError("limits.too_many", field_key="results.files_field", limit=MAX_FILES)
        path = self.path(ref)
        try:
            check_document_size(path.stat().st_size)
            return path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ValidationError("cli.not_text", path=ref[:200]) from None
        except OSError as exc:
            raise ValidationError("cli.cannot_read", path=ref[:200], detail=exc.strerror or str(exc)) from None


def load_structured(text: str, where: str):
    """JSON or YAML through the guarded safe loader (alias bombs refused)."""
    from ..services.transfer import check_document_size, safe_yaml_load

    check_document_size(len(text.encode("utf-8", "surrogatepass")))
    try:
        return safe_yaml_load(text)
    except ValidationError:
        raise
    except RecursionError:
        raise ValidationError("limits.document_nesting") from None
    except Exception as exc:  # noqa: BLE001 — any parser error is the file's problem
        raise ValidationError("cli.bad_structured", path=where, detail=(str(exc).splitlines() or [""])[0]) from None


def load_config(path: Path) -> tuple[dict, Folder]:
    folder = Folder(path)
    try:
        from ..services.transfer import check_document_size

        check_document_size(path.stat().st_size)
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValidationError("cli.not_text", path=str(path)) from None
    except OSError as exc:
        raise ValidationError("cli.cannot_read", path=str(path), detail=exc.strerror or str(exc)) from None
    config = load_structured(text, str(path))
    if not isinstance(config, dict):
        raise ValidationError("results.pf_not_config", path=str(path))
    return config, folder


# --- prompts ----------------------------------------------------------------------------------
def _chat(data) -> list | None:
    """promptfoo chat messages ([{role, content}]) in our format, or None when `data` is not that."""
    if not isinstance(data, list) or not data:
        return None
    messages = []
    for item in data:
        if not isinstance(item, dict) or item.get("role") not in ("system", "user", "assistant") \
                or not isinstance(item.get("content"), str):
            return None
        messages.append({"role": item["role"], "content": [{"type": "text", "text": item["content"]}]})
    return messages


def _inline(text: str, label: str | None, origin: str) -> PlannedPrompt:
    stripped = text.strip()
    if stripped.startswith("[") and stripped.endswith("]"):
        try:
            messages = _chat(json.loads(stripped))
        except ValueError:
            messages = None
        if messages:
            return PlannedPrompt(None, messages, label, origin)
    return PlannedPrompt(text, None, label, origin)


def _prompt_file(ref: str, label: str | None, folder: Folder, unsupported: list[str]) -> list[PlannedPrompt]:
    if any(ch in ref for ch in "*?[") or re.search(r"\.(py|js|ts|mjs|cjs)(:\w+)?$", ref):
        unsupported.append(f"prompt {ref}")
        return []
    suffix = folder.path(ref).suffix.lower()
    text = folder.read(ref)
    if suffix in (".json", ".yaml", ".yml"):
        try:
            messages = _chat(json.loads(text) if suffix == ".json" else load_structured(text, ref))
        except ValueError:  # JSON that is only valid once rendered (promptfoo renders first)
            messages = None
        if messages is None:
            unsupported.append(f"prompt {ref} (not a list of chat messages before rendering)")
            return []
        return [PlannedPrompt(None, messages, label, ref)]
    if suffix in ("", ".txt", ".md", ".j2", ".njk", ".prompt", ".jinja", ".jinja2"):
        # promptfoo: a text file holds several prompts separated by a line of three dashes.
        parts = [part.strip() for part in re.split(r"\n-{3,}\n", text)] if "\n---" in text else [text.strip()]
        return [PlannedPrompt(part, None, label if len(parts) == 1 else None, ref) for part in parts if part.strip()]
    unsupported.append(f"prompt {ref}")
    return []


def parse_prompts(raw, folder: Folder, unsupported: list[str]) -> list[PlannedPrompt]:
    if isinstance(raw, dict) and not ("raw" in raw or "id" in raw):  # promptfoo's old {path: label} mapping
        raw = [{"id": key, "label": value} for key, value in raw.items()]
    elif isinstance(raw, (str, dict)):  # a single prompt
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise ValidationError("results.pf_no_prompts")
    if len(raw) > MAX_PROMPTS:
        raise ValidationError("limits.too_many", field_key="results.prompts_field", limit=MAX_PROMPTS)
    prompts: list[PlannedPrompt] = []
    for index, item in enumerate(raw):
        label = None
        if isinstance(item, dict):
            label = item.get("label") if isinstance(item.get("label"), str) else None
            if isinstance(item.get("raw"), str):
                prompts.append(_inline(item["raw"], label, f"prompts[{index}]"))
                continue
            item = item.get("id")
        if not isinstance(item, str):
            unsupported.append(f"prompts[{index}]")
        elif item.startswith(FILE):
            prompts.extend(_prompt_file(item, label, folder, unsupported))
        else:
            prompts.append(_inline(item, label, f"prompts[{index}]"))
    return prompts


# --- providers --------------------------------------------------------------------------------
def _base(url: str) -> str:
    url = url.strip().rstrip("/")
    return url[:-3] if url.endswith("/v1") else url


def parse_providers(raw, configured: dict[str, str], unsupported: list[str]) -> tuple[list[str], dict, dict]:
    """Models (our model strings), the provider entry each came from, and the shared parameters.
    `configured` maps a configured provider's base URL to its name."""
    if isinstance(raw, (str, dict)) and not (isinstance(raw, dict) and "id" in raw):
        raw = [raw] if isinstance(raw, str) else [{"id": key, **(value or {})} for key, value in raw.items()]
    if not isinstance(raw, list) or not raw:
        raise ValidationError("results.pf_no_providers")
    if len(raw) > MAX_PROVIDERS:
        raise ValidationError("limits.too_many", field_key="results.providers_field", limit=MAX_PROVIDERS)
    by_base = {_base(url): name for url, name in configured.items()}
    models, origins, params_seen = [], {}, []
    for index, entry in enumerate(raw):
        if isinstance(entry, dict) and len(entry) == 1 and "id" not in entry:
            (key, value), = entry.items()
            entry = {"id": key, **(value if isinstance(value, dict) else {})}
        spec = entry if isinstance(entry, dict) else {"id": entry}
        ident = spec.get("id")
        if not isinstance(ident, str) or not ident:
            unsupported.append(f"providers[{index}]")
            continue
        config = spec.get("config") or {}
        if not isinstance(config, dict):
            unsupported.append(f"provider {ident} config")
            continue
        prefix, _, rest = ident.partition(":")
        head, _, tail = rest.partition(":")
        name = tail if head in MODES and tail else rest
        if prefix not in PREFIXES or not name:  # a colon may stay in the name: ollama's llama3:8b
            unsupported.append(f"provider {ident}")
            continue
        base = config.get("apiBaseUrl") or config.get("apiHost")
        if base is not None:
            base = str(base) if "://" in str(base) else f"https://{base}"
            provider = by_base.get(_base(base))
            if provider is None:
                raise ValidationError("results.pf_unknown_provider", provider=ident[:200], url=_masked(base))
            model = f"{provider}/{name}"
        else:
            model = f"{PREFIXES[prefix]}{name}"
        params = {}
        for key, value in config.items():
            if key in ("apiBaseUrl", "apiHost"):
                continue
            if key in PARAMS:
                params[PARAMS[key]] = value
            else:
                unsupported.append(f"provider {ident} config.{key}")
        params_seen.append(params)
        if model not in origins:
            models.append(model)
            # Kept for export without its config: parameters live on the variants, and a base URL
            # (which may carry credentials) is the configured provider's.
            origins[model] = {"id": ident, **({"label": spec["label"]} if isinstance(spec.get("label"), str) else {})}
    if params_seen and any(p != params_seen[0] for p in params_seen):
        unsupported.append("providers with different config parameters")
    return models, origins, params_seen[0] if params_seen else {}


def _masked(url: str) -> str:
    from ..secrets import mask_url

    return mask_url(url)[:300]


# --- tests ------------------------------------------------------------------------------------
def _csv_assertion(text: str) -> dict:
    """promptfoo's `__expected` cell: `TYPE: value`, `not-TYPE: value`, `TYPE(threshold): value`,
    `grade: rubric` or a plain value (equals)."""
    match = _CSV_EXPECTED.match(text)
    if match:
        negate, kind, threshold, value = match.groups()
        kind = {"grade": "llm-rubric", "fn": "javascript", "eval": "javascript"}.get(kind, kind)
        assertion = {"type": f"{negate or ''}{kind}", "value": value}
        if threshold is not None:
            assertion["threshold"] = float(threshold)
        return assertion
    return {"type": "equals", "value": text}


def _csv_tests(text: str, ref: str, unsupported: list[str]) -> list[dict]:
    tests = []
    reader = csv.DictReader(io.StringIO(text))
    for row in reader:
        if len(tests) >= MAX_ROWS:
            raise ValidationError("limits.too_many", field_key="results.tests_field", limit=MAX_ROWS)
        test: dict = {"vars": {}, "assert": []}
        for key, value in row.items():
            if key is None:
                continue
            value = value if value is not None else ""
            if key.startswith("__expected"):
                if value.strip():
                    test["assert"].append(_csv_assertion(value))
            elif key == "__description":
                test["description"] = value
            elif key == "__metric":
                test["metric"] = value
            elif key == "__threshold":
                test["threshold"] = float(value) if value.strip() else None
            elif key.startswith("__"):
                unsupported.append(f"{ref} column {key}")
            else:
                test["vars"][key] = value
        if test.get("metric"):
            for assertion in test["assert"]:
                assertion["metric"] = test["metric"]
        tests.append(test)
    return tests


def _test_file(ref: str, folder: Folder, unsupported: list[str]) -> list:
    if any(ch in ref for ch in "*?["):
        unsupported.append(f"tests {ref}")
        return []
    suffix = folder.path(ref).suffix.lower()
    text = folder.read(ref)
    if suffix == ".csv":
        return _csv_tests(text, ref, unsupported)
    if suffix == ".jsonl":
        return [load_structured(line, ref) for line in text.splitlines() if line.strip()]
    if suffix in (".json", ".yaml", ".yml"):
        data = load_structured(text, ref)
        return data if isinstance(data, list) else [data]
    unsupported.append(f"tests {ref}")
    return []


def _vars(raw, folder: Folder, where: str, unsupported: list[str]) -> dict:
    if raw is None:
        return {}
    if isinstance(raw, str) and raw.startswith(FILE):
        raw = load_structured(folder.read(raw), raw)
    if not isinstance(raw, dict):
        raise ValidationError("results.pf_bad_vars", where=where)
    result = {}
    for key, value in raw.items():
        if isinstance(value, str) and value.startswith(FILE):
            if folder.path(value).suffix.lower() not in ("", ".txt", ".md", ".json", ".yaml", ".yml", ".csv"):
                unsupported.append(f"{where}.vars.{key} {value}")
                continue
            value = folder.read(value)
        result[str(key)] = value
    return result


def _expand(variables: dict) -> list[dict]:
    """promptfoo runs a test once per combination of the values of its list-valued vars."""
    lists = {key: value for key, value in variables.items() if isinstance(value, list)}
    if not lists:
        return [variables]
    keys = list(lists)
    combos = itertools.islice(itertools.product(*(lists[k] for k in keys)), MAX_ROWS + 1)
    return [{**variables, **dict(zip(keys, combo))} for combo in combos]


def _spec(assertion, where: str, unsupported: list[str]) -> CheckSpec | None:
    from . import checks

    if not isinstance(assertion, dict) or not isinstance(assertion.get("type"), str):
        unsupported.append(f"{where} (an assert needs a type)")
        return None
    try:
        return checks.from_promptfoo(assertion)
    except ValidationError as exc:
        if exc.message_key == "evaluation.unsupported":
            unsupported.append(f"assert {assertion['type']}")
            return None
        if exc.message_key == "evaluation.unsupported_option":
            unsupported.append(f"assert {assertion['type']} {exc.params.get('option')}")
            return None
        raise ValidationError("results.pf_at", where=where, detail=exc) from None


def parse_tests(config: dict, folder: Folder, unsupported: list[str]) -> tuple[list[dict], list[CheckSpec], Any]:
    default = config.get("defaultTest") or {}
    if isinstance(default, str) and default.startswith(FILE):
        default = load_structured(folder.read(default), default)
    if not isinstance(default, dict):
        raise ValidationError("results.pf_bad_test", where="defaultTest")
    raw = config.get("tests")
    raw = [] if raw is None else ([raw] if isinstance(raw, (str, dict)) else raw)
    if not isinstance(raw, list):
        raise ValidationError("results.pf_bad_test", where="tests")
    tests = []
    for item in raw:
        tests.extend(_test_file(item, folder, unsupported) if isinstance(item, str) else [item])
        if len(tests) > MAX_ROWS:
            raise ValidationError("limits.too_many", field_key="results.tests_field", limit=MAX_ROWS)
    if not tests:
        tests = [{}]  # promptfoo runs every prompt once with no variables
    for key in set(default) - TEST_KEYS:
        unsupported.append(f"defaultTest.{key}")
    default_vars = _vars(default.get("vars"), folder, "defaultTest", unsupported)
    default_asserts = default.get("assert") or []
    rows, per_test, thresholds = [], [], set()
    for index, test in enumerate(tests):
        where = f"tests[{index}]"
        if not isinstance(test, dict):
            raise ValidationError("results.pf_bad_test", where=where)
        for key in set(test) - TEST_KEYS - {"metric"}:
            unsupported.append(f"{where}.{key}")
        if test.get("options") or default.get("options"):
            unsupported.append(f"{where}.options")
        asserts = list(default_asserts) + list(test.get("assert") or [])
        specs = [_spec(a, f"{where}.assert[{i}]", unsupported) for i, a in enumerate(asserts)]
        thresholds.add(test.get("threshold", default.get("threshold")))
        variables = {**default_vars, **_vars(test.get("vars"), folder, where, unsupported)}
        description = test.get("description")
        for expanded in _expand(variables):
            rows.append({"vars": dict(expanded), "expected": None,
                         "metadata": {"description": str(description)} if description else {}})
            per_test.append(specs)
            if len(rows) > MAX_ROWS:
                raise ValidationError("limits.too_many", field_key="results.tests_field", limit=MAX_ROWS)
    if len(thresholds) > 1:
        unsupported.append("tests with different thresholds")
    return rows, _columns(rows, per_test, unsupported), next(iter(thresholds)) if len(thresholds) == 1 else None


def _columns(rows: list[dict], per_test: list[list], unsupported: list[str]) -> list[CheckSpec]:
    """Per-test assert lists as the experiment's one list of checks (ours belong to the experiment).
    A check whose value differs between tests must be of a type that compares with a reference: the
    first such check reads the row's `expected` (its value left empty), any other reads a variable
    `pf_expected_N` of the row through a templated value, which promptfoo renders the same way."""
    if any(spec is None for specs in per_test for spec in specs):
        return []  # unsupported asserts are already named; nothing is built
    shapes = [tuple((s.type, s.negate, s.weight, s.threshold, s.metric) for s in specs) for specs in per_test]
    other = next((i for i, shape in enumerate(shapes) if shape != shapes[0]), None)
    if other is not None:
        def kinds(i: int) -> str:
            return ", ".join(("not-" if s.negate else "") + s.type for s in per_test[i]) or "none"

        unsupported.append(f"tests with different kinds of assert (row 1: {kinds(0)}; row {other + 1}: {kinds(other)})")
        return []
    first = list(per_test[0])
    varying = [i for i in range(len(first)) if any(specs[i].value != first[i].value for specs in per_test)]
    bad = [first[i].type for n, i in enumerate(varying) if first[i].type not in EXPECTED_TYPES
           or (n > 0 and any(not isinstance(specs[i].value, str) for specs in per_test))]
    if bad:
        unsupported.append("assert values that differ between tests (" + ", ".join(dict.fromkeys(bad)) + ")")
        return []
    for n, slot in enumerate(varying):
        var = f"pf_expected_{slot + 1}"
        for row, specs in zip(rows, per_test):
            value = specs[slot].value
            if n == 0:
                row["expected"] = value if isinstance(value, str) or value is None else json.dumps(value)
            else:
                row["vars"][var] = value
        first[slot] = CheckSpec(**{**_fields(first[slot]), "value": None if n == 0 else "{{ " + var + " }}"})
    return first


def _fields(spec: CheckSpec) -> dict:
    return {"type": spec.type, "value": spec.value, "negate": spec.negate, "weight": spec.weight,
            "threshold": spec.threshold, "metric": spec.metric}


def plan(config: dict, folder: Folder, configured: dict[str, str]) -> Plan:
    """The whole import, validated. Raises ValidationError: `results.pf_unsupported` names every
    unsupported part at once; anything else (a bad regex, an unsafe path) names its place."""
    unsupported: list[str] = []
    for key in config:
        if key not in TOP_LEVEL and key not in IGNORED_TOP_LEVEL:
            unsupported.append(f"key {key}")
    prompts = parse_prompts(config.get("prompts"), folder, unsupported)
    models, origins, params = parse_providers(config.get("providers", config.get("targets")), configured,
                                              unsupported)
    rows, checks_, threshold = parse_tests(config, folder, unsupported)
    options = config.get("evaluateOptions") or {}
    repeats, concurrency = options.get("repeat", 1), options.get("maxConcurrency")
    if type(repeats) is not int or not 1 <= repeats <= 100:
        unsupported.append("evaluateOptions.repeat")
    if concurrency is not None and (type(concurrency) is not int or concurrency < 1):
        unsupported.append("evaluateOptions.maxConcurrency")
    if unsupported:
        raise ValidationError("results.pf_unsupported", items="; ".join(dict.fromkeys(unsupported)))
    if not prompts:
        raise ValidationError("results.pf_no_prompts")
    description = config.get("description")
    return Plan(description=description if isinstance(description, str) else "", prompts=prompts, models=models,
                provider_ids=origins, params=params, rows=rows, checks=checks_,
                threshold=float(threshold) if isinstance(threshold, (int, float)) else None,
                repeats=repeats, concurrency=concurrency)
