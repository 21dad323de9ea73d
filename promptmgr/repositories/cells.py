"""Data access for running experiments: claiming cells, finishing them with their Run rows, and
the experiment facts the runner needs.

A cell is claimed by setting status "running" with the runner's id (host:pid:token) and a lease
time. PostgreSQL claims with `FOR UPDATE SKIP LOCKED`, so concurrent runners never take the same
cell; SQLite serializes writing transactions (BEGIN IMMEDIATE, see db.py), which gives the same
guarantee. Finishing writes the Run rows and the cell results in one transaction and only for
cells this runner still holds, so a batch written twice, or late after its claim was taken over,
changes nothing."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, or_, update

from ..models import Prompt, Run, utcnow
from ..models_experiments import Cell, DatasetRow, Experiment, Variant
from .base import Repository

FINAL = ("done", "error")


@dataclass(slots=True)
class ClaimedCell:
    id: int
    variant_id: int
    row_id: int
    row_position: int
    repeat: int


@dataclass(slots=True)
class CellOutcome:
    """One finished cell: the Run to store (column values) and the cell's results."""

    cell_id: int
    run: dict[str, Any]
    status: str                     # done | error
    error_code: str | None
    passed: bool | None
    score: float | None
    scores: list
    cost: float
    judge_cost: float = 0.0
    judge_tokens: int = 0


