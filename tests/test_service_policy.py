"""Policy details beyond the role matrix (tests/test_policy.py): protected labels are a tenant setting, a
denied write changes nothing, an empty label name is an input error, and a denial is a translated message."""
from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from promptmgr.errors import PermissionDeniedError, PromptMgrError, ValidationError
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
