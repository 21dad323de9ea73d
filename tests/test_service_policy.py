"""Issue 8 §2 for the library, transfer, builder and admin services: every public method checks the policy
as every role, against the table in promptmgr/policy.py (a new public method without a case fails here)."""
from __future__ import annotations

import inspect
import itertools
from dataclasses import replace

import pytest

from promptmgr.context import ROLES
from promptmgr.errors import PermissionDeniedError, PromptMgrError, ValidationError
from promptmgr.policy import Action, allowed
from promptmgr.schemas import PromptCreate, PromptUpdate, parse

_counter = itertools.count()


def _prompt(services, owner) -> str:
    name = f"p{next(_counter)}"
    services.library.create(owner, parse(PromptCreate, {"name": name, "content": "Hi {{ who }}"}))
    services.library.set_label(owner, name, "staging")
    services.library.set_label(owner, name, "production")
    return name


def _doc(name: str) -> dict:
    return {"format": "promptmgr-library", "prompts": [{"name": name, "versions": [{"content": "imported"}]}]}


# (service, method) -> (action, call(services, ctx, owner))
CASES = {
    ("library", "get"): (Action.READ_PROMPTS, lambda s, c, o: s.library.get(c, _prompt(s, o))),
    ("library", "list"): (Action.READ_PROMPTS, lambda s, c, o: s.library.list(c)),
    ("library", "history"): (Action.READ_PROMPTS, lambda s, c, o: s.library.history(c, _prompt(s, o))),
    ("library", "diff"): (Action.READ_PROMPTS, lambda s, c, o: s.library.diff(c, _prompt(s, o), 1, 1)),
    ("library", "categories"): (Action.READ_PROMPTS, lambda s, c, o: s.library.categories(c)),
    ("library", "tags"): (Action.READ_PROMPTS, lambda s, c, o: s.library.tags(c)),
    ("library", "render"): (Action.READ_PROMPTS, lambda s, c, o: s.library.render(c, _prompt(s, o), {"who": "x"})),
    ("library", "create"): (Action.WRITE_PROMPTS, lambda s, c, o: s.library.create(
        c, parse(PromptCreate, {"name": f"new{next(_counter)}", "content": "x"}))),
    ("library", "update"): (Action.WRITE_PROMPTS, lambda s, c, o: s.library.update(
        c, _prompt(s, o), parse(PromptUpdate, {"content": "changed", "base_version": 1}))),
    ("library", "apply_update"): (Action.WRITE_PROMPTS, lambda s, c, o: _apply_update(s, c, o)),
    ("library", "restore"): (Action.WRITE_PROMPTS, lambda s, c, o: s.library.restore(c, _prompt(s, o), 1)),
    ("library", "delete"): (Action.WRITE_PROMPTS, lambda s, c, o: s.library.delete(c, _prompt(s, o))),
    ("library", "set_label"): (Action.MOVE_LABEL, lambda s, c, o: s.library.set_label(c, _prompt(s, o), "staging")),
    ("library", "remove_label"): (Action.MOVE_LABEL,
                                  lambda s, c, o: s.library.remove_label(c, _prompt(s, o), "staging")),
    ("transfer", "export"): (Action.EXPORT, lambda s, c, o: s.transfer.export(c)),
    ("transfer", "import_"): (Action.IMPORT, lambda s, c, o: s.transfer.import_(c, _doc(f"i{next(_counter)}"))),
    ("transfer", "import_into"): (Action.IMPORT, lambda s, c, o: _import_into(s, c, "rename")),
    ("builder", "templates"): (Action.READ_PROMPTS, lambda s, c, o: s.builder.templates(c)),
    ("builder", "template"): (Action.READ_PROMPTS, lambda s, c, o: s.builder.template(c, "sequential")),
    ("builder", "preview"): (Action.READ_PROMPTS, lambda s, c, o: s.builder.preview(c, [_prompt(s, o)])),
    ("builder", "save"): (Action.WRITE_PROMPTS, lambda s, c, o: s.builder.save(c, f"b{next(_counter)}",
                                                                             [_prompt(s, o)])),
    ("admin", "preferences"): (Action.OWN_PREFERENCES, lambda s, c, o: s.admin.preferences(c)),
    ("admin", "save_preferences"): (Action.OWN_PREFERENCES, lambda s, c, o: s.admin.save_preferences(c, theme="dark")),
}
# Extra cases for the same methods where the action depends on the arguments.
VARIANTS = {
    "set protected label": (Action.MOVE_PROTECTED_LABEL,
                            lambda s, c, o: s.library.set_label(c, _prompt(s, o), "production")),
    "remove protected label": (Action.MOVE_PROTECTED_LABEL,
                               lambda s, c, o: s.library.remove_label(c, _prompt(s, o), "production")),
    "import overwrite": (Action.IMPORT_OVERWRITE,
                         lambda s, c, o: s.transfer.import_(c, _doc(_prompt(s, o)), "overwrite")),
}
# Bootstrap helpers: they produce the first context, so they take none (documented in admin.py).
BOOTSTRAP = {("admin", "ensure_tenant"), ("admin", "local_context")}


