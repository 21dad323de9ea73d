"""The one place that applies tenant isolation: every query starts from _scoped()."""
from __future__ import annotations

from sqlmodel import Session, SQLModel, select

from ..context import TenantContext


class Repository:
    def __init__(self, session: Session, ctx: TenantContext):
        self.session = session
        self.ctx = ctx

    def _scoped(self, model: type[SQLModel], *entities):
        """SELECT entities (default: the model) FROM model, restricted to the caller's tenant."""
        return select(*(entities or (model,))).select_from(model).where(model.tenant_id == self.ctx.tenant_id)

    def _own(self, row: SQLModel) -> SQLModel:
        """Add a new row as the caller's tenant's."""
        row.tenant_id = self.ctx.tenant_id
        self.session.add(row)
        return row

    def _member_name(self, user_id: int) -> str:
        """The username of a member of the caller's workspace ("" for anyone else): authors and
        labellers are shown by name, never a person outside the workspace."""
        from ..models import Membership, User

        query = self._scoped(Membership, User.username).join(User, User.id == Membership.user_id)
        return self.session.exec(query.where(User.id == user_id)).first() or ""

    def _owned_dict(self, values: dict) -> dict:
        """Core bulk inserts: the same stamping as _own for plain rows."""
        return {**values, "tenant_id": self.ctx.tenant_id}
