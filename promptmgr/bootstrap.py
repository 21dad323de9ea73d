"""The composition root: settings -> database -> services. Every interface starts here."""
from __future__ import annotations

from functools import cached_property

from .llm import offline  # noqa: F401  (before any third-party import that could reach the network)
from .config import Settings, activate, get_settings
from .context import TenantContext
from .db import Database, private_dir
from .resources import data_path
from .services.admin import AdminService
from .services.library import LibraryService
from .services.transfer import TransferService

STARTER_LIBRARY = data_path("starter_library.yaml")


class Services:
    """All services over one database. The model-facing ones are built on first use, so a CLI
    command that only reads the library does not pay for importing them."""

    def __init__(self, settings: Settings, db: Database):
        self.settings = settings
        self.db = db
        self.admin = AdminService(db, settings.default_locale)
        self.library = LibraryService(db)
        self.transfer = TransferService(db, self.library)

    @cached_property
    def audit(self):
        from .services.audit import AuditService

        return AuditService(self.db)

    @cached_property
    def gateway(self):
        from .llm.gateway import Gateway  # litellm itself loads on the first model call, not here

        return Gateway(cache_dir=self.settings.cache_dir, cache_enabled=self.settings.cache_enabled)

    @cached_property
    def results(self):
        from .services.experiment_results import ExperimentResultService

        return ExperimentResultService(self.db, lambda: self)

    @cached_property
    def review(self):
        from .services.experiment_review import ExperimentReviewService

        return ExperimentReviewService(self.db, self.library)

    @cached_property
    def providers(self):
        from .secrets import SecretBox
        from .services.providers import ProviderService

        return ProviderService(self.db, SecretBox(self.settings.home, self.settings.secret_key), self.gateway,
                               self.admin, self.settings.default_model)

    @cached_property
    def testing(self):
        from .services.testing import TestingService

        return TestingService(self.db, self.library, self.providers, self.gateway, self.settings.files_dir,
                              self.files)

    @cached_property
    def files(self):
        from .services.files import FileService

        max_bytes = self.settings.max_image_bytes
        return FileService(self.db, self.settings.files_dir, max_bytes, adopt_legacy=self.settings.mode == "single")

    @cached_property
    def enhance(self):
        from .services.enhance import EnhanceService

        return EnhanceService(self.library, self.testing)

    @cached_property
    def builder(self):
        from .services.builder import BuilderService

        return BuilderService(self.library, self.testing)

    @cached_property
    def datasets(self):
        from .services.datasets import DatasetService

        return DatasetService(self.db)

    @cached_property
    def analytics(self):
        from .services.analytics import AnalyticsService

        return AnalyticsService(self.db)

    @cached_property
    def experiments(self):
        from .services.experiments import ExperimentService

        return ExperimentService(self.db, self.library, self.datasets, self.providers)

    @cached_property
    def experiment_runs(self):
        from .services.experiment_runs import ExperimentRunService

        def judge_factory(ctx, model):
            try:  # the judges module ships with the checks registry
                from .evaluation.judges import library_judge
            except ImportError:
                return None
            return library_judge(self, ctx, model)

        return ExperimentRunService(self.db, self.library, self.providers, self.gateway, self.testing, judge_factory)

    # Hosted mode (PROMPTMGR_MODE=multi): accounts and sessions. Built on first use: single-user
    # mode never pays for passlib, jose or the argon2 dummy hash.
    @cached_property
    def password_hasher(self):
        from .passwords import PasswordHasher

        return PasswordHasher(self.settings.argon2_memory_kib, self.settings.argon2_time_cost)

    @cached_property
    def second_factor(self):
        from .secrets import SecretBox
        from .services.mfa import SecondFactor

        return SecondFactor(SecretBox(self.settings.home, self.settings.secret_key), self.settings.secret_key)

    @cached_property
    def auth(self):
        from .services.auth import AuthService

        return AuthService(self.db, self.settings, self.password_hasher, self.second_factor)

    @cached_property
    def accounts(self):
        from .services.accounts import AccountService

        return AccountService(self.db, self.settings, self.password_hasher)

    @cached_property
    def sso(self):
        from .services.sso import SsoService

        return SsoService(self.db, self.auth)

    @cached_property
    def mfa(self):
        from .services.mfa import MfaService

        return MfaService(self.db, self.second_factor)

    @cached_property
    def api_tokens(self):
        from .services.api_tokens import ApiTokenService

        return ApiTokenService(self.db)

    @cached_property
    def experiment_jobs(self):
        from .services.experiment_jobs import ExperimentJobs

        return ExperimentJobs(self.experiment_runs, self.enqueue_experiment if self.settings.queued_experiments else None)

    def enqueue_experiment(self, ctx: TenantContext, name: str, **options) -> list[int]:
        """Hosted mode: mark the experiment running and queue its shards for `promptmgr worker`."""
        from . import worker

        options.setdefault("shards", self.settings.worker_shards)
        return worker.enqueue(self, ctx, name, **options)

    def local_context(self, load_starter: bool | None = None) -> TenantContext:
        """Single-user mode: the local tenant and user, created with the starter library on first
        start, in one transaction (processes starting at once never see an empty library)."""
        load = self.settings.load_starter if load_starter is None else load_starter
        ctx, _ = self.admin.local_context(on_create=self._starter_loader() if load else None)
        return ctx

    def _starter_loader(self):
        def load(session, ctx: TenantContext) -> None:
            # Read only on a first start: every other start must not pay for parsing the file.
            from .services.transfer import load_document

            document = load_document(STARTER_LIBRARY.read_text(encoding="utf-8"), "yaml")
            self.transfer.import_into(session, ctx, document, on_conflict="skip")

        return load

    def load_starter(self, ctx: TenantContext):
        from .services.transfer import load_document

        document = load_document(STARTER_LIBRARY.read_text(encoding="utf-8"), "yaml")
        return self.transfer.import_(ctx, document, on_conflict="skip")


def build_services(settings: Settings | None = None) -> Services:
    settings = settings or get_settings()
    activate(settings)
    private_dir(settings.home)
    db = Database(settings.db_url)
    db.upgrade()
    return Services(settings, db)
