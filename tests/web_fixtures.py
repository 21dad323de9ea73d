"""Hosted-mode fixtures shared by the HTTP and browser tests: services in multi mode (cheap argon2,
a secret key) with two workspaces and a member of every role, and the app built over them."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

PASSWORD = "correct horse battery staple 42"
SECRET_KEY = "test-secret-key-for-hosted-mode-0123456789"
ROLES = ("viewer", "editor", "admin", "owner")


@dataclass
class Hosted:
    services: object
    users: dict = field(default_factory=dict)  # role -> email (all members of "alpha")
    both: str = ""  # an editor in "alpha" and a viewer in "beta"

    def ctx(self, slug: str = "alpha"):
        return self.services.accounts.operator_context(slug)


def multi_settings(home, db_url, **extra):
    """No refresh-reuse grace in the auth service: the web layer's own per-client reuse of one
    rotation (web/session.py) must carry a page's parallel requests, and a second presentation from
    anywhere else revokes the session at once."""
    from promptmgr.config import Settings

    extra.setdefault("refresh_reuse_grace_seconds", 0)
    return Settings(home=home, database_url=db_url, mode="multi", load_starter=False, secret_key=SECRET_KEY,
                    argon2_memory_kib=1024, argon2_time_cost=1, **extra)


def populate(services) -> Hosted:
    """Workspaces alpha and beta; a member of each role in alpha; one person in both."""
    from promptmgr.context import TenantContext

    hosted = Hosted(services)
    operator = services.accounts
    for slug, name in (("alpha", "Alpha team"), ("beta", "Beta team")):
        operator.create_workspace(TenantContext(0, 0, "owner"), slug, name)  # the console operator
    for role in ROLES:
        email = f"{role}@example.com"
        operator.create_user(hosted.ctx("alpha"), email, PASSWORD, role)
        hosted.users[role] = email
    hosted.both = "both@example.com"
    operator.create_user(hosted.ctx("alpha"), hosted.both, PASSWORD, "editor")
    operator.create_user(hosted.ctx("beta"), hosted.both, PASSWORD, "viewer")
    return hosted


CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    found = CSRF_FIELD.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)
