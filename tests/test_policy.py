"""The one permission policy, proven on every public service method as every role.

MATRIX names, for each public method of each service, the action it performs and a call that
exercises it. A method that is missing here fails test_every_public_service_method_is_in_the_matrix,
so a new method cannot ship without deciding who may call it; the role test then proves the method
really checks (a method that forgot its require() lets a viewer through and fails)."""
from __future__ import annotations

import inspect
from dataclasses import replace

import pytest

from promptmgr.context import ROLES
from promptmgr.errors import PermissionDeniedError, PromptMgrError
from promptmgr.policy import Action, allowed, label_action, least_role
from promptmgr.schemas import PromptCreate, PromptQuery, PromptUpdate, parse

MODEL = "fake/fake-model"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
SERVICES = ("admin", "library", "transfer", "providers", "testing", "enhance", "builder", "files", "datasets",
            "experiments", "experiment_runs")
# Composition-root helpers, not callable by a caller: they create the caller's context.
NOT_CALLER_FACING = {("admin", "ensure_tenant"), ("admin", "local_context"), ("library", "apply_update"),
                     ("admin", "apply_preferences"),
                     ("audit", "record")}


def _document(s, ctx):
    return {"format": "promptmgr-library", "prompts": [{"name": "greet", "versions": [{"content": "Hi {{ name }}"}]}]}


def _dataset_file(s):
    path = s.settings.home / "rows.csv"
    path.write_text("name\nAda\n", encoding="utf-8")
    return path


def _import_into(s, ctx):
    with s.db.session(write=True) as session:
        return s.transfer.import_into(session, ctx, _document(s, ctx), on_conflict="skip")


