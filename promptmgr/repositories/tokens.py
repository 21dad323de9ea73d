"""API tokens: the workspace's own (scoped by _scoped) and, for authenticating a request before
there is a caller, one lookup by the secret's hash across workspaces."""
from __future__ import annotations

import functools
from datetime import datetime

from sqlalchemy import bindparam, update
from sqlmodel import Session, select

from ..models import Membership, Tenant, User
from ..models_tokens import ApiToken
from .base import Repository


class TokenRepository(Repository):
    def tokens(self) -> list[tuple[ApiToken, User]]:
        return list(self.session.exec(self._scoped(ApiToken, ApiToken, User).join(User, User.id == ApiToken.user_id)
                                      .order_by(ApiToken.id)).all())

    def by_name(self, name: str) -> ApiToken | None:
        return self.session.exec(self._scoped(ApiToken).where(ApiToken.name == name)).first()

    def add(self, token: ApiToken) -> ApiToken:
        self._own(token)
        self.session.flush()
        return token


def token_state(session: Session, hashed: str):
    """(token, user.active, membership role or None, tenant.active, user.locale, tenant.default_locale)
    for the secret with this hash, in one query: what authenticating a request checks each time."""
    return session.exec(_token_state_statement(), params={"hashed": hashed}).first()


@functools.cache
def _token_state_statement():
    # Built once: on every API request, building it would cost more than running it.
    return (select(ApiToken, User.active, Membership.role, Tenant.active, User.locale, Tenant.default_locale)
            .join(User, User.id == ApiToken.user_id).join(Tenant, Tenant.id == ApiToken.tenant_id)
            .outerjoin(Membership, (Membership.user_id == ApiToken.user_id) & (Membership.tenant_id == ApiToken.tenant_id))
            .where(ApiToken.token_hash == bindparam("hashed", required=True)))


def touch(session: Session, token_id: int, now: datetime) -> None:
    session.exec(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
