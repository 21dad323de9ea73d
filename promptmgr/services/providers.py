"""Model providers: stored endpoints with encrypted keys, price overrides, the default model, and
resolving what a user typed ("NAME/MODEL", "local/smollm2", any litellm model) into a ModelTarget.

Nothing here contacts a provider except test_connection(), which the user asks for explicitly."""
from __future__ import annotations

import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.exc import IntegrityError

from ..context import TenantContext
from ..db import Database
from ..errors import DuplicateError, NotFoundError, ValidationError
from ..llm import local as local_model
from ..llm.cache import credential_identity
from ..llm.gateway import Gateway, ModelTarget
from ..llm.local import LOCAL_MODEL_NAME
from ..models import PriceOverride, Provider
from ..policy import Action, require
from ..repositories import ProviderRepository
from ..schemas import NAME_RE
from ..llm.schemas import (PROVIDER_KINDS, ConnectionTest, DefaultModelStatus, DiscoveredModels, ModelInfoPublic,
                           ModelsOverview, PricePublic, ProviderPublic)
from ..secrets import SecretBox, environment_secrets, mask_url, remember_secrets, url_secrets
from .admin import AdminService
from .audit import record as audit
from .base import unit_of_work

log = logging.getLogger(__name__)

# The litellm route prefix of each provider kind (models are sent as "<prefix>/MODEL").
_KIND_PREFIX = {"openai_compatible": "openai", "ollama": "ollama_chat", "lm_studio": "lm_studio",
                "vllm": "hosted_vllm"}
_URL_RE = re.compile(r"^https?://[^\s/]+(/\S*)?$", re.IGNORECASE)
_MODEL_RE = re.compile(r"^\S{1,200}$")
# Names that already mean something in a model string.
_RESERVED_NAMES = frozenset({"local"})
_PREFERENCE = "default_model"
_TEST_TIMEOUT = 10.0
_DISCOVERY_WORKERS = 8
_PRICE_FIELDS = {"input_per_1k", "output_per_1k", "context_window"}


def _per_token(value: float | None, field: str) -> float:
    try:
        number = float(value if value is not None else 0.0)
    except (TypeError, ValueError):
        raise ValidationError("providers.bad_price", field=field, value=str(value)) from None
    if number < 0 or number != number or number == float("inf"):
        raise ValidationError("providers.bad_price", field=field, value=str(value))
    return number / 1000.0


def _price_public(row: PriceOverride) -> PricePublic:
    return PricePublic(model=row.model, input_cost_per_token=row.input_cost_per_token,
                       output_cost_per_token=row.output_cost_per_token,
                       input_per_1k=row.input_cost_per_token * 1000, output_per_1k=row.output_cost_per_token * 1000,
                       context_window=row.context_window)


