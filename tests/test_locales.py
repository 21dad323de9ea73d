"""Every locale is complete: same keys and same placeholders as English; every key the code uses exists."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

import promptmgr
from promptmgr.i18n import LOCALES_DIR, SUPPORTED_LOCALES, t

PLACEHOLDER = re.compile(r"%\{(\w+)\}")
NAMESPACES = sorted(p.name.split(".")[0] for p in LOCALES_DIR.glob("*.en.yml"))


def flatten(data, prefix=""):
    items = {}
    for key, value in (data or {}).items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            items.update(flatten(value, path + "."))
        else:
            items[path] = str(value)
    return items


def load(namespace, locale):
    path = LOCALES_DIR / f"{namespace}.{locale}.yml"
    assert path.exists(), f"missing {path.name}"
    return flatten(yaml.safe_load(path.read_text(encoding="utf-8")))


@pytest.mark.parametrize("locale", [loc for loc in SUPPORTED_LOCALES if loc != "en"])
@pytest.mark.parametrize("namespace", NAMESPACES)
def test_locale_has_every_key_with_the_same_placeholders(namespace, locale):
    english, other = load(namespace, "en"), load(namespace, locale)
    assert sorted(set(english) - set(other)) == [], "untranslated keys"
    assert sorted(set(other) - set(english)) == [], "keys English does not have"
    for key, text in english.items():
        assert set(PLACEHOLDER.findall(other[key])) == set(PLACEHOLDER.findall(text)), key
        assert other[key].strip(), key


def keys_used_in_code():
    """String literals in promptmgr/ shaped like '<namespace>.<key>'."""
    pattern = re.compile(rf"^({'|'.join(NAMESPACES)})\.[a-z0-9_]+(\.[a-z0-9_]+)*$")
    used = set()
    for path in Path(promptmgr.__file__).parent.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        # Pieces of f-strings are prefixes of keys, not keys.
        pieces = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in pieces
                    and pattern.match(node.value)):
                used.add((node.value, path.name))
    return sorted(used)


def test_every_key_used_in_code_has_english_text():
    english = {f"{ns}.{key}" for ns in NAMESPACES for key in load(ns, "en")}
    missing = [f"{key} ({where})" for key, where in keys_used_in_code() if key not in english]
    assert missing == []


def test_translation_is_per_call_not_global():
    assert t("errors.forbidden", "de") != t("errors.forbidden", "en")
    assert t("errors.forbidden", "en") == t("errors.forbidden", None)