MATRIX = {
    ("admin", "preferences"): (Action.OWN_PREFERENCES, lambda s, c: s.admin.preferences(c)),
    ("admin", "save_preferences"): (Action.OWN_PREFERENCES, lambda s, c: s.admin.save_preferences(c, theme="dark")),
    ("library", "get"): (Action.READ_PROMPTS, lambda s, c: s.library.get(c, "greet")),
    ("library", "list"): (Action.READ_PROMPTS, lambda s, c: s.library.list(c, PromptQuery(q="hello"))),
    ("library", "history"): (Action.READ_PROMPTS, lambda s, c: s.library.history(c, "greet")),
    ("library", "diff"): (Action.READ_PROMPTS, lambda s, c: s.library.diff(c, "greet", 1, 1)),
    ("library", "categories"): (Action.READ_PROMPTS, lambda s, c: s.library.categories(c)),
    ("library", "tags"): (Action.READ_PROMPTS, lambda s, c: s.library.tags(c)),
    ("library", "render"): (Action.READ_PROMPTS, lambda s, c: s.library.render(c, "greet", {"name": "Ada"})),
    ("library", "create"): (Action.WRITE_PROMPTS, lambda s, c: s.library.create(
        c, parse(PromptCreate, {"name": f"new-{c.role}", "content": "x"}))),
    ("library", "update"): (Action.WRITE_PROMPTS, lambda s, c: s.library.update(
        c, "greet", parse(PromptUpdate, {"title": f"by {c.role}"}))),
    ("library", "restore"): (Action.WRITE_PROMPTS, lambda s, c: s.library.restore(c, "greet", 1)),
    ("library", "delete"): (Action.WRITE_PROMPTS, lambda s, c: s.library.delete(c, "doomed")),
    ("library", "set_label"): (Action.MOVE_LABEL, lambda s, c: s.library.set_label(c, "greet", "staging")),
    ("library", "remove_label"): (Action.MOVE_LABEL, lambda s, c: s.library.remove_label(c, "greet", "beta")),
    ("transfer", "export"): (Action.EXPORT, lambda s, c: s.transfer.export(c)),
    ("transfer", "import_"): (Action.IMPORT, lambda s, c: s.transfer.import_(c, _document(s, c), on_conflict="skip")),
    ("transfer", "import_into"): (Action.IMPORT, lambda s, c: _import_into(s, c)),
    ("providers", "add"): (Action.MANAGE_PROVIDERS, lambda s, c: s.providers.add(c, "other", "http://127.0.0.1:9/v1")),
    ("providers", "remove"): (Action.MANAGE_PROVIDERS, lambda s, c: s.providers.remove(c, "spare")),
    ("providers", "test_connection"): (Action.MANAGE_PROVIDERS, lambda s, c: s.providers.test_connection(c, "fake")),
    ("providers", "discover_models"): (Action.READ_MODELS, lambda s, c: s.providers.discover_models(c)),
    ("providers", "set_price"): (Action.MANAGE_PRICES, lambda s, c: s.providers.set_price(c, MODEL, 0.1, 0.2)),
    ("providers", "remove_price"): (Action.MANAGE_PRICES, lambda s, c: s.providers.remove_price(c, "fake/priced")),
    ("providers", "set_default_model"): (Action.SET_DEFAULT_MODEL,
                                         lambda s, c: s.providers.set_default_model(c, MODEL)),
    ("providers", "list"): (Action.READ_MODELS, lambda s, c: s.providers.list(c)),
    ("providers", "get"): (Action.READ_MODELS, lambda s, c: s.providers.get(c, "fake")),
    ("providers", "prices"): (Action.READ_MODELS, lambda s, c: s.providers.prices(c)),
    ("providers", "default_model"): (Action.READ_MODELS, lambda s, c: s.providers.default_model(c)),
    ("providers", "default_status"): (Action.READ_MODELS, lambda s, c: s.providers.default_status(c)),
    ("providers", "resolve"): (Action.READ_MODELS, lambda s, c: s.providers.resolve(c, MODEL)),
    ("providers", "missing_key"): (Action.READ_MODELS, lambda s, c: s.providers.missing_key(c, MODEL)),
    ("providers", "overview"): (Action.READ_MODELS, lambda s, c: s.providers.overview(c, limit=5)),
    ("providers", "run_secrets"): (Action.RUN_MODELS, lambda s, c: s.providers.run_secrets(c, [])),
    ("testing", "estimate"): (Action.READ_MODELS, lambda s, c: s.testing.estimate(c, "hello", MODEL)),
    ("testing", "prepare"): (Action.READ_PROMPTS, lambda s, c: s.testing.prepare(c, "greet", variables={"name": "A"})),
    ("testing", "list_runs"): (Action.READ_RUNS, lambda s, c: s.testing.list_runs(c)),
    ("testing", "get_run"): (Action.READ_RUNS, lambda s, c: s.testing.get_run(c, 1)),
    ("testing", "run"): (Action.RUN_MODELS, lambda s, c: s.testing.run(c, "greet", model=MODEL,
                                                                         variables={"name": "A"})),
    ("testing", "run_many"): (Action.RUN_MODELS, lambda s, c: s.testing.run_many(c, "greet", [MODEL],
                                                                                   variables={"name": "A"})),
    ("testing", "stream"): (Action.RUN_MODELS, lambda s, c: list(s.testing.stream(c, "greet", model=MODEL,
                                                                                   variables={"name": "A"}))),
    ("testing", "stream_many"): (Action.RUN_MODELS, lambda s, c: list(s.testing.stream_many(
        c, "greet", [MODEL], variables={"name": "A"}))),
    ("testing", "run_messages"): (Action.RUN_MODELS, lambda s, c: s.testing.run_messages(
        c, [{"role": "user", "content": "hi"}], model=MODEL)),
    ("enhance", "enhance"): (Action.RUN_MODELS, lambda s, c: s.enhance.enhance(c, "greet", "enhancer", model=MODEL)),
    ("enhance", "translate"): (Action.RUN_MODELS, lambda s, c: s.enhance.translate(c, "greet", "German", model=MODEL)),
    ("enhance", "accept"): (Action.WRITE_PROMPTS, lambda s, c: s.enhance.accept(c, "greet", "Hi {{ name }}!")),
    ("builder", "templates"): (Action.READ_PROMPTS, lambda s, c: s.builder.templates(c)),
    ("builder", "template"): (Action.READ_PROMPTS, lambda s, c: s.builder.template(c, "sequential")),
    ("builder", "preview"): (Action.READ_PROMPTS, lambda s, c: s.builder.preview(c, ["greet"])),
    ("builder", "save"): (Action.WRITE_PROMPTS, lambda s, c: s.builder.save(c, f"built-{c.role}", ["greet"])),
    ("files", "store_image"): (Action.UPLOAD_FILES, lambda s, c: s.files.store_image(c, "a.png", PNG)),
    ("files", "resolve"): (Action.READ_PROMPTS, lambda s, c: s.files.resolve(c, "file:missing.png")),
    ("files", "cleanup_unreferenced"): (Action.WRITE_PROMPTS, lambda s, c: s.files.cleanup_unreferenced(c)),
    ("datasets", "add"): (Action.WRITE_DATASETS, lambda s, c: s.datasets.add(c, f"ds-{c.role}", _dataset_file(s))),
    ("datasets", "list"): (Action.READ_DATASETS, lambda s, c: s.datasets.list(c)),
    ("datasets", "get"): (Action.READ_DATASETS, lambda s, c: s.datasets.get(c, "rows")),
    ("datasets", "rows"): (Action.READ_DATASETS, lambda s, c: list(s.datasets.rows(c, "rows"))),
    ("datasets", "export"): (Action.READ_DATASETS, lambda s, c: s.datasets.export(
        c, "rows", s.settings.home / f"export-{c.role}.jsonl")),
    ("datasets", "remove"): (Action.WRITE_DATASETS, lambda s, c: s.datasets.remove(c, "doomed-rows")),
    ("experiments", "create"): (Action.RUN_EXPERIMENTS, lambda s, c: s.experiments.create(
        c, f"exp-{c.role}", dataset="rows", prompts=["greet"], models=[MODEL])),
    ("experiments", "list"): (Action.READ_EXPERIMENTS, lambda s, c: s.experiments.list(c)),
    ("experiments", "get"): (Action.READ_EXPERIMENTS, lambda s, c: s.experiments.get(c, "ab")),
    ("experiments", "remove"): (Action.RUN_EXPERIMENTS, lambda s, c: s.experiments.remove(c, "doomed-ab")),
    # An unknown experiment: NotFoundError once past the policy (the runner's own tests run real ones).
    ("experiment_runs", "estimate"): (Action.READ_EXPERIMENTS, lambda s, c: s.experiment_runs.estimate(c, "none")),
    ("experiment_runs", "run"): (Action.RUN_EXPERIMENTS, lambda s, c: s.experiment_runs.run(c, "none")),
    ("experiment_runs", "resume"): (Action.RUN_EXPERIMENTS, lambda s, c: s.experiment_runs.resume(c, "none")),
    ("experiment_runs", "cancel"): (Action.RUN_EXPERIMENTS, lambda s, c: s.experiment_runs.cancel(c, "none")),
    ("experiment_runs", "join"): (Action.RUN_EXPERIMENTS, lambda s, c: s.experiment_runs.join(c, "none")),
    ("experiment_runs", "mark_running"): (Action.RUN_EXPERIMENTS,
                                          lambda s, c: s.experiment_runs.mark_running(c, "none")),
    ("experiment_runs", "pause"): (Action.RUN_EXPERIMENTS, lambda s, c: s.experiment_runs.pause(c, "none")),
}
# Experiment results (issue 9): reading needs a viewer, labelling and importing an editor.
SERVICES += ("results",)
MATRIX.update({
    ("results", "show"): (Action.READ_EXPERIMENTS, lambda s, c: s.results.show(c, "no-such-experiment")),
    ("results", "results"): (Action.READ_EXPERIMENTS,
                             lambda s, c: s.results.results(c, "no-such-experiment", "json")),
    ("results", "label"): (Action.RUN_EXPERIMENTS, lambda s, c: s.results.label(c, "no-such-experiment", 1, True)),
    ("results", "import_promptfoo"): (Action.RUN_EXPERIMENTS, lambda s, c: s.results.import_promptfoo(
        c, "/nonexistent/promptfooconfig.yaml")),
    ("results", "export_promptfoo"): (Action.READ_EXPERIMENTS,
                                      lambda s, c: s.results.export_promptfoo(c, "no-such-experiment")),
})
# Hosted mode (issue 11): sessions, workspaces, members, MFA. Logging in, refreshing, following a
# link and the console operator's helpers run before there is a caller (they make the context).
SERVICES += ("auth", "accounts", "mfa")
NOT_CALLER_FACING |= {("auth", m) for m in ("login", "refresh", "logout", "verify_session", "verify_access",
                                             "csrf_token", "check_csrf")}