def _apply_update(services, ctx, owner):
    from promptmgr.repositories import PromptRepository

    name = _prompt(services, owner)
    with services.db.session(write=True) as session:
        services.library.apply_update(PromptRepository(session, ctx), name, parse(PromptUpdate, {"title": "t"}))


def _import_into(services, ctx, policy):
    with services.db.session(write=True) as session:
        return services.transfer.import_into(session, ctx, _doc(f"i{next(_counter)}"), policy)


def test_every_public_method_has_a_case(services):
    public = {(name, method) for name in ("library", "transfer", "builder", "admin")
              for method, _ in inspect.getmembers(getattr(services, name), inspect.ismethod)
              if not method.startswith("_")}
    assert public - BOOTSTRAP == set(CASES)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", sorted(CASES) + sorted(VARIANTS), ids=str)
def test_role_matrix(services, ctx, role, case):
    action, call = CASES[case] if case in CASES else VARIANTS[case]
    caller = replace(ctx, role=role)
    if allowed(role, action):
        call(services, caller, ctx)  # any failure here is a real failure
    else:
        with pytest.raises(PermissionDeniedError):
            call(services, caller, ctx)


def test_protected_labels_are_a_tenant_setting(services, ctx):
    from promptmgr.models import Tenant

    with services.db.session(write=True) as session:
        tenant = session.get(Tenant, ctx.tenant_id)
        tenant.settings = {**tenant.settings, "protected_labels": ["staging"]}
        session.add(tenant)
    editor = replace(ctx, role="editor")
    name = _prompt(services, ctx)
    assert services.library.set_label(editor, name, "production")["production"] == 1
    with pytest.raises(PermissionDeniedError):
        services.library.set_label(editor, name, "staging")


def test_a_denied_write_changes_nothing(services, ctx):
    name = _prompt(services, ctx)
    viewer = replace(ctx, role="viewer")
    with pytest.raises(PermissionDeniedError):
        services.library.update(viewer, name, parse(PromptUpdate, {"content": "no", "base_version": 1}))
    with pytest.raises(PermissionDeniedError):
        services.transfer.import_(viewer, _doc("sneaky"))
    assert services.library.get(ctx, name).version == 1
    assert [p.name for p in services.library.list(ctx).items if p.name == "sneaky"] == []


def test_removing_a_label_with_an_empty_name_says_the_name_is_required(services, ctx):
    name = _prompt(services, ctx)
    for label in ("", "  "):
        with pytest.raises(ValidationError) as err:
            services.library.remove_label(ctx, name, label)
        assert err.value.message_key == "limits.label_required"
        assert err.value.translate("en") == "The label name is required."


def test_denial_is_a_translated_message(services, ctx):
    with pytest.raises(PromptMgrError) as err:
        services.transfer.import_(replace(ctx, role="editor"), _doc("x"), "overwrite")
    assert "editor" in err.value.translate("en")
