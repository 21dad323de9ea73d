"""Tenants never see or touch each other's prompts (property test over random operations)."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptmgr.errors import DuplicateError, NotFoundError
from promptmgr.schemas import PromptCreate, PromptQuery, PromptUpdate, parse

names = st.sampled_from(["alpha", "beta", "gamma", "delta"])
operations = st.lists(st.tuples(st.sampled_from(["create", "edit", "delete", "label"]), st.integers(0, 1), names),
                      min_size=1, max_size=12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_operations_in_one_tenant_never_leak_into_another(services, ops):
    import uuid

    run = uuid.uuid4().hex[:8]
    tenants = [services.admin.ensure_tenant(f"t{i}-{run}", f"Tenant {i}", "user")[0] for i in range(2)]
    model: list[dict[str, str]] = [{}, {}]  # what each tenant should see: name -> content
    for op, who, name in ops:
        ctx, expected = tenants[who], model[who]
        try:
            if op == "create":
                services.library.create(ctx, parse(PromptCreate, {"name": name, "content": f"{op}-{who}-{name}-secret",
                                                                 "category": f"cat{who}", "tags": [f"tag{who}"]}))
                expected[name] = f"{op}-{who}-{name}-secret"
            elif op == "edit":
                services.library.update(ctx, name, parse(PromptUpdate, {"content": f"edited-{who}-{name}"}))
                expected[name] = f"edited-{who}-{name}"
            elif op == "delete":
                services.library.delete(ctx, name)
                del expected[name]
            else:
                services.library.set_label(ctx, name, "production")
        except NotFoundError:
            assert name not in expected
        except DuplicateError:
            assert name in expected
    for who, ctx in enumerate(tenants):
        page = services.library.list(ctx, PromptQuery(limit=100))
        assert {p.name: services.library.get(ctx, p.name).content for p in page.items} == model[who]
        assert page.total == len(model[who])
        other = 1 - who
        assert services.library.list(ctx, PromptQuery(q=f"{other}")).total == sum(
            1 for c in model[who].values() if f"-{other}-" in c)
        # Each tenant files its prompts under its own category and tag: the other's never show up.
        own = {f"cat{who}": len(model[who])} if model[who] else {}
        assert {c.name: c.count for c in services.library.categories(ctx)} == own
        assert {t.name: t.count for t in services.library.tags(ctx)} == {f"tag{who}": count for count in own.values()}
        exported = services.transfer.export(ctx)
        assert {p["name"] for p in exported["prompts"]} == set(model[who])


def test_same_name_in_two_tenants(services):
    a, _ = services.admin.ensure_tenant("a", "A", "u")
    b, _ = services.admin.ensure_tenant("b", "B", "u")
    services.library.create(a, parse(PromptCreate, {"name": "same", "content": "from a", "tags": ["t"]}))
    services.library.create(b, parse(PromptCreate, {"name": "same", "content": "from b"}))
    assert services.library.get(a, "same").content == "from a"
    assert services.library.get(b, "same").content == "from b"
    assert services.library.list(b, PromptQuery(q="from a")).total == 0
    assert services.library.tags(b) == []
    services.library.delete(b, "same")
    assert services.library.get(a, "same").content == "from a"
