from .base import Repository
from .prompts import PromptRepository
from .tenants import TenantRepository

__all__ = ["Repository", "PromptRepository", "TenantRepository"]
