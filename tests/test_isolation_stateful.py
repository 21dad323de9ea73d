"""Hosted mode, stateful: two workspaces, a member of every role in each and one person in both
with different roles; random operations through the services and over HTTP (the sign-in pages, the
Gradio routes and the caller a Gradio event resolves). Checked at every step against a model of what
each workspace holds: every allow/deny is the policy table's (promptmgr/policy.py, label_action for
labels, plus the member rules of services/accounts.py), no read ever returns, and no write ever
finds or changes, anything of the other workspace.

The services and the app are built once per backend (building the Gradio app costs seconds); every
example makes its own two workspaces and people (fresh slugs and emails), so nothing needs deleting
(the audit log is append-only)."""
from __future__ import annotations

import itertools
import os
import uuid
from collections import Counter

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

from promptmgr.context import ROLES, TenantContext
from promptmgr.errors import ConflictError, DuplicateError, NotFoundError, PermissionDeniedError
from promptmgr.policy import DEFAULT_PROTECTED_LABELS, Action
from promptmgr.schemas import PromptCreate, PromptQuery, PromptUpdate, parse
from tests.web_fixtures import PASSWORD, csrf_from, multi_settings

CI = bool(os.environ.get("CI"))
STEPS = 8  # per example; CI's 1,000 examples must stay within a few minutes on 2 cores
BASE = "http://127.0.0.1"
WS = ("A", "B")
SLOTS = ROLES + ("both",)  # one member per role in each workspace, and the person in both
PROMPTS = ("p-one", "p-two", "p-three")
LABELS = ("production", "staging", "canary")
DATASETS = ("ds-one", "ds-two")
PROTECTED_CHOICES = (("production",), ("production", "staging"), ("staging",))
AUDIT_GROUPS = ("prompt", "dataset", "member", "workspace")


# The policy table for the actions exercised here, written out (not read from promptmgr/policy.py):
# a change to the table or to the check a service makes fails this test.
LEAST_ROLE = {
    Action.READ_PROMPTS: "viewer", Action.READ_DATASETS: "viewer", Action.READ_ANALYTICS: "viewer",
    Action.WRITE_PROMPTS: "editor", Action.MOVE_LABEL: "editor", Action.WRITE_DATASETS: "editor",
    Action.MOVE_PROTECTED_LABEL: "admin", Action.MANAGE_MEMBERS: "admin", Action.READ_AUDIT: "admin",
    Action.TENANT_SETTINGS: "owner",
}


def allowed(role: str, action: Action) -> bool:
    return ROLES.index(role) >= ROLES.index(LEAST_ROLE[action])


def label_action(label: str, protected: tuple[str, ...]) -> Action:
    return Action.MOVE_PROTECTED_LABEL if label in protected else Action.MOVE_LABEL


def other(w: str) -> str:
    return "B" if w == "A" else "A"


def rank(role: str) -> int:
    return ROLES.index(role)


def marker(w: str) -> str:
    # A word every prompt of workspace w contains (and no prompt of the other): full-text search for
    # the other workspace's word must find nothing.
    return f"isomark{w.lower()}"


class FakeRequest:
    """What UI.caller reads of a gr.Request: cookies, query parameters and headers."""

    def __init__(self, cookies):
        self.cookies, self.query_params, self.headers = cookies, {}, {}


class Env:
    def __init__(self, services, client, anonymous, ui, data_file):
        self.services, self.client, self.anonymous, self.ui, self.data_file = (
            services, client, anonymous, ui, data_file)
        self.counter = itertools.count()
        self.password_hash = services.auth.hasher.hash(PASSWORD)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def env(request, tmp_path_factory):
    from fastapi.testclient import TestClient

    from promptmgr.bootstrap import build_services
    from promptmgr.ui.common import UI
    from promptmgr.web.app import create_app

    tmp = tmp_path_factory.mktemp(f"iso-{request.param}")
    url = f"sqlite:///{tmp / 'iso.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    services = build_services(multi_settings(tmp / "home", url))
    data_file = tmp / "rows.csv"
    data_file.write_text("q,expected\nhello,world\nbye,moon\n", encoding="utf-8")
    app = create_app(services)
    with TestClient(app, base_url=BASE, follow_redirects=False) as client, \
            TestClient(app, base_url=BASE, follow_redirects=False) as anonymous:
        yield Env(services, client, anonymous, UI(services, None), data_file)
    services.db.dispose()


