"""Shared set-up for the hosted-mode tests (the `hosted` fixture is in conftest.py): people in workspaces."""
from __future__ import annotations

PASSWORD = "a long unusual passphrase"
SECRET = "test-secret-key-0123456789abcdef"


def workspace(services, slug: str) -> object:
    """A workspace made by the console operator; returns its operator (owner) context."""
    accounts = services.accounts
    accounts.create_workspace(accounts.operator_context(), slug, slug.title())
    return accounts.operator_context(slug)


def person(services, ws_ctx, email: str, role: str, password: str = PASSWORD) -> dict:
    return services.accounts.create_user(ws_ctx, email, password, role)


def login(services, email: str, password: str = PASSWORD, **kw):
    return services.auth.login(email, password, **kw).session
