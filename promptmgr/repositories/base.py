"""The one place that applies tenant isolation: every query starts from _scoped(), or is a
prebuilt statement from scoped_statement() run by _run(), which binds the caller's tenant."""
from __future__ import annotations

import functools

from sqlalchemy import bindparam
from sqlmodel import Session, SQLModel, select

from ..context import TenantContext


TENANT_PARAM = "scope_tenant_id"


def scoped_statement(model: type[SQLModel], *entities):
    """Like Repository._scoped, for a statement built once and run many times (a hot path: building
    a statement costs more than running it on SQLite). The tenant is a required parameter that only
    Repository._run supplies, so the statement cannot run unscoped."""
    return select(*(entities or (model,))).select_from(model).where(
        model.tenant_id == bindparam(TENANT_PARAM, required=True))


@functools.cache
def _member_name_statement():
    from ..models import Membership, User

    return (scoped_statement(Membership, User.username).join(User, User.id == Membership.user_id)
            .where(User.id == bindparam("user_id")))


class Repository:
    def __init__(self, session: Session, ctx: TenantContext):
        self.session = session
        self.ctx = ctx

    def _scoped(self, model: type[SQLModel], *entities):
        """SELECT entities (default: the model) FROM model, restricted to the caller's tenant."""
        return select(*(entities or (model,))).select_from(model).where(model.tenant_id == self.ctx.tenant_id)

    def _run(self, statement, **params):
        """Run a statement from scoped_statement() for the caller's tenant."""
        return self.session.exec(statement, params={**params, TENANT_PARAM: self.ctx.tenant_id})

    def _own(self, row: SQLModel) -> SQLModel:
        """Add a new row as the caller's tenant's."""
        row.tenant_id = self.ctx.tenant_id
        self.session.add(row)
        return row

    def _member_name(self, user_id: int) -> str:
        """The username of a member of the caller's workspace ("" for anyone else): authors and
        labellers are shown by name, never a person outside the workspace."""
        return self._run(_member_name_statement(), user_id=user_id).first() or ""

    def _owned_dict(self, values: dict) -> dict:
        """Core bulk inserts: the same stamping as _own for plain rows."""
        return {**values, "tenant_id": self.ctx.tenant_id}
