from .base import Repository
from .prompts import PromptRepository
from .providers import ProviderRepository
from .runs import RunRepository
from .tenants import TenantRepository

__all__ = ["Repository", "PromptRepository", "ProviderRepository", "RunRepository", "TenantRepository"]