NOT_CALLER_FACING |= {("accounts", m) for m in ("operator_context", "operator_workspaces", "ensure_first_owner",
                                                 "accept_invitation", "request_password_reset",
                                                 "confirm_password_reset")}
NOBODY = "nobody@example.org"  # not a member: NotFoundError once past the policy
MATRIX.update({
    ("auth", "switch_workspace"): (Action.OWN_PREFERENCES,
                                   lambda s, c: s.auth.switch_workspace(c, "not-a-refresh-token", "local")),
    ("accounts", "create_workspace"): (Action.CREATE_WORKSPACE,
                                       lambda s, c: s.accounts.create_workspace(c, f"ws-{c.role}", "W")),
    ("accounts", "workspaces"): (Action.OWN_PREFERENCES, lambda s, c: s.accounts.workspaces(c)),
    ("accounts", "settings_of"): (Action.MANAGE_MEMBERS, lambda s, c: s.accounts.settings_of(c)),
    ("accounts", "update_settings"): (Action.TENANT_SETTINGS,
                                      lambda s, c: s.accounts.update_settings(c, require_mfa="none")),
    ("accounts", "members"): (Action.MANAGE_MEMBERS, lambda s, c: s.accounts.members(c)),
    ("accounts", "create_user"): (Action.MANAGE_MEMBERS, lambda s, c: s.accounts.create_user(
        c, f"{c.role}@example.org", "a long unusual passphrase", "viewer")),
    ("accounts", "invite"): (Action.MANAGE_MEMBERS, lambda s, c: s.accounts.invite(c, f"i-{c.role}@example.org")),
    ("accounts", "reset_link"): (Action.MANAGE_MEMBERS, lambda s, c: s.accounts.reset_link(c, NOBODY)),
    ("accounts", "set_role"): (Action.MANAGE_MEMBERS, lambda s, c: s.accounts.set_role(c, NOBODY, "viewer")),
    ("accounts", "remove_member"): (Action.MANAGE_MEMBERS, lambda s, c: s.accounts.remove_member(c, NOBODY)),
    ("accounts", "set_active"): (Action.DEACTIVATE_USERS, lambda s, c: s.accounts.set_active(c, NOBODY, True)),
    ("accounts", "change_password"): (Action.OWN_PREFERENCES,
                                      lambda s, c: s.accounts.change_password(c, "wrong", "whatever it is")),
    ("mfa", "status"): (Action.OWN_PREFERENCES, lambda s, c: s.mfa.status(c)),
    ("mfa", "begin_enrolment"): (Action.OWN_PREFERENCES, lambda s, c: s.mfa.begin_enrolment(c)),
    ("mfa", "confirm_enrolment"): (Action.OWN_PREFERENCES, lambda s, c: s.mfa.confirm_enrolment(c, "000000")),
    ("mfa", "reset"): (Action.MANAGE_MEMBERS, lambda s, c: s.mfa.reset(c, 999_999)),
})
# The audit log (issue 11): reading it needs an admin.
SERVICES += ("audit",)
MATRIX.update({
    ("audit", "list"): (Action.READ_AUDIT, lambda s, c: s.audit.list(c)),
    ("audit", "actions"): (Action.READ_AUDIT, lambda s, c: s.audit.actions(c)),
    ("audit", "export_csv"): (Action.READ_AUDIT, lambda s, c: s.audit.export_csv(c)),
})
# The Experiments tab (issue 10): editing dataset rows, progress, trying checks, background jobs.
SERVICES += ("experiment_jobs",)
MATRIX.update({
    ("datasets", "edit_rows"): (Action.WRITE_DATASETS, lambda s, c: s.datasets.edit_rows(
        c, "no-such-dataset", base_version=1, added=[{"vars": {"name": "x"}}])),
    ("experiment_runs", "progress"): (Action.READ_EXPERIMENTS, lambda s, c: s.experiment_runs.progress(c, "none")),
    ("experiment_runs", "try_row"): (Action.RUN_EXPERIMENTS, lambda s, c: s.experiment_runs.try_row(
        c, dataset="no-such-dataset", prompt="greet", model=MODEL, checks=[])),
    ("experiment_jobs", "start"): (Action.RUN_EXPERIMENTS, lambda s, c: s.experiment_jobs.start(c, "none")),
    ("experiment_jobs", "pause"): (Action.RUN_EXPERIMENTS, lambda s, c: s.experiment_jobs.pause(c, "none")),
    ("experiment_jobs", "cancel"): (Action.RUN_EXPERIMENTS, lambda s, c: s.experiment_jobs.cancel(c, "none")),
    ("experiment_jobs", "state"): (Action.READ_EXPERIMENTS, lambda s, c: s.experiment_jobs.state(c, "none")),
    ("experiment_jobs", "live_names"): (Action.READ_EXPERIMENTS, lambda s, c: s.experiment_jobs.live_names(c)),
    ("experiment_jobs", "wait"): (Action.READ_EXPERIMENTS, lambda s, c: s.experiment_jobs.wait(c, "none", 0)),
})
# Analytics (issue 10): reading aggregates of runs needs a viewer.
SERVICES += ("analytics",)
MATRIX.update({("analytics", m): (Action.READ_ANALYTICS, (lambda m: lambda s, c: getattr(s.analytics, m)(c))(m))
               for m in ("totals", "timeline", "by_model", "by_prompt", "dashboard")})
