"""Translations from locales/<namespace>.<locale>.yml through python-i18n.

The locale is passed on every call (python-i18n keeps a global locale, wrong under threads). A
namespace's file is read on its first use, so a command loads only the namespaces it prints from.
The folder ships inside the wheel (see promptmgr/resources.py)."""
from __future__ import annotations

from functools import lru_cache

from .resources import locales_dir

LOCALES_DIR = locales_dir()
SUPPORTED_LOCALES = ("en", "es", "fr", "de", "zh", "ja", "pt", "ru", "ar")
RTL_LOCALES = frozenset({"ar"})
LANGUAGE_NAMES = {
    "en": "English", "es": "Español", "fr": "Français", "de": "Deutsch", "zh": "中文",
    "ja": "日本語", "pt": "Português", "ru": "Русский", "ar": "العربية",
}


def _safe_yaml_loader():
    """python-i18n's YAML loader with the safe C parser: its own uses the pure-Python FullLoader,
    ten times slower on every start and able to build more than plain data."""
    import yaml
    from i18n.loaders.loader import I18nFileLoadError, Loader

    parser = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class SafeYamlLoader(Loader):
        def parse_file(self, file_content):
            try:
                return yaml.load(file_content, Loader=parser)  # noqa: S506 (a safe loader)
            except yaml.YAMLError as exc:
                raise I18nFileLoadError(f"invalid YAML: {exc}") from None

    return SafeYamlLoader


@lru_cache(maxsize=1)
def _i18n():
    import i18n
    from i18n.resource_loader import register_loader

    i18n.set("file_format", "yml")
    i18n.set("filename_format", "{namespace}.{locale}.{format}")
    i18n.set("skip_locale_root_data", True)
    i18n.set("fallback", "en")
    i18n.set("enable_memoization", True)
    i18n.set("error_on_missing_translation", False)
    register_loader(_safe_yaml_loader(), ["yml", "yaml"])
    i18n.load_path.append(str(LOCALES_DIR))
    return i18n


def normalize_locale(value: str | None) -> str | None:
    """'de-DE,de;q=0.9' -> 'de'; unknown languages -> None."""
    if not value:
        return None
    for part in value.replace("_", "-").split(","):
        code = part.split(";")[0].strip().split("-")[0].lower()
        if code in SUPPORTED_LOCALES:
            return code
    return None


def t(key: str, locale: str | None = "en", **params) -> str:
    return _i18n().t(key, locale=normalize_locale(locale) or "en", **params)


def is_rtl(locale: str | None) -> bool:
    return normalize_locale(locale) in RTL_LOCALES
