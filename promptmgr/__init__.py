"""promptmgr: an AI prompt manager — library, versions, templates, testing and experiments.

The offline switches (llm/offline.py) are applied by the entry points (CLI, UI, web app, services),
not here: an application that only imports the Python client (promptmgr.client) keeps its own
environment (HF_HUB_OFFLINE and the like stay as it set them)."""
from .context import TenantContext
from .errors import ConflictError, DuplicateError, NotFoundError, PromptMgrError, ValidationError

__version__ = "0.1.0"
__all__ = ["TenantContext", "PromptMgrError", "NotFoundError", "DuplicateError", "ConflictError",
           "ValidationError", "build_services", "__version__"]


def build_services(settings=None):
    from .bootstrap import build_services as build

    return build(settings)
