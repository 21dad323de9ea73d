"""An experiment written back as a promptfoo config that `promptfoo eval -c FILE` runs: prompts inline
(labelled PROMPT@VERSION), one provider per model, the dataset rows as tests with vars and assert."""
from __future__ import annotations

import json
from typing import Iterable

from ..errors import ValidationError
from .promptfoo import EXPECTED_TYPES, PARAMS, PREFIXES, _base, _fields
from .spec import CheckSpec


def _provider_entry(model: str, params: dict, providers: dict, kept: dict | None) -> dict:
    config = {key: value for key, value in (params or {}).items() if key in PARAMS.values()}
    prefix, sep, rest = model.partition("/")
    if sep and prefix in providers:
        return {"id": f"openai:chat:{rest}",
                "config": {"apiBaseUrl": _base(providers[prefix].base_url) + "/v1", **config}}
    if kept is not None:  # the entry this model was imported from
        entry = {"id": kept} if isinstance(kept, str) else dict(kept)
        if config:
            entry["config"] = {**(entry.get("config") or {}), **config}
        return entry
    back = {value.rstrip("/"): key for key, value in PREFIXES.items() if value}
    if not sep:
        ident = f"openai:chat:{model}"
    elif prefix in back:
        mode = {"openai": "chat:", "ollama": "chat:", "anthropic": "messages:"}.get(back[prefix], "")
        ident = f"{back[prefix]}:{mode}{rest}"
    else:
        raise ValidationError("results.pf_export_model", model=model)
    return {"id": ident, **({"config": config} if config else {})}


def _raw_prompt(content) -> str:
    if isinstance(content, str):
        return content
    messages = []
    for message in content:
        parts = message.get("content")
        if isinstance(parts, list):
            if any(isinstance(p, dict) and p.get("type") not in (None, "text") for p in parts):
                raise ValidationError("results.pf_export_images")
            parts = "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in parts)
        messages.append({"role": message.get("role"), "content": parts})
    return json.dumps(messages, ensure_ascii=False, indent=2)


def export_config(experiment, variants, prompts: dict, rows: Iterable, providers: dict) -> dict:
    """A promptfoo config for `experiment`: prompts inline (labelled PROMPT@VERSION), one provider per
    model, and the dataset rows as tests. Checks go to defaultTest, or into each test when a check
    reads the row's `expected`."""
    from . import checks

    specs = [CheckSpec.from_dict(check) for check in experiment.checks or []]
    kept = (experiment.config or {}).get("promptfoo_providers") or {}
    labels, entries = [], []
    for variant in variants:
        label = f"{variant.prompt_name}@{variant.version_number}"
        if label not in labels:
            labels.append(label)
            entries.append({"raw": _raw_prompt(prompts[(variant.prompt_name, variant.version_number)]),
                            "label": label})
    provider_entries, seen = [], set()
    for variant in variants:
        if variant.model not in seen:
            seen.add(variant.model)
            provider_entries.append(_provider_entry(variant.model, variant.params, providers, kept.get(variant.model)))
    per_row = any(spec.value is None and spec.type in EXPECTED_TYPES for spec in specs)
    tests = []
    for variables, expected, meta in rows:
        test: dict = {"vars": variables or {}}
        if isinstance(meta, dict) and isinstance(meta.get("description"), str):
            test["description"] = meta["description"]
        if per_row:
            test["assert"] = [checks.to_promptfoo(spec if spec.value is not None or spec.type not in EXPECTED_TYPES
                                                  else CheckSpec(**{**_fields(spec), "value": expected}))
                              for spec in specs]
        tests.append(test)
    config: dict = {"description": experiment.description or experiment.name, "prompts": entries,
                    "providers": provider_entries}
    default: dict = {}
    if specs and not per_row:
        default["assert"] = [checks.to_promptfoo(spec) for spec in specs]
    if experiment.threshold is not None:
        default["threshold"] = experiment.threshold
    if default:
        config["defaultTest"] = default
    config["tests"] = tests
    options = {}
    if experiment.repeats and experiment.repeats > 1:
        options["repeat"] = experiment.repeats
    if experiment.concurrency:
        options["maxConcurrency"] = experiment.concurrency
    if options:
        config["evaluateOptions"] = options
    return config


def dump_config(config: dict) -> str:
    from ..services.transfer import dump_document

    return dump_document(config, "yaml")

