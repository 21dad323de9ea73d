"""Data access for stored model runs."""
from __future__ import annotations

from sqlalchemy import func

from ..models import Prompt, Run
from .base import Repository


class RunRepository(Repository):
    def prompt_id(self, name: str) -> int | None:
        """The id of the caller's prompt of this name (runs keep a link that survives renames)."""
        if not name:
            return None
        return self.session.exec(self._scoped(Prompt, Prompt.id).where(Prompt.name == name)).first()

    def add(self, run: Run) -> Run:
        if run.prompt_id is None:
            run.prompt_id = self.prompt_id(run.prompt_name)
        self._own(run)
        self.session.flush()
        return run

    def get(self, run_id: int) -> Run | None:
        return self.session.exec(self._scoped(Run).where(Run.id == run_id)).first()

    def query(self, *, prompt_name: str | None = None, model: str | None = None, batch_id: str | None = None,
              limit: int = 50, offset: int = 0) -> tuple[list[Run], int]:
        """One page of runs, newest first, and the total matching the filters."""
        statement = self._scoped(Run)
        count_statement = self._scoped(Run, func.count())
        conditions = []
        if prompt_name:
            conditions.append(Run.prompt_name == prompt_name)
        if model:
            conditions.append(Run.model == model)
        if batch_id:
            conditions.append(Run.batch_id == batch_id)
        for condition in conditions:
            statement = statement.where(condition)
            count_statement = count_statement.where(condition)
        statement = statement.order_by(Run.created_at.desc(), Run.id.desc()).limit(limit).offset(offset)
        total = self.session.exec(count_statement).one()
        return list(self.session.exec(statement).all()), total
