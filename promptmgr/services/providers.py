"""Model providers: stored endpoints with encrypted keys, price overrides, the default model, and
resolving what a user typed ("NAME/MODEL", "local/smollm2", any litellm model) into a ModelTarget.

Nothing here contacts a provider except test_connection(), which the user asks for explicitly."""
from __future__ import annotations

import logging
import re
import time

from sqlalchemy.exc import IntegrityError

from ..context import TenantContext
from ..db import Database
from ..errors import DuplicateError, NotFoundError, ValidationError
from ..llm import local as local_model
from ..llm.cache import credential_identity
from ..llm.gateway import Gateway, ModelTarget
from ..llm.local import LOCAL_MODEL_NAME
from ..models import PriceOverride, Provider
from ..repositories import ProviderRepository
from ..schemas import NAME_RE
from ..llm.schemas import (PROVIDER_KINDS, ConnectionTest, ModelInfoPublic, ModelsOverview, PricePublic,
                           ProviderPublic)
from ..secrets import SecretBox
from .admin import AdminService
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
        name = (name or "").strip()
        if not NAME_RE.match(name) or name in _RESERVED_NAMES:
            raise ValidationError("providers.bad_name", name=name)
        if kind not in PROVIDER_KINDS:
            raise ValidationError("providers.bad_kind", kind=kind, allowed=", ".join(PROVIDER_KINDS))
        base_url = (base_url or "").strip().rstrip("/")
        if not _URL_RE.match(base_url):
            raise ValidationError("providers.bad_url", url=base_url)
        api_key = (api_key or "").strip() or None
        encrypted = self.secrets.encrypt(api_key) if api_key else None
        try:
            with self._repo(ctx, write=True) as repo:
                if repo.get(name) is not None:
                    raise DuplicateError("providers.duplicate", name=name)
                row = repo.add(Provider(name=name, kind=kind, base_url=base_url, api_key_encrypted=encrypted))
                public = self._public(row)
        except IntegrityError:  # a concurrent add of the same name won the race
            raise DuplicateError("providers.duplicate", name=name) from None
        log.info("provider added: name=%s kind=%s key=%s", name, kind, "set" if api_key else "none")
        return public

    def list(self, ctx: TenantContext) -> list[ProviderPublic]:
        """The tenant's providers with masked keys."""
        with self._repo(ctx) as repo:
            return [self._public(row) for row in repo.list()]

    def get(self, ctx: TenantContext, name: str) -> ProviderPublic:
        """Raises NotFoundError."""
        with self._repo(ctx) as repo:
            return self._public(self._require(repo, name))

    def remove(self, ctx: TenantContext, name: str) -> None:
        """Delete a provider and its stored key. Raises NotFoundError, PermissionDeniedError."""
        with self._repo(ctx, write=True) as repo:
            repo.delete(self._require(repo, name))

    def test_connection(self, ctx: TenantContext, name: str) -> ConnectionTest:
        """List the endpoint's models (GET /models); failures are returned as data. Raises NotFoundError."""
        import httpx

        with self._repo(ctx) as repo:
            row = self._require(repo, name)
            kind, base_url = row.kind, row.base_url
            api_key = self.secrets.decrypt(row.api_key_encrypted) if row.api_key_encrypted else None
        endpoint = f"{base_url}/api/tags" if kind == "ollama" else f"{base_url}/models"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        start = time.perf_counter()
        result = ConnectionTest(provider=name, endpoint=endpoint, ok=False)
        try:
            response = httpx.get(endpoint, headers=headers, timeout=_TEST_TIMEOUT, follow_redirects=False)
        except httpx.TimeoutException:
            self._set_error(result, ctx, "timeout", "llm.timeout", model=name, timeout=f"{_TEST_TIMEOUT:g}")
        except httpx.HTTPError:
            self._set_error(result, ctx, "unreachable", "llm.unreachable", model=name, endpoint=base_url)
        else:
            result.status_code = response.status_code
            if response.status_code in (401, 403):
                self._set_error(result, ctx, "auth", "llm.auth", model=name)
            elif response.status_code >= 400:
                self._set_error(result, ctx, "http_error", "providers.test_http_error", name=name,
                                status=str(response.status_code), endpoint=endpoint)
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
        model = (model or "").strip()
        if not _MODEL_RE.match(model):
            raise ValidationError("providers.bad_model", model=model)
        if context_window is not None and (not isinstance(context_window, int) or context_window < 1):
            raise ValidationError("providers.bad_context_window", value=str(context_window))
        input_cost, output_cost = _per_token(input_per_1k, "input"), _per_token(output_per_1k, "output")
        with self._repo(ctx, write=True) as repo:
            return _price_public(repo.set_price(model, input_cost, output_cost, context_window))

    def prices(self, ctx: TenantContext) -> list[PricePublic]:
        """The tenant's price overrides, by model name."""
        with self._repo(ctx) as repo:
            return [_price_public(row) for row in repo.prices()]

    def remove_price(self, ctx: TenantContext, model: str) -> None:
        """Raises NotFoundError, PermissionDeniedError."""
        with self._repo(ctx, write=True) as repo:
            row = repo.price(model)
            if row is None:
                raise NotFoundError(what="price", name=model)
            repo.delete_price(row)

    # --- default model -------------------------------------------------------------------
    def default_model(self, ctx: TenantContext) -> tuple[str | None, str | None]:
        """(model, source): the user's choice, else PROMPTMGR_DEFAULT_MODEL, else the embedded model when installed."""
        chosen = self.admin.preferences(ctx).get(_PREFERENCE)
        if chosen:
            return chosen, "user"
        if self.settings_default_model:
            return self.settings_default_model, "settings"
        if local_model.is_available():
            return LOCAL_MODEL_NAME, "local"
        return None, None

    def set_default_model(self, ctx: TenantContext, model: str | None) -> str | None:
        """Save (or clear with None) the user's default model. Raises ValidationError."""
        model = (model or "").strip() or None
        if model is not None and not _MODEL_RE.match(model):
            raise ValidationError("providers.bad_model", model=model)
        self.admin.save_preferences(ctx, **{_PREFERENCE: model})
        return model

    # --- resolving -----------------------------------------------------------------------
    def resolve(self, ctx: TenantContext, model_string: str | None = None) -> ModelTarget:
        """The ModelTarget for what the user typed (or the default model). Raises ValidationError."""
        typed = (model_string or "").strip()
        if not typed:
            typed, _source = self.default_model(ctx)
            if not typed:
                raise ValidationError("providers.no_model")
        if not _MODEL_RE.match(typed):
            raise ValidationError("providers.bad_model", model=typed)
        with self._repo(ctx) as repo:
            price = repo.price(typed)
            prefix, sep, rest = typed.partition("/")
            # A configured provider wins over a litellm prefix of the same name ("openai/..." can
            # point at the user's own OpenAI-compatible endpoint).
            provider = repo.get(prefix) if sep and rest else None
            if provider is not None:
                api_key = self.secrets.decrypt(provider.api_key_encrypted) if provider.api_key_encrypted else None
                model, api_base = f"{_KIND_PREFIX.get(provider.kind, 'openai')}/{rest}", provider.base_url
                credential = credential_identity(f"provider:{provider.id}", api_key)
            else:
                # The embedded model, or a litellm model string as typed (keys from the environment).
                model, api_base, api_key, credential = typed, None, None, "environment"
        return ModelTarget(
            model=model, display_name=typed, api_base=api_base, api_key=api_key,
            input_cost_per_token=price.input_cost_per_token if price else None,
            output_cost_per_token=price.output_cost_per_token if price else None,
            context_window=price.context_window if price else None,
            tenant_id=ctx.tenant_id, credential_id=credential,
        )

    # --- overview ------------------------------------------------------------------------
    def overview(self, ctx: TenantContext, search: str | None = None, limit: int | None = None) -> ModelsOverview:
        """Known models (litellm's local price map), providers, prices and the default; no network."""
        default, source = self.default_model(ctx)
        needle = (search or "").strip().lower()
        known = [m for m in self.gateway.known_models() if not needle or needle in m.name.lower()
                 or needle in (m.provider or "").lower()]
        shown = known if limit is None else known[:max(limit, 0)]
        return ModelsOverview(
            default_model=default, default_source=source, local_model=LOCAL_MODEL_NAME,
            local_available=local_model.is_available(), providers=self.list(ctx), prices=self.prices(ctx),
            known=[ModelInfoPublic(name=m.name, provider=m.provider, context_window=m.context_window,
                                   input_cost_per_token=m.input_cost_per_token,
                                   output_cost_per_token=m.output_cost_per_token, known=m.known) for m in shown],
            known_total=len(known),
        )

    # --- helpers -------------------------------------------------------------------------
    @staticmethod
    def _require(repo: ProviderRepository, name: str) -> Provider:
        row = repo.get(name)
        if row is None:
            raise NotFoundError(what="provider", name=name)
        return row

    def _public(self, row: Provider) -> ProviderPublic:
        masked, readable = None, True
        if row.api_key_encrypted:
            try:
                masked = self.secrets.mask(self.secrets.decrypt(row.api_key_encrypted))
            except ValidationError:
                readable = False
        return ProviderPublic(name=row.name, kind=row.kind, base_url=row.base_url,
                              has_key=bool(row.api_key_encrypted), api_key_masked=masked, key_readable=readable,
                              created_at=row.created_at)