actors = st.tuples(st.sampled_from(WS), st.sampled_from(SLOTS))


class Isolation(RuleBasedStateMachine):
    env: Env = None  # set by the test before the machine runs

    # --- set-up: two fresh workspaces, people of every role, one person in both --------------------
    @initialize(both_roles=st.permutations(ROLES).map(lambda roles: roles[:2]))
    def setup(self, both_roles):
        """Written in one transaction below the services (what create_workspace and create_user
        would write, less their audit rows): the set-up is not under test, and doing it through ten
        service calls per example would take most of the run."""
        from promptmgr.models import Membership, Tenant, User

        env = self.env
        run = f"{uuid.uuid4().hex[:6]}{next(env.counter)}"
        self.slug = {w: f"iso{w.lower()}-{run}" for w in WS}
        self.names = {w: f"Team {w}" for w in WS}
        self.email = {(w, role): f"{role}-{w.lower()}-{run}@example.com" for w in WS for role in ROLES}
        both = f"both-{run}@example.com"
        self.email.update({(w, "both"): both for w in WS})
        self.roles: dict[str, dict[str, str]] = {  # workspace -> email -> role
            w: {**{self.email[(w, role)]: role for role in ROLES}, both: both_role}
            for w, both_role in zip(WS, both_roles)}
        self.prompts: dict[str, dict[str, dict]] = {w: {} for w in WS}  # name -> content, version, labels
        self.datasets: dict[str, dict[str, int]] = {w: {} for w in WS}  # name -> latest version
        self.protected = {w: tuple(DEFAULT_PROTECTED_LABELS) for w in WS}
        self.audit = {w: Counter() for w in WS}
        self.preferred = {email: w for w in WS for email in self.roles[w] if email != both}
        self.preferred[both] = "A"  # memberships oldest first: A was joined first
        self.step = itertools.count()
        with env.services.db.session(write=True) as session:
            tenants = {w: Tenant(slug=self.slug[w], name=self.names[w], default_locale="en") for w in WS}
            users = {email: User(email=email, username=email, display_name=email.split("@")[0],
                                 password_hash=env.password_hash)
                     for w in WS for email in self.roles[w]}
            session.add_all([*tenants.values(), *users.values()])
            session.flush()
            session.add_all([Membership(tenant_id=tenants[w].id, user_id=users[email].id, role=role)
                             for w in WS for email, role in self.roles[w].items()])
            self.tenant = {w: tenants[w].id for w in WS}
            self.user_id = {email: user.id for email, user in users.items()}
        self.operator = {w: env.services.accounts.operator_context(self.slug[w]) for w in WS}

    # --- helpers --------------------------------------------------------------------------------
    def ctx(self, actor) -> tuple[str, TenantContext]:
        """The actor's context as the web layer builds it from a verified session (the web_session
        rule checks that the session's context is this one)."""
        w, slot = actor
        email = self.email[(w, slot)]
        return w, TenantContext(self.tenant[w], self.user_id[email], self.roles[w][email])

    @staticmethod
    def outcome(fn):
        try:
            return "ok", fn()
        except PermissionDeniedError:
            return "denied", None
        except NotFoundError:
            return "notfound", None
        except DuplicateError:
            return "duplicate", None
        except ConflictError:
            return "conflict", None

    def expect(self, expected: str, fn, what: str):
        got, result = self.outcome(fn)
        assert got == expected, f"{what}: expected {expected}, got {got}"
        return result

    def check_workspace(self, w: str) -> None:
        """The database, seen by the workspace's owner, holds exactly the model's workspace w."""
        services, ctx = self.env.services, self.operator[w]
        page = services.library.list(ctx, PromptQuery(limit=100))
        assert {p.name for p in page.items} == set(self.prompts[w]) and page.total == len(self.prompts[w])
        for name, want in self.prompts[w].items():
            got = services.library.get(ctx, name)
            assert (got.content, got.version, got.labels) == (want["content"], want["version"], want["labels"])
        assert {d.name: d.latest_version for d in services.datasets.list(ctx)} == self.datasets[w]
        assert {m["email"]: m["role"] for m in services.accounts.members(ctx)} == self.roles[w]
        found = services.accounts.settings_of(ctx)
        assert (found["name"], tuple(found["protected_labels"])) == (self.names[w], self.protected[w])
        events = services.audit.list(ctx, {"limit": 500})
        assert events.total < 500
        counted = Counter(e.action.split(".")[0] for e in events.items if e.action.split(".")[0] in AUDIT_GROUPS)
        assert counted == +self.audit[w], (counted, self.audit[w])

    def glance(self, w: str) -> None:
        """A quick look at workspace w: its prompts at their versions."""
        services, ctx = self.env.services, self.operator[w]
        assert {p.name: p.latest_version for p in services.library.list(ctx, PromptQuery(limit=100)).items} == {
            name: prompt["version"] for name, prompt in self.prompts[w].items()}

    def wrote(self, w: str) -> None:
        # After a write in w (allowed or not) the other workspace is as it was; everything of both
        # (contents, labels, members, settings, audit) is compared at the end of each example and
        # every few writes (all of it after every step would cost most of the run).
        self.glance(other(w))
        if next(self.step) % 5 == 4:
            self.check_workspace(other(w))

    def teardown(self):
        if getattr(self, "slug", None):
            for w in WS:
                self.check_workspace(w)

    # --- prompts ----------------------------------------------------------------------------------
    @rule(actor=actors, name=st.sampled_from(PROMPTS))
    def create_prompt(self, actor, name):
        w, ctx = self.ctx(actor)
        content = f"{marker(w)} created {next(self.env.counter)}"
        expected = ("denied" if not allowed(ctx.role, Action.WRITE_PROMPTS) else
                    "duplicate" if name in self.prompts[w] else "ok")
        self.expect(expected, lambda: self.env.services.library.create(
            ctx, parse(PromptCreate, {"name": name, "content": content})), f"create {name} in {w} as {ctx.role}")
        if expected == "ok":
            self.prompts[w][name] = {"content": content, "version": 1, "labels": {}}
            self.audit[w]["prompt"] += 1
        self.wrote(w)

    @rule(actor=actors, name=st.sampled_from(PROMPTS))
    def edit_prompt(self, actor, name):
        w, ctx = self.ctx(actor)
        content = f"{marker(w)} edited {next(self.env.counter)}"
        expected = ("denied" if not allowed(ctx.role, Action.WRITE_PROMPTS) else
                    "notfound" if name not in self.prompts[w] else "ok")
        self.expect(expected, lambda: self.env.services.library.update(
            ctx, name, parse(PromptUpdate, {"content": content})), f"edit {name} in {w} as {ctx.role}")
        if expected == "ok":
            self.prompts[w][name].update(content=content, version=self.prompts[w][name]["version"] + 1)
            self.audit[w]["prompt"] += 1
        self.wrote(w)

    @rule(actor=actors, name=st.sampled_from(PROMPTS))
    def delete_prompt(self, actor, name):
        w, ctx = self.ctx(actor)
        expected = ("denied" if not allowed(ctx.role, Action.WRITE_PROMPTS) else
                    "notfound" if name not in self.prompts[w] else "ok")
        self.expect(expected, lambda: self.env.services.library.delete(ctx, name), f"delete {name} in {w}")
        if expected == "ok":
            del self.prompts[w][name]
            self.audit[w]["prompt"] += 1
        self.wrote(w)

    @rule(actor=actors, name=st.sampled_from(PROMPTS), label=st.sampled_from(LABELS))
    def set_label(self, actor, name, label):
        w, ctx = self.ctx(actor)
        expected = ("denied" if not allowed(ctx.role, label_action(label, self.protected[w])) else
                    "notfound" if name not in self.prompts[w] else "ok")
        self.expect(expected, lambda: self.env.services.library.set_label(ctx, name, label),
                    f"label {name}:{label} in {w} as {ctx.role} (protected {self.protected[w]})")
        if expected == "ok":
            prompt = self.prompts[w][name]
            prompt["labels"] = {**prompt["labels"], label: prompt["version"]}
            self.audit[w]["prompt"] += 1
        self.wrote(w)

    @rule(actor=actors, name=st.sampled_from(PROMPTS), how=st.sampled_from(["list", "own", "other", "get"]))
    def read_prompts(self, actor, name, how):
        w, ctx = self.ctx(actor)
        library = self.env.services.library
        assert allowed(ctx.role, Action.READ_PROMPTS)
        if how == "list":
            assert {p.name for p in library.list(ctx, PromptQuery(limit=100)).items} == set(self.prompts[w])
        elif how in ("own", "other"):
            word = marker(w if how == "own" else other(w))
            found = {p.name for p in library.list(ctx, PromptQuery(q=word, limit=100)).items}
            assert found == (set(self.prompts[w]) if how == "own" else set())
        else:
            got = self.expect("ok" if name in self.prompts[w] else "notfound", lambda: library.get(ctx, name),
                              f"get {name} in {w}")
            if got is not None:
                assert got.content == self.prompts[w][name]["content"]

    # --- datasets -------------------------------------------------------------------------------
    @rule(actor=actors, name=st.sampled_from(DATASETS))
    def add_dataset(self, actor, name):
        w, ctx = self.ctx(actor)
        expected = "ok" if allowed(ctx.role, Action.WRITE_DATASETS) else "denied"
        added = self.expect(expected, lambda: self.env.services.datasets.add(ctx, name, self.env.data_file),
                            f"add dataset {name} in {w} as {ctx.role}")
        if expected == "ok":
            self.datasets[w][name] = self.datasets[w].get(name, 0) + 1
            assert added.latest_version == self.datasets[w][name]  # a name of the other workspace is not ours
            self.audit[w]["dataset"] += 1
        self.wrote(w)

    @rule(actor=actors)
    def list_datasets(self, actor):
        w, ctx = self.ctx(actor)
        assert allowed(ctx.role, Action.READ_DATASETS)
        assert {d.name: d.latest_version for d in self.env.services.datasets.list(ctx)} == self.datasets[w]

    # --- members and settings -------------------------------------------------------------------
    @rule(actor=actors)
    def list_members(self, actor):
        w, ctx = self.ctx(actor)
        expected = "ok" if allowed(ctx.role, Action.MANAGE_MEMBERS) else "denied"
        members = self.expect(expected, lambda: self.env.services.accounts.members(ctx), f"members of {w}")
        if members is not None:
            assert {m["email"]: m["role"] for m in members} == self.roles[w]

    @rule(actor=actors, whom=st.sampled_from(["new", "own", "other"]), role=st.sampled_from(ROLES))
    def invite(self, actor, whom, role):
        w, ctx = self.ctx(actor)
        email = (f"new-{next(self.env.counter)}-{self.slug[w]}@example.com" if whom == "new" else
                 self.email[(w if whom == "own" else other(w), "viewer")])
        expected = ("denied" if not allowed(ctx.role, Action.MANAGE_MEMBERS) or rank(role) > rank(ctx.role) else
                    "duplicate" if email in self.roles[w] else "ok")
        self.expect(expected, lambda: self.env.services.accounts.invite(ctx, email, role),
                    f"invite {whom} as {role} into {w} by {ctx.role}")
        if expected == "ok":
            self.audit[w]["member"] += 1  # a pending invitation: no member yet
        self.wrote(w)

    @rule(actor=actors, member=actors, role=st.sampled_from(ROLES))
    def set_role(self, actor, member, role):
        w, ctx = self.ctx(actor)
        email = self.email[member]
        members = self.roles[w]
        if not allowed(ctx.role, Action.MANAGE_MEMBERS) or rank(role) > rank(ctx.role):
            expected = "denied"
        elif email not in members:  # a member of the other workspace only
            expected = "notfound"
        elif rank(members[email]) > rank(ctx.role):
            expected = "denied"
        elif members[email] == "owner" and role != "owner" and list(members.values()).count("owner") <= 1:
            expected = "conflict"
        else:
            expected = "ok"
        self.expect(expected, lambda: self.env.services.accounts.set_role(ctx, email, role),
                    f"set role of {member} to {role} in {w} by {ctx.role}")
        if expected == "ok":
            members[email] = role
            self.audit[w]["member"] += 1
        self.wrote(w)

    @rule(actor=actors)
    def read_audit(self, actor):
        w, ctx = self.ctx(actor)
        expected = "ok" if allowed(ctx.role, Action.READ_AUDIT) else "denied"
        page = self.expect(expected, lambda: self.env.services.audit.list(ctx, {"action": "prompt", "limit": 100}),
                           f"audit of {w} by {ctx.role}")
        if page is not None:
            assert page.total == self.audit[w]["prompt"]
            assert {e.target for e in page.items} <= set(PROMPTS)

    @rule(actor=actors, protected=st.sampled_from(PROTECTED_CHOICES))
    def update_settings(self, actor, protected):
        w, ctx = self.ctx(actor)
        name = f"Team {w} {next(self.env.counter)}"
        expected = "ok" if allowed(ctx.role, Action.TENANT_SETTINGS) else "denied"
        self.expect(expected, lambda: self.env.services.accounts.update_settings(
            ctx, name=name, protected_labels=list(protected)), f"settings of {w} by {ctx.role}")
        if expected == "ok":
            self.names[w], self.protected[w] = name, protected
            self.audit[w]["workspace"] += 1
        self.wrote(w)

    @rule(actor=actors)
    def read_analytics(self, actor):
        w, ctx = self.ctx(actor)
        expected = "ok" if allowed(ctx.role, Action.READ_ANALYTICS) else "denied"
        totals = self.expect(expected, lambda: self.env.services.analytics.totals(ctx), f"analytics of {w}")
        assert totals is None or totals.calls == 0  # no workspace here ran a model: nothing of anyone's

    # --- over HTTP --------------------------------------------------------------------------------
    @rule(actor=actors, elsewhere=st.sampled_from(["other", "stranger"]))
    def web_session(self, actor, elsewhere):
        """Sign in on the login page, reach the Gradio routes, resolve the caller a Gradio event sees,
        then try to switch workspace: to the other one (only the person in both may) or to one of
        nobody's here."""
        env = self.env
        w, slot = actor
        email = self.email[(w, slot)]
        client = env.client
        client.cookies.clear()
        page = client.get("/login")
        assert page.status_code == 200
        signed = client.post("/login", data={"email": email, "password": PASSWORD,
                                             "csrf_token": csrf_from(page.text)})
        assert signed.status_code == 303
        assert env.anonymous.get("/config").status_code == 401
        landed = self.preferred[email]
        self.assert_caller(email, landed)

        target = other(landed)
        member = elsewhere == "other" and email in self.roles[target]
        slug = self.slug[target] if elsewhere == "other" else f"nobody-{self.slug[landed]}"
        switched = client.post("/workspace", data={"workspace": slug, "csrf_token": client.cookies.get("pm_csrf")})
        assert switched.status_code == (303 if member else 403)
        if member:
            self.preferred[email] = landed = target
        self.assert_caller(email, landed)
        assert client.get("/config").status_code == 200

    def assert_caller(self, email: str, w: str) -> None:
        cookies = {name: self.env.client.cookies.get(name) for name in ("pm_access",)}
        ctx = self.env.ui.caller(FakeRequest(cookies), "en")
        assert (ctx.tenant_id, ctx.user_id, ctx.role) == (self.tenant[w], self.user_id[email], self.roles[w][email])


def test_the_table_written_here_is_the_policys():
    from promptmgr.policy import allowed as policy_allowed

    assert DEFAULT_PROTECTED_LABELS == ("production",)
    for action in LEAST_ROLE:
        assert [policy_allowed(role, action) for role in ROLES] == [allowed(role, action) for role in ROLES], action


def _run(env, examples: int, steps: int) -> None:
    Isolation.env = env
    try:
        run_state_machine_as_test(Isolation, settings=settings(
            max_examples=examples, stateful_step_count=steps, deadline=None, print_blob=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                   HealthCheck.function_scoped_fixture]))
    finally:
        Isolation.env = None


@pytest.mark.timeout(900)  # 1,000 examples take ~3 minutes; a failure's shrinking needs room
def test_no_operation_crosses_a_workspace_and_every_decision_is_the_policys(env, request):
    backend = request.node.callspec.params["env"]
    examples = (1000 if backend == "sqlite" else 100) if CI else (100 if backend == "sqlite" else 20)
    _run(env, examples, steps=STEPS)
