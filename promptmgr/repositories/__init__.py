from .audit import AuditRepository
from .base import Repository
from .datasets import DatasetRepository
from .experiments import ExperimentRepository
from .prompts import PromptRepository
from .providers import ProviderRepository
from .runs import RunRepository
from .tenants import TenantRepository

__all__ = ["AuditRepository", "Repository", "DatasetRepository", "ExperimentRepository", "PromptRepository", "ProviderRepository", "RunRepository", "TenantRepository"]
