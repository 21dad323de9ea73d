"""The composition root: settings -> database -> services. Every interface starts here."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import offline  # noqa: F401  (before any third-party import that could reach the network)
from .config import Settings, get_settings
from .context import TenantContext
from .db import Database
from .llm import Gateway  # litellm itself loads on the first model call, not here
from .secrets import SecretBox
from .services.admin import AdminService
from .services.builder import BuilderService
from .services.library import LibraryService
from .services.transfer import TransferService
from .services.enhance import EnhanceService
from .services.providers import ProviderService
from .services.testing import TestingService

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
STARTER_LIBRARY = DATA_DIR / "starter_library.yaml"


@dataclass
class Services:
    settings: Settings
    db: Database
    admin: AdminService
    library: LibraryService
    transfer: TransferService
    builder: BuilderService
    gateway: Gateway
    providers: ProviderService
    testing: TestingService
    enhance: EnhanceService

    def local_context(self, load_starter: bool | None = None) -> TenantContext:
        """Single-user mode: the local tenant and user, created (with the starter library) on first start."""
        ctx, created = self.admin.local_context()
        if created and (self.settings.load_starter if load_starter is None else load_starter):
            self.load_starter(ctx)
        return ctx

    def load_starter(self, ctx: TenantContext):
        from .services.transfer import load_document

        document = load_document(STARTER_LIBRARY.read_text(encoding="utf-8"), "yaml")
        return self.transfer.import_(ctx, document, on_conflict="skip")


def build_services(settings: Settings | None = None) -> Services:
    settings = settings or get_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_url)
    db.upgrade()
    library = LibraryService(db)
    admin = AdminService(db, settings.default_locale)
    gateway = Gateway(cache_dir=settings.cache_dir, cache_enabled=settings.cache_enabled)
    providers = ProviderService(db, SecretBox(settings.home, settings.secret_key), gateway, admin,
                                settings.default_model)
    testing = TestingService(db, library, providers, gateway, settings.files_dir)
    return Services(
        settings=settings, db=db, admin=admin, library=library,
        transfer=TransferService(db, library), builder=BuilderService(library, testing),
        gateway=gateway, providers=providers, testing=testing, enhance=EnhanceService(library, testing),
    )
