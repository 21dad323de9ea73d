"""The one permission policy: which role may do what. Every public service method starts with
require(ctx, Action.X); nothing else decides what a caller may do.

Roles are ordered (viewer < editor < admin < owner) and each action names the least role that may
perform it, so the table reads like the product's promise: a role can do what the one below it can,
and more."""
from __future__ import annotations

from enum import Enum

from .context import ROLES, TenantContext
from .errors import PermissionDeniedError

# Labels only admins may move unless the tenant's settings name others ("protected_labels").
DEFAULT_PROTECTED_LABELS = ("production",)


class Action(str, Enum):
    # viewer
    READ_PROMPTS = "read_prompts"            # prompts, versions, diffs, render, categories, tags, search
    EXPORT = "export"
    READ_RUNS = "read_runs"
    READ_MODELS = "read_models"              # model lists, token and cost estimates, provider names
    READ_DATASETS = "read_datasets"
    READ_EXPERIMENTS = "read_experiments"
    READ_ANALYTICS = "read_analytics"
    OWN_PREFERENCES = "own_preferences"      # the caller's own language, theme...
    # editor
    WRITE_PROMPTS = "write_prompts"          # create, edit, delete, restore
    MOVE_LABEL = "move_label"                # labels that are not protected
    IMPORT = "import"                        # conflict policies skip and rename
    RUN_MODELS = "run_models"                # testing bench, builder preview with a model, enhance, translate
    UPLOAD_FILES = "upload_files"
    WRITE_DATASETS = "write_datasets"
    RUN_EXPERIMENTS = "run_experiments"
    # admin
    MOVE_PROTECTED_LABEL = "move_protected_label"
    IMPORT_OVERWRITE = "import_overwrite"
    MANAGE_PROVIDERS = "manage_providers"    # providers and their keys
    MANAGE_PRICES = "manage_prices"
    SET_DEFAULT_MODEL = "set_default_model"
    MANAGE_MEMBERS = "manage_members"
    READ_AUDIT = "read_audit"
    MANAGE_TOKENS = "manage_tokens"          # API tokens of the workspace's members (hosted REST API)
    READ_METRICS = "read_metrics"            # the instance's Prometheus metrics (/metrics) with a token
    # owner
    TENANT_SETTINGS = "tenant_settings"
    DELETE_TENANT = "delete_tenant"
    CREATE_WORKSPACE = "create_workspace"    # a new workspace, its creator its owner
    DEACTIVATE_USERS = "deactivate_users"    # an identity: ends its sessions in every workspace


_LEAST_ROLE: dict[Action, str] = {
    **{a: "viewer" for a in (Action.READ_PROMPTS, Action.EXPORT, Action.READ_RUNS, Action.READ_MODELS,
                             Action.READ_DATASETS, Action.READ_EXPERIMENTS, Action.READ_ANALYTICS,
                             Action.OWN_PREFERENCES)},
    **{a: "editor" for a in (Action.WRITE_PROMPTS, Action.MOVE_LABEL, Action.IMPORT, Action.RUN_MODELS,
                             Action.UPLOAD_FILES, Action.WRITE_DATASETS, Action.RUN_EXPERIMENTS)},
    **{a: "admin" for a in (Action.MOVE_PROTECTED_LABEL, Action.IMPORT_OVERWRITE, Action.MANAGE_PROVIDERS,
                            Action.MANAGE_PRICES, Action.SET_DEFAULT_MODEL, Action.MANAGE_MEMBERS,
                            Action.READ_AUDIT, Action.MANAGE_TOKENS, Action.READ_METRICS)},
    **{a: "owner" for a in (Action.TENANT_SETTINGS, Action.DELETE_TENANT, Action.CREATE_WORKSPACE,
                            Action.DEACTIVATE_USERS)},
}
assert set(_LEAST_ROLE) == set(Action), "every action needs a least role"


def allowed(role: str, action: Action) -> bool:
    """True when `role` may perform `action`; an unknown role may do nothing."""
    if role not in ROLES:
        return False
    return ROLES.index(role) >= ROLES.index(_LEAST_ROLE[action])


def least_role(action: Action) -> str:
    return _LEAST_ROLE[action]


def require(ctx: TenantContext, action: Action) -> None:
    """Raise PermissionDeniedError unless the caller's role allows `action`."""
    if not allowed(ctx.role, action):
        raise PermissionDeniedError("errors.forbidden_action", action=action.value, role=ctx.role)


def label_action(label: str, protected: tuple[str, ...] | list[str] | None = None) -> Action:
    """Moving a protected label is an admin's action; any other label an editor's."""
    protected = DEFAULT_PROTECTED_LABELS if protected is None else protected
    return Action.MOVE_PROTECTED_LABEL if label in protected else Action.MOVE_LABEL