class CellRepository(Repository):
    # -- experiment facts ------------------------------------------------------------------------
    def experiment(self, name: str, *, lock: bool = False) -> Experiment | None:
        statement = self._scoped(Experiment).where(Experiment.name == name)
        if lock:
            statement = statement.with_for_update()
        return self.session.exec(statement).first()

    def experiment_by_id(self, experiment_id: int) -> Experiment | None:
        return self.session.exec(self._scoped(Experiment).where(Experiment.id == experiment_id)).first()

    def variants(self, experiment_id: int) -> list[Variant]:
        statement = self._scoped(Variant).where(Variant.experiment_id == experiment_id).order_by(Variant.position,
                                                                                                  Variant.id)
        return list(self.session.exec(statement).all())

    def prompt_ids(self, names: list[str]) -> dict[str, int]:
        if not names:
            return {}
        rows = self.session.exec(self._scoped(Prompt, Prompt.name, Prompt.id).where(Prompt.name.in_(names))).all()
        return {name: prompt_id for name, prompt_id in rows}

    def counts(self, experiment_id: int) -> dict[str, int]:
        """Cells by status."""
        statement = self._scoped(Cell, Cell.status, func.count()).where(
            Cell.experiment_id == experiment_id).group_by(Cell.status)
        return {status: int(n) for status, n in self.session.exec(statement).all()}

    def variant_counts(self, experiment_id: int) -> dict[int, dict[str, int]]:
        """Cells by variant id and status."""
        statement = self._scoped(Cell, Cell.variant_id, Cell.status, func.count()).where(
            Cell.experiment_id == experiment_id).group_by(Cell.variant_id, Cell.status)
        out: dict[int, dict[str, int]] = {}
        for variant_id, status, n in self.session.exec(statement).all():
            out.setdefault(variant_id, {})[status] = int(n)
        return out

    def variant_passes(self, experiment_id: int) -> dict[int, int]:
        """Finished cells that passed, by variant id (progress while a run moves)."""
        statement = self._scoped(Cell, Cell.variant_id, func.count()).where(
            Cell.experiment_id == experiment_id, Cell.status == "done", Cell.passed.is_(True)).group_by(Cell.variant_id)
        return {variant_id: int(n) for variant_id, n in self.session.exec(statement).all()}

    def spent(self, experiment_id: int) -> float:
        statement = self._scoped(Cell, func.coalesce(func.sum(Cell.cost), 0.0)).where(
            Cell.experiment_id == experiment_id, Cell.status.in_(FINAL))
        return float(self.session.exec(statement).one() or 0.0)

    def set_status(self, experiment: Experiment, status: str, key: str | None = None, params: dict | None = None,
                   **fields) -> None:
        experiment.status, experiment.status_key, experiment.status_params = status, key, params
        experiment.updated_at = utcnow()
        for name, value in fields.items():
            setattr(experiment, name, value)
        self.session.add(experiment)

    def mean_completion_tokens(self, prompt_name: str, model: str, limit: int = 200) -> float | None:
        """The mean completion tokens of the latest successful runs of this prompt on this model."""
        recent = self._scoped(Run, Run.completion_tokens).where(
            Run.prompt_name == prompt_name, Run.model == model, Run.error_code.is_(None), Run.cached.is_(False)
        ).order_by(Run.id.desc()).limit(limit).subquery()
        value = self.session.exec(func.avg(recent.c.completion_tokens).select()).one()
        value = value[0] if isinstance(value, tuple) or hasattr(value, "_mapping") else value
        return float(value) if value is not None else None

    # -- rows ------------------------------------------------------------------------------------
    def rows(self, row_ids: list[int]) -> dict[int, DatasetRow]:
        if not row_ids:
            return {}
        statement = self._scoped(DatasetRow).where(DatasetRow.id.in_(row_ids))
        return {row.id: row for row in self.session.exec(statement).all()}

    def pending_rows(self, experiment_id: int, variant_id: int, chunk: int = 1000,
                     stride: int = 1) -> Iterator[DatasetRow]:
        """The dataset rows of a variant's cells that are not final, streamed in chunks (estimates);
        with `stride` n, only every n-th cell's row (an even sample)."""
        last, seen = 0, 0
        while True:
            statement = self._scoped(Cell, Cell.id, Cell.row_id).where(
                Cell.experiment_id == experiment_id, Cell.variant_id == variant_id, Cell.status.not_in(FINAL),
                Cell.id > last).order_by(Cell.id).limit(chunk)
            pairs = self.session.exec(statement).all()
            if not pairs:
                return
            last = pairs[-1][0]
            picked = [row_id for index, (_cell, row_id) in enumerate(pairs, seen) if index % stride == 0]
            seen += len(pairs)
            rows = self.rows(list(set(picked)))
            for row_id in picked:
                yield rows[row_id]

    def finished(self, experiment_id: int, chunk: int = 5000) -> Iterator[tuple[int, int, int, bool | None]]:
        """(variant_id, row_position, repeat, passed) of final cells, streamed (early-stop replay)."""
        last = 0
        while True:
            statement = self._scoped(Cell, Cell.id, Cell.variant_id, Cell.row_position, Cell.repeat,
                                     Cell.passed).where(
                Cell.experiment_id == experiment_id, Cell.status.in_(FINAL), Cell.id > last
            ).order_by(Cell.id).limit(chunk)
            batch = self.session.exec(statement).all()
            if not batch:
                return
            last = batch[-1][0]
            for _id, variant_id, position, repeat, passed in batch:
                yield variant_id, position, repeat, passed

    # -- claiming --------------------------------------------------------------------------------
    def claimers(self, experiment_id: int) -> list[str]:
        """Runner ids holding running cells of the experiment."""
        statement = self._scoped(Cell, Cell.claimed_by).where(
            Cell.experiment_id == experiment_id, Cell.status == "running").distinct()
        return [value for value in self.session.exec(statement).all() if value]

    def recover(self, experiment_id: int, expired_before: datetime, dead: list[str]) -> int:
        """Put back to pending the running cells whose lease expired or whose runner is dead."""
        stale = or_(Cell.claimed_at.is_(None), Cell.claimed_at < expired_before)
        if dead:
            stale = or_(stale, Cell.claimed_by.in_(dead))
        ids = self._lock_ids(self._scoped(Cell, Cell.id).where(Cell.experiment_id == experiment_id,
                                                                Cell.status == "running", stale))
        total = 0
        for start in range(0, len(ids), 1000):
            result = self.session.execute(
                update(Cell).where(Cell.id.in_(ids[start:start + 1000]), Cell.status == "running")
                .values(status="pending", claimed_by=None, claimed_at=None)
                .execution_options(synchronize_session=False))
            total += int(result.rowcount or 0)
        return total

    def _lock_ids(self, statement) -> list[int]:
        """The ids a SELECT finds, row-locked on PostgreSQL (skipping rows another runner holds).

        Selected first and updated by id in a second statement: `UPDATE ... WHERE id IN (SELECT ...
        LIMIT n FOR UPDATE SKIP LOCKED)` may run its subquery once per outer row and take more."""
        if self.session.get_bind().dialect.name == "postgresql":
            statement = statement.with_for_update(skip_locked=True)
        return list(self.session.exec(statement).all())

    def claim(self, experiment_id: int, runner: str, limit: int) -> list[ClaimedCell]:
        """Atomically take up to `limit` pending cells for this runner, in cell order."""
        ids = self._lock_ids(self._scoped(Cell, Cell.id).where(
            Cell.experiment_id == experiment_id, Cell.status == "pending").order_by(Cell.id).limit(limit))
        if not ids:
            return []
        statement = (update(Cell).where(Cell.id.in_(ids), Cell.status == "pending")
                     .values(status="running", claimed_by=runner, claimed_at=utcnow())
                     .returning(Cell.id, Cell.variant_id, Cell.row_id, Cell.row_position, Cell.repeat)
                     .execution_options(synchronize_session=False))
        claimed = [ClaimedCell(*row) for row in self.session.execute(statement).all()]
        claimed.sort(key=lambda cell: cell.id)  # RETURNING order is not guaranteed
        return claimed

    def heartbeat(self, experiment_id: int, runner: str) -> None:
        """Renew the lease of every cell this runner holds."""
        held = self._scoped(Cell, Cell.id).where(Cell.experiment_id == experiment_id, Cell.status == "running",
                                                 Cell.claimed_by == runner)
        self.session.execute(update(Cell).where(Cell.id.in_(held.scalar_subquery()))
                             .values(claimed_at=utcnow()).execution_options(synchronize_session=False))

    def release(self, experiment_id: int, runner: str, cell_ids: list[int] | None = None) -> int:
        """Give back cells this runner holds but did not finish (all of them when cell_ids is None)."""
        held = self._scoped(Cell, Cell.id).where(Cell.experiment_id == experiment_id, Cell.status == "running",
                                                 Cell.claimed_by == runner)
        if cell_ids is not None:
            if not cell_ids:
                return 0
            held = held.where(Cell.id.in_(cell_ids))
        result = self.session.execute(
            update(Cell).where(Cell.id.in_(held.scalar_subquery()), Cell.claimed_by == runner)
            .values(status="pending", claimed_by=None, claimed_at=None).execution_options(synchronize_session=False))
        return int(result.rowcount or 0)

    # -- finishing -------------------------------------------------------------------------------
    def _held(self, runner: str, cell_ids: list[int]) -> set[int]:
        statement = self._scoped(Cell, Cell.id).where(Cell.id.in_(cell_ids), Cell.status == "running",
                                                      Cell.claimed_by == runner)
        if self.session.get_bind().dialect.name == "postgresql":
            statement = statement.with_for_update()  # nobody can take them over between check and write
        return set(self.session.exec(statement).all())

    def _insert_runs(self, rows: list[dict]) -> list[int]:
        """Insert Run rows; their ids in the order given."""
        if self.session.get_bind().dialect.name != "sqlite":
            return list(self.session.execute(insert(Run).returning(Run.id, sort_by_parameter_order=True),
                                             rows).scalars().all())
        # SQLite cannot order a multi-row RETURNING, so SQLAlchemy would insert row by row (~5x
        # slower). This transaction holds SQLite's write lock (BEGIN IMMEDIATE): the ids after the
        # current maximum are ours to give.
        start = int(self.session.execute(func.max(Run.id).select()).scalar() or 0)
        ids = list(range(start + 1, start + 1 + len(rows)))
        self.session.execute(insert(Run), [{**row, "id": run_id} for row, run_id in zip(rows, ids)])
        return ids

    def finish(self, runner: str, outcomes: list[CellOutcome]) -> list[CellOutcome]:
        """Store the Runs and results of cells this runner still holds; returns those written.

        Idempotent: cells already final, or claimed by another runner since, are skipped whole."""
        if not outcomes:
            return []
        held = self._held(runner, [o.cell_id for o in outcomes])
        todo = [o for o in outcomes if o.cell_id in held]
        if not todo:
            return []
        run_ids = self._insert_runs([self._owned_dict(o.run) for o in todo])
        now = utcnow()
        values = [{"b_id": o.cell_id, "b_run": run_id, "b_status": o.status, "b_code": o.error_code,
                   "b_passed": o.passed, "b_score": o.score, "b_scores": o.scores, "b_cost": o.cost,
                   "b_jcost": o.judge_cost, "b_jtokens": o.judge_tokens, "b_now": now}
                  for o, run_id in zip(todo, run_ids)]
        statement = (update(Cell.__table__)
                     .where(and_(Cell.__table__.c.id == bindparam("b_id"), Cell.__table__.c.status == "running",
                                 Cell.__table__.c.claimed_by == runner))
                     .values(run_id=bindparam("b_run"), status=bindparam("b_status"), error_code=bindparam("b_code"),
                             passed=bindparam("b_passed"), score=bindparam("b_score"), scores=bindparam("b_scores"),
                             cost=bindparam("b_cost"), judge_cost=bindparam("b_jcost"),
                             judge_tokens=bindparam("b_jtokens"), finished_at=bindparam("b_now"),
                             claimed_at=bindparam("b_now")))
        self.session.connection().execute(statement, values)
        return todo