class ProviderService:
    def __init__(self, db: Database, secrets: SecretBox, gateway: Gateway, admin: AdminService,
                 default_model: str | None = None):
        self.db = db
        self.secrets = secrets
        self.gateway = gateway
        self.admin = admin
        self.settings_default_model = default_model or None

    def _repo(self, ctx: TenantContext, write: bool = False):
        return unit_of_work(self.db, ctx, ProviderRepository, write=write)

    # --- providers -----------------------------------------------------------------------
    def add(self, ctx: TenantContext, name: str, base_url: str, kind: str = "openai_compatible",
            api_key: str | None = None) -> ProviderPublic:
        """Store a provider (its key encrypted). Raises ValidationError, DuplicateError, PermissionDeniedError."""
        require(ctx, Action.MANAGE_PROVIDERS)
        name = (name or "").strip()
        if not NAME_RE.match(name) or name in _RESERVED_NAMES:
            raise ValidationError("providers.bad_name", name=name)
        if kind not in PROVIDER_KINDS:
            raise ValidationError("providers.bad_kind", kind=kind, allowed=", ".join(PROVIDER_KINDS))
        base_url = (base_url or "").strip().rstrip("/")
        if not _URL_RE.match(base_url):
            raise ValidationError("providers.bad_url", url=mask_url(base_url))
        api_key = (api_key or "").strip() or None
        remember_secrets(api_key, *url_secrets(base_url))
        try:
            with self._repo(ctx, write=True) as repo:
                if repo.get(name) is not None:
                    raise DuplicateError("providers.duplicate", name=name)
                for other in repo.list():
                    self.secrets.adopt_salt(other.api_key_encrypted)
                encrypted = self.secrets.encrypt(api_key) if api_key else None
                row = repo.add(Provider(name=name, kind=kind, base_url=base_url, api_key_encrypted=encrypted))
                public = self._public(row)
                # api_key is a secret field: the row says whether one was set, never what it is.
                audit(repo.session, ctx, "provider.add", ("provider", name),
                      after={"kind": kind, "base_url": mask_url(base_url), "api_key": api_key})
        except IntegrityError:  # a concurrent add of the same name won the race
            raise DuplicateError("providers.duplicate", name=name) from None
        log.info("provider added: name=%s kind=%s key=%s", name, kind, "set" if api_key else "none")
        return public

    def list(self, ctx: TenantContext) -> list[ProviderPublic]:
        """The tenant's providers with masked keys and URLs. Raises PermissionDeniedError."""
        require(ctx, Action.READ_MODELS)
        with self._repo(ctx) as repo:
            rows = repo.list()
            public = [self._public(row) for row in rows]
            legacy = [row.name for row in rows if self.secrets.is_legacy(row.api_key_encrypted)]
        self._upgrade_legacy_keys(ctx, legacy)
        return public

    def get(self, ctx: TenantContext, name: str) -> ProviderPublic:
        """Raises NotFoundError, PermissionDeniedError."""
        require(ctx, Action.READ_MODELS)
        with self._repo(ctx) as repo:
            return self._public(self._require(repo, name))

    def remove(self, ctx: TenantContext, name: str) -> None:
        """Delete a provider and its stored key. Raises NotFoundError, PermissionDeniedError."""
        require(ctx, Action.MANAGE_PROVIDERS)
        with self._repo(ctx, write=True) as repo:
            row = self._require(repo, name)
            before = {"kind": row.kind, "base_url": mask_url(row.base_url), "api_key": row.api_key_encrypted}
            repo.delete(row)
            audit(repo.session, ctx, "provider.remove", ("provider", name), before=before)

    def test_connection(self, ctx: TenantContext, name: str) -> ConnectionTest:
        """List the endpoint's models (GET /models); failures are returned as data.

        Raises NotFoundError, PermissionDeniedError."""
        require(ctx, Action.MANAGE_PROVIDERS)
        return self._probe(ctx, self._endpoint(ctx, name))

    def discover_models(self, ctx: TenantContext, names: list[str] | None = None) -> DiscoveredModels:
        """The models each configured provider (or those named) lists at /models, as "NAME/MODEL",
        asked concurrently; unreachable providers are reported as data. Raises PermissionDeniedError."""
        require(ctx, Action.READ_MODELS)
        with self._repo(ctx) as repo:
            rows = [row for row in repo.list() if names is None or row.name in names]
            endpoints = [self._endpoint_of(row) for row in rows]
        found = DiscoveredModels()
        if not endpoints:
            return found
        with ThreadPoolExecutor(max_workers=min(len(endpoints), _DISCOVERY_WORKERS),
                                thread_name_prefix="promptmgr-discover") as pool:
            results = list(pool.map(lambda endpoint: self._probe(ctx, endpoint), endpoints))
        for result in results:
            if result.ok:
                found.models += [f"{result.provider}/{model}" for model in result.models]
            else:
                found.failures.append(result)
        return found

    def _endpoint(self, ctx: TenantContext, name: str) -> tuple[str, str, str, str | None]:
        with self._repo(ctx) as repo:
            return self._endpoint_of(self._require(repo, name))

    def _endpoint_of(self, row: Provider) -> tuple[str, str, str, str | None]:
        api_key = self.secrets.decrypt(row.api_key_encrypted) if row.api_key_encrypted else None
        remember_secrets(api_key, *url_secrets(row.base_url))
        return row.name, row.kind, row.base_url, api_key

    def _probe(self, ctx: TenantContext, endpoint: tuple[str, str, str, str | None]) -> ConnectionTest:
        import httpx

        name, kind, base_url, api_key = endpoint
        url = f"{base_url}/api/tags" if kind == "ollama" else f"{base_url}/models"
        shown_url, shown_base = mask_url(url), mask_url(base_url)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        start = time.perf_counter()
        result = ConnectionTest(provider=name, endpoint=shown_url, ok=False)
        try:
            response = httpx.get(url, headers=headers, timeout=_TEST_TIMEOUT, follow_redirects=False)
        except httpx.TimeoutException:
            self._set_error(result, ctx, "timeout", "llm.timeout", model=name, timeout=f"{_TEST_TIMEOUT:g}")
        except httpx.HTTPError:
            self._set_error(result, ctx, "unreachable", "llm.unreachable", model=name, endpoint=shown_base)
        else:
            result.status_code = response.status_code
            if response.status_code in (401, 403):
                self._set_error(result, ctx, "auth", "llm.auth", model=name)
            elif response.status_code >= 400:
                self._set_error(result, ctx, "http_error", "providers.test_http_error", name=name,
                                status=str(response.status_code), endpoint=shown_url)
            else:
                result.ok = True
                result.models = self._model_ids(response, kind)
        result.latency_ms = (time.perf_counter() - start) * 1000.0
        return result

    @staticmethod
    def _model_ids(response, kind: str) -> list[str]:
        try:
            body = response.json()
        except ValueError:
            return []
        items = body.get("models" if kind == "ollama" else "data") if isinstance(body, dict) else None
        ids = [item.get("name" if kind == "ollama" else "id") for item in items or [] if isinstance(item, dict)]
        return sorted(str(i) for i in ids if i)

    @staticmethod
    def _set_error(result: ConnectionTest, ctx: TenantContext, code: str, key: str, **params) -> None:
        from ..i18n import t

        result.error_code, result.error_key, result.error_params = code, key, params
        result.error = t(key, ctx.locale, **params)

    # --- prices --------------------------------------------------------------------------
    def set_price(self, ctx: TenantContext, model: str, input_per_1k: float | None = 0.0,
                  output_per_1k: float | None = 0.0, context_window: int | None = None) -> PricePublic:
        """Per-model prices (USD per 1000 tokens) and context window. Raises ValidationError, PermissionDeniedError."""
        require(ctx, Action.MANAGE_PRICES)
        model = (model or "").strip()
        if not _MODEL_RE.match(model):
            raise ValidationError("providers.bad_model", model=model)
        if context_window is not None and (not isinstance(context_window, int) or context_window < 1):
            raise ValidationError("providers.bad_context_window", value=str(context_window))
        input_cost, output_cost = _per_token(input_per_1k, "input"), _per_token(output_per_1k, "output")
        with self._repo(ctx, write=True) as repo:
            old = repo.price(model)
            before = None if old is None else _price_public(old).model_dump(include=_PRICE_FIELDS)
            price = _price_public(repo.set_price(model, input_cost, output_cost, context_window))
            audit(repo.session, ctx, "price.set", ("model", model), before, price.model_dump(include=_PRICE_FIELDS))
            return price

    def prices(self, ctx: TenantContext) -> list[PricePublic]:
        """The tenant's price overrides, by model name. Raises PermissionDeniedError."""
        require(ctx, Action.READ_MODELS)
        with self._repo(ctx) as repo:
            return [_price_public(row) for row in repo.prices()]

    def remove_price(self, ctx: TenantContext, model: str) -> None:
        """Raises NotFoundError, PermissionDeniedError."""
        require(ctx, Action.MANAGE_PRICES)
        with self._repo(ctx, write=True) as repo:
            row = repo.price(model)
            if row is None:
                raise NotFoundError(what="price", name=model)
            before = _price_public(row).model_dump(include=_PRICE_FIELDS)
            repo.delete_price(row)
            audit(repo.session, ctx, "price.remove", ("model", model), before=before)

    # --- default model -------------------------------------------------------------------
    def default_model(self, ctx: TenantContext) -> tuple[str | None, str | None]:
        """(model, source): the user's choice, else PROMPTMGR_DEFAULT_MODEL, else the embedded model when
        installed. Raises PermissionDeniedError."""
        require(ctx, Action.READ_MODELS)
        chosen = self.admin.preferences(ctx).get(_PREFERENCE)
        if chosen:
            return chosen, "user"
        if self.settings_default_model:
            return self.settings_default_model, "settings"
        if local_model.is_available():
            return LOCAL_MODEL_NAME, "local"
        return None, None

    def default_status(self, ctx: TenantContext) -> DefaultModelStatus:
        """The default model with a note (a locale key and its params) that reflects what is configured
        right now, e.g. whether providers exist. Raises PermissionDeniedError."""
        require(ctx, Action.READ_MODELS)
        model, source = self.default_model(ctx)
        with self._repo(ctx) as repo:
            names = [row.name for row in repo.list()]
        note = source or "none"
        if source in ("local", None) and names:
            note += "_with_providers"
        return DefaultModelStatus(model=model, source=source, providers=len(names),
                                  note_key=f"providers.default_note.{note}",
                                  note_params={"model": model or "", "count": len(names),
                                               "example": f"{names[0]}/MODEL" if names else ""})

    def set_default_model(self, ctx: TenantContext, model: str | None) -> str | None:
        """Save (or clear with None) the user's default model. Raises ValidationError, PermissionDeniedError."""
        require(ctx, Action.SET_DEFAULT_MODEL)
        model = (model or "").strip() or None
        if model is not None and not _MODEL_RE.match(model):
            raise ValidationError("providers.bad_model", model=model)
        with self.db.session(write=True) as session:
            before = self.admin.apply_preferences(session, ctx, {_PREFERENCE: model}).get(_PREFERENCE)
            audit(session, ctx, "default_model.set", ("user", ctx.user_id), {"model": before}, {"model": model})
        return model

    # --- resolving -----------------------------------------------------------------------
    def resolve(self, ctx: TenantContext, model_string: str | None = None) -> ModelTarget:
        """The ModelTarget for what the user typed (or the default model). Raises ValidationError, PermissionDeniedError."""
        require(ctx, Action.READ_MODELS)
        typed = (model_string or "").strip()
        if not typed:
            typed, _source = self.default_model(ctx)
            if not typed:
                raise ValidationError("providers.no_model")
        if not _MODEL_RE.match(typed):
            raise ValidationError("providers.bad_model", model=typed)
        legacy = []
        with self._repo(ctx) as repo:
            price = repo.price(typed)
            prefix, sep, rest = typed.partition("/")
            # A configured provider wins over a litellm prefix of the same name ("openai/..." can
            # point at the user's own OpenAI-compatible endpoint).
            provider = repo.get(prefix) if sep and rest else None
            if provider is not None:
                _name, _kind, api_base, api_key = self._endpoint_of(provider)
                model = f"{_KIND_PREFIX.get(provider.kind, 'openai')}/{rest}"
                credential = credential_identity(f"provider:{provider.id}", api_key)
                if self.secrets.is_legacy(provider.api_key_encrypted):
                    legacy.append(provider.name)
            else:
                # The embedded model, or a litellm model string as typed (keys from the environment).
                model, api_base, api_key, credential = typed, None, None, "environment"
        self._upgrade_legacy_keys(ctx, legacy)
        return ModelTarget(
            model=model, display_name=typed, api_base=api_base, api_key=api_key,
            input_cost_per_token=price.input_cost_per_token if price else None,
            output_cost_per_token=price.output_cost_per_token if price else None,
            context_window=price.context_window if price else None,
            tenant_id=ctx.tenant_id, credential_id=credential,
        )

    def missing_key(self, ctx: TenantContext, model_string: str) -> list[str]:
        """The environment variables that would hold the key of a hosted model and are not set ([] when
        it can be called: a configured provider, the embedded model, a key present). Imports litellm.

        Raises ValidationError, PermissionDeniedError."""
        return self.gateway.missing_keys(self.resolve(ctx, model_string))

    def run_secrets(self, ctx: TenantContext, targets: list[ModelTarget]) -> list[str]:
        """Every key a run could echo: the keys used, credentials in their URLs, the tenant's stored keys
        and key-like environment variables; stored runs are scrubbed of them. Raises PermissionDeniedError."""
        require(ctx, Action.RUN_MODELS)
        found = [value for target in targets for value in (target.api_key, *url_secrets(target.api_base)) if value]
        with self._repo(ctx) as repo:
            for row in repo.list():
                found += url_secrets(row.base_url)
                if row.api_key_encrypted:
                    try:
                        found.append(self.secrets.decrypt(row.api_key_encrypted))
                    except ValidationError:
                        pass  # unreadable here, so it cannot have been sent either
        found = list(dict.fromkeys(found + environment_secrets()))
        remember_secrets(*found)  # and out of log records from now on
        return found

    # --- overview ------------------------------------------------------------------------
    def overview(self, ctx: TenantContext, search: str | None = None, limit: int | None = None) -> ModelsOverview:
        """Known models (litellm's local price map) with what can be called right now first — the embedded
        model, models of configured providers, models whose key is set — then those needing a key; providers,
        prices and the default. No network. Raises PermissionDeniedError."""
        require(ctx, Action.READ_MODELS)
        status = self.default_status(ctx)
        providers, prices = self.list(ctx), self.prices(ctx)
        needle = (search or "").strip().lower()
        provider_names = {p.name for p in providers}
        ready: list[ModelInfoPublic] = []
        if local_model.is_available():
            ready.append(ModelInfoPublic(name=LOCAL_MODEL_NAME, provider="local", context_window=local_model.N_CTX,
                                         input_cost_per_token=0.0, output_cost_per_token=0.0))
        for price in prices:  # the user's own models: price overrides of their providers' models
            owner = price.model.split("/", 1)[0]
            if "/" in price.model and owner in provider_names:
                ready.append(ModelInfoPublic(name=price.model, provider=owner, context_window=price.context_window,
                                             input_cost_per_token=price.input_cost_per_token,
                                             output_cost_per_token=price.output_cost_per_token, known=False))
        ready = [m for m in ready if not needle or needle in m.name.lower() or needle in (m.provider or "")]
        listed = {m.name for m in ready}
        from ..llm.remote import env_checkable, key_env_vars  # known_models() has loaded litellm already

        missing_by_provider: dict[str | None, list[str]] = {}
        rest: list[ModelInfoPublic] = []
        for m in self.gateway.known_models():
            if m.name in listed or (needle and needle not in m.name.lower() and needle not in (m.provider or "").lower()):
                continue
            if m.provider not in missing_by_provider:
                missing_by_provider[m.provider] = [] if m.provider == "local" else key_env_vars(m.name)
            missing = missing_by_provider[m.provider]
            # Providers whose credentials cannot be checked offline (cloud IAM, device logins) go last too.
            callable_now = m.provider == "local" or (missing == [] and env_checkable(m.provider))
            # model_construct: thousands of rows from litellm's own map need no validation (~10x faster).
            info = ModelInfoPublic.model_construct(name=m.name, provider=m.provider, context_window=m.context_window,
                                                   input_cost_per_token=m.input_cost_per_token,
                                                   output_cost_per_token=m.output_cost_per_token, known=m.known,
                                                   ready=callable_now, missing_keys=list(missing))
            (ready if callable_now else rest).append(info)
        known = ready + rest
        shown = known if limit is None else known[:max(limit, 0)]
        return ModelsOverview(
            default_model=status.model, default_source=status.source, default_status=status,
            local_model=LOCAL_MODEL_NAME, local_available=local_model.is_available(), providers=providers,
            prices=prices, known=shown, known_total=len(known),
        )

    # --- helpers -------------------------------------------------------------------------
    @staticmethod
    def _require(repo: ProviderRepository, name: str) -> Provider:
        row = repo.get(name)
        if row is None:
            raise NotFoundError(what="provider", name=name)
        return row

    def _upgrade_legacy_keys(self, ctx: TenantContext, names: list[str]) -> None:
        """Re-encrypt keys written under the old single-step passphrase derivation with scrypt, once:
        the row is re-checked inside the write, so concurrent readers never re-encrypt twice."""
        if not names:
            return
        with unit_of_work(self.db, ctx, ProviderRepository, write=True) as repo:
            for name in names:
                row = repo.get(name)
                if row is None or not self.secrets.is_legacy(row.api_key_encrypted):
                    continue
                try:
                    plain = self.secrets.decrypt(row.api_key_encrypted)
                except ValidationError:
                    continue  # another passphrase wrote it: shown as unreadable, left as it is
                row.api_key_encrypted = self.secrets.encrypt(plain)
                repo.save(row)
        log.info("re-encrypted %d stored key(s) with the scrypt key derivation", len(names))

    def _public(self, row: Provider) -> ProviderPublic:
        masked, readable = None, True
        if row.api_key_encrypted:
            try:
                masked = self.secrets.mask(self.secrets.decrypt(row.api_key_encrypted))
            except ValidationError:
                readable = False
        return ProviderPublic(name=row.name, kind=row.kind, base_url=mask_url(row.base_url),
                              has_key=bool(row.api_key_encrypted), api_key_masked=masked, key_readable=readable,
                              created_at=row.created_at)
