"""Errors the core raises. Each carries a message key in locales/ and its parameters;
interfaces translate them (CLI, UI, API) in one place each."""
from __future__ import annotations


class PromptMgrError(Exception):
    code = "error"
    message_key = "errors.generic"

    def __init__(self, message_key: str | None = None, **params):
        self.message_key = message_key or self.message_key
        self.params = params
        super().__init__(f"{self.message_key} {params}" if params else self.message_key)

    def translate(self, locale: str = "en") -> str:
        from .i18n import t

        params = dict(self.params)
        if "what" in params:  # the kind of thing: a key under errors.what, translated too
            params["what"] = t(f"errors.what.{params['what']}", locale)
        for name, key in self.params.items():  # NAME_key=KEY: a phrase translated into %{NAME}
            if name.endswith("_key"):
                params[name[:-4]] = t(key, locale)
            elif isinstance(key, PromptMgrError):  # a nested cause, e.g. what is wrong with one import entry
                params[name] = key.translate(locale)
        return t(self.message_key, locale, **params)


class NotFoundError(PromptMgrError):
    code = "not_found"
    message_key = "errors.not_found"


class DuplicateError(PromptMgrError):
    code = "duplicate"
    message_key = "errors.duplicate"


class ConflictError(PromptMgrError):
    code = "conflict"
    message_key = "errors.conflict"


class ValidationError(PromptMgrError):
    code = "invalid"
    message_key = "errors.invalid"


class PermissionDeniedError(PromptMgrError):
    code = "forbidden"
    message_key = "errors.forbidden"


class AuthenticationError(PromptMgrError):
    """Hosted mode: no valid session, or login refused (one generic message for every reason)."""

    code = "unauthenticated"
    message_key = "auth.wrong_credentials"


class LockedOutError(AuthenticationError):
    """Too many failed logins for an account or an address: try again after `seconds`."""

    code = "locked"
    message_key = "auth.locked"


class TemplateError(ValidationError):
    code = "template"
    message_key = "errors.template_syntax"


class DatabaseUnavailableError(PromptMgrError):
    """The database cannot be used as it is: damaged, or made by a newer promptmgr."""

    code = "database"
    message_key = "db.unavailable"


class ProviderError(PromptMgrError):
    """A model call failed in a way the user can act on (bad key, unknown model, unreachable...)."""

    code = "provider"
    message_key = "errors.provider"


class RateLimitedError(ProviderError):
    code = "rate_limited"
    message_key = "errors.rate_limited"
