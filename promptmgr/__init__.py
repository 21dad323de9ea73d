"""promptmgr: an AI prompt manager — library, versions, templates, testing and experiments."""
from .llm import offline  # noqa: F401  (first: keeps every library that loads later off the network)
from .context import TenantContext
from .errors import ConflictError, DuplicateError, NotFoundError, PromptMgrError, ValidationError

__version__ = "0.1.0"
__all__ = ["TenantContext", "PromptMgrError", "NotFoundError", "DuplicateError", "ConflictError",
           "ValidationError", "build_services", "__version__"]


def build_services(settings=None):
    from .bootstrap import build_services as build

    return build(settings)