# Single sign-on (services/sso.py) starts a session from a verified id_token: no caller yet either.
SERVICES += ("sso",)
NOT_CALLER_FACING |= {("sso", "login")}
# Beyond the method's own action: the same method may need more for some arguments.
EXTRA_CASES = {
    "move the protected label": (Action.MOVE_PROTECTED_LABEL,
                                 lambda s, c: s.library.set_label(c, "greet", "production")),
    "import with overwrite": (Action.IMPORT_OVERWRITE,
                              lambda s, c: s.transfer.import_(c, _document(s, c), on_conflict="overwrite")),
}


def _public_methods(services) -> set[tuple[str, str]]:
    found = set()
    for name in SERVICES:
        for method, fn in inspect.getmembers(type(getattr(services, name)), inspect.isfunction):
            if not method.startswith("_"):
                found.add((name, method))
    return found - NOT_CALLER_FACING


@pytest.fixture
def world(services, ctx, fake_llm):
    """A tenant with a prompt, an enhancer, labels, a provider, a price and a stored run."""
    services.providers.add(ctx, "fake", fake_llm.base_url, api_key="sk-policy-key-0123456789")
    services.providers.add(ctx, "spare", fake_llm.base_url)
    services.providers.set_price(ctx, "fake/priced", 0.1, 0.2)
    services.library.create(ctx, parse(PromptCreate, {"name": "greet", "content": "Hello {{ name }}"}))
    services.library.create(ctx, parse(PromptCreate, {"name": "doomed", "content": "bye"}))
    services.library.create(ctx, parse(PromptCreate, {"name": "enhancer", "content": "Improve: {{ prompt }}",
                                                       "is_enhancement": True}))
    services.library.set_label(ctx, "greet", "beta")
    services.testing.run_messages(ctx, [{"role": "user", "content": "hi"}], model=MODEL)
    services.datasets.add(ctx, "rows", _dataset_file(services))
    services.datasets.add(ctx, "doomed-rows", _dataset_file(services))
    services.experiments.create(ctx, "ab", dataset="rows", prompts=["greet"], models=[MODEL])
    return services


