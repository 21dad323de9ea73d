"""Data access for experiment definitions: experiments, their variants, and creating their cells.
(Claiming and finishing cells is repositories/cells.py, the runner's.)"""
from __future__ import annotations

from sqlalchemy import delete, func, insert, literal, select, union_all

from ..models_experiments import Cell, DatasetRow, Experiment, Variant
from .base import Repository


class ExperimentRepository(Repository):
    def by_name(self, name: str) -> Experiment | None:
        return self.session.exec(self._scoped(Experiment).where(Experiment.name == name)).first()

    def all(self) -> list[Experiment]:
        return list(self.session.exec(self._scoped(Experiment).order_by(Experiment.created_at.desc(),
                                                                         Experiment.id.desc())).all())

    def add(self, experiment: Experiment) -> Experiment:
        self._own(experiment)
        self.session.flush()
        return experiment

    def add_variant(self, variant: Variant) -> Variant:
        self._own(variant)
        self.session.flush()
        return variant

    def variants(self, experiment_id: int) -> list[Variant]:
        return list(self.session.exec(self._scoped(Variant).where(Variant.experiment_id == experiment_id)
                                      .order_by(Variant.position)).all())

    def variants_of(self, experiment_ids: list[int]) -> dict[int, list[Variant]]:
        grouped: dict[int, list[Variant]] = {}
        if experiment_ids:
            for variant in self.session.exec(self._scoped(Variant).where(Variant.experiment_id.in_(experiment_ids))
                                             .order_by(Variant.experiment_id, Variant.position)):
                grouped.setdefault(variant.experiment_id, []).append(variant)
        return grouped

    def create_cells(self, experiment_id: int, version_id: int, repeats: int, first: int, last: int) -> int:
        """One pending cell per (row, repeat, variant) of the rows at positions first..last, made by
        the database itself (INSERT ... SELECT): nothing passes through Python, so any number of
        rows takes constant memory. Ordered row by row, then repeat, then variant: a runner working
        in id order pairs the variants of each row early. Returns the cells made."""
        repeat = union_all(*(select(literal(n).label("n")) for n in range(repeats))).subquery("repeat_numbers")
        rows = self._scoped(DatasetRow, DatasetRow.id, DatasetRow.position).where(
            DatasetRow.version_id == version_id, DatasetRow.position.between(first, last)).subquery("rows")
        variants = self._scoped(Variant, Variant.id, Variant.position).where(
            Variant.experiment_id == experiment_id).subquery("variants")
        scores = Cell.__table__.c.scores
        source = (select(literal(self.ctx.tenant_id), literal(experiment_id), variants.c.id, rows.c.id,
                         rows.c.position, repeat.c.n, literal("pending"), literal([], scores.type),
                         literal(0.0), literal(0.0), literal(0))
                  .select_from(rows.join(repeat, literal(True)).join(variants, literal(True)))
                  .order_by(rows.c.position, repeat.c.n, variants.c.position))
        table = Cell.__table__
        columns = [table.c.tenant_id, table.c.experiment_id, table.c.variant_id, table.c.row_id,
                   table.c.row_position, table.c.repeat, table.c.status, scores, table.c.cost,
                   table.c.judge_cost, table.c.judge_tokens]
        # preserve_rowcount: otherwise psycopg's cursor is closed (and its count lost) before it is read.
        statement = insert(table).from_select(columns, source).execution_options(preserve_rowcount=True)
        return self.session.connection().execute(statement).rowcount

    def cell_counts(self, experiment_ids: list[int]) -> dict[int, dict[str, int]]:
        """{experiment id: {status: count}}."""
        counts: dict[int, dict[str, int]] = {}
        if experiment_ids:
            rows = self.session.exec(self._scoped(Cell, Cell.experiment_id, Cell.status, func.count())
                                     .where(Cell.experiment_id.in_(experiment_ids))
                                     .group_by(Cell.experiment_id, Cell.status))
            for experiment_id, status, n in rows:
                counts.setdefault(experiment_id, {})[status] = n
        return counts

    def names_using_dataset(self, dataset_id: int) -> list[str]:
        return list(self.session.exec(self._scoped(Experiment, Experiment.name)
                                      .where(Experiment.dataset_id == dataset_id).order_by(Experiment.name)).all())

    def delete(self, experiment: Experiment) -> None:
        # Children first and explicitly (see DatasetRepository.delete); runs stay in the history.
        for model in (Cell, Variant):
            self.session.execute(delete(model).where(model.tenant_id == self.ctx.tenant_id,
                                                     model.experiment_id == experiment.id))
        self.session.delete(experiment)
        self.session.flush()

    def username(self, user_id: int | None) -> str:
        if user_id is None:
            return ""
        return self._member_name(user_id)