def test_the_table_is_ordered_by_role():
    for action in Action:
        ranks = [allowed(role, action) for role in ROLES]
        assert ranks == sorted(ranks), f"{action}: a higher role must be able to do what a lower one can"
        assert allowed(least_role(action), action)
    assert not allowed("intruder", Action.READ_PROMPTS)
    assert label_action("production") is Action.MOVE_PROTECTED_LABEL
    assert label_action("staging") is Action.MOVE_LABEL


def test_every_public_service_method_is_in_the_matrix(services):
    found = _public_methods(services)
    assert found - set(MATRIX) == set(), "public service methods without a policy entry"
    assert set(MATRIX) - found == set(), "matrix entries for methods that no longer exist"


@pytest.mark.parametrize("role", ROLES)
def test_every_method_allows_and_denies_as_the_table_says(world, ctx, role):
    caller = replace(ctx, role=role)
    wrong = []
    cases = {f"{svc}.{method}": entry for (svc, method), entry in MATRIX.items()}
    cases.update(EXTRA_CASES)
    for name, (action, call) in cases.items():
        try:
            call(world, caller)
            denied = False
        except PermissionDeniedError:
            denied = True
        except PromptMgrError:
            denied = False  # got past the policy and failed on the input: allowed
        if denied == allowed(role, action):
            wrong.append(f"{name}: {'denied' if denied else 'allowed'} for {role}, the table says "
                         f"{'allowed' if allowed(role, action) else 'denied'} ({action.value})")
    assert wrong == []


def test_a_denied_write_changes_nothing(world, ctx):
    viewer = replace(ctx, role="viewer")
    before = world.transfer.export(ctx)
    for call in (lambda: world.library.delete(viewer, "greet"),
                 lambda: world.library.update(viewer, "greet", parse(PromptUpdate, {"content": "x",
                                                                                    "base_version": 1})),
                 lambda: world.transfer.import_(viewer, _document(world, viewer), on_conflict="overwrite"),
                 lambda: world.files.store_image(viewer, "a.png", PNG)):
        with pytest.raises(PermissionDeniedError):
            call()
    after = world.transfer.export(ctx)
    before.pop("exported_at", None), after.pop("exported_at", None)
    assert after == before
    assert not any(path.is_file() for path in world.settings.files_dir.rglob("*"))
