"""Paged reads of an experiment's matrix (rows x variants) and of one cell, for the results view.

A matrix line is one (dataset row, repeat). Filters are decided in the database by one GROUP BY
over the experiment's cells (counts of passes, failures and errors per line), so a page costs one
aggregate query plus one query for the cells of its lines, whatever the experiment's size.
Outputs are cut in the database (substr): a page never carries whole long outputs."""
from __future__ import annotations

from sqlalchemy import and_, case, func, or_

from ..models import Run
from ..models_experiments import Cell, DatasetRow, Variant
from .experiment_results import ExperimentResultRepository

FILTERS = ("all", "disagree", "failures", "errors")


class ExperimentReviewRepository(ExperimentResultRepository):
    def _lines(self, experiment_id: int, filter: str):
        done = Cell.status == "done"
        passes = func.sum(case((and_(done, Cell.passed.is_(True)), 1), else_=0))
        fails = func.sum(case((and_(done, or_(Cell.passed.is_(False), Cell.passed.is_(None))), 1), else_=0))
        errors = func.sum(case((Cell.status == "error", 1), else_=0))
        statement = (self._scoped(Cell, Cell.row_position, Cell.repeat)
                     .where(Cell.experiment_id == experiment_id)
                     .group_by(Cell.row_position, Cell.repeat))
        if filter == "disagree":
            statement = statement.having(and_(passes > 0, fails > 0))
        elif filter == "failures":
            statement = statement.having(fails > 0)
        elif filter == "errors":
            statement = statement.having(errors > 0)
        return statement

    def count_lines(self, experiment_id: int, filter: str) -> int:
        inner = self._lines(experiment_id, filter).subquery()
        return int(self.session.execute(func.count().select().select_from(inner)).scalar() or 0)

    def lines(self, experiment_id: int, filter: str, offset: int, limit: int) -> list[tuple[int, int]]:
        """(row position, repeat) of the page's lines, in dataset order."""
        statement = (self._lines(experiment_id, filter).order_by(Cell.row_position, Cell.repeat)
                     .offset(offset).limit(limit))
        return [(int(row), int(repeat)) for row, repeat in self.session.execute(statement).all()]

    def cells_of(self, experiment_id: int, positions: list[int], output_chars: int) -> list[tuple]:
        """(cell id, variant id, row position, repeat, status, passed, human_pass, output start, row vars)
        of every cell on the given dataset rows."""
        if not positions:
            return []
        statement = (self._scoped(Cell, Cell.id, Cell.variant_id, Cell.row_position, Cell.repeat, Cell.status,
                                  Cell.passed, Cell.human_pass, func.substr(Run.output, 1, output_chars),
                                  DatasetRow.vars)
                     .outerjoin(Run, Run.id == Cell.run_id)
                     .join(DatasetRow, DatasetRow.id == Cell.row_id)
                     .where(Cell.experiment_id == experiment_id, Cell.row_position.in_(positions)))
        return [tuple(row) for row in self.session.execute(statement).all()]

    def cell_detail(self, experiment_id: int, cell_id: int) -> tuple | None:
        statement = (self._scoped(Cell, Cell, Run, DatasetRow, Variant.name)
                     .outerjoin(Run, Run.id == Cell.run_id)
                     .join(DatasetRow, DatasetRow.id == Cell.row_id)
                     .join(Variant, Variant.id == Cell.variant_id)
                     .where(Cell.experiment_id == experiment_id, Cell.id == cell_id))
        found = self.session.execute(statement).first()
        return None if found is None else tuple(found)

    def latency_range(self, experiment_id: int) -> tuple[float | None, float | None]:
        statement = (self._scoped(Cell, func.min(Run.latency_ms), func.max(Run.latency_ms))
                     .join(Run, Run.id == Cell.run_id)
                     .where(Cell.experiment_id == experiment_id, Cell.status == "done"))
        low, high = self.session.execute(statement).one()
        return (None if low is None else float(low)), (None if high is None else float(high))

    def latency_counts(self, experiment_id: int, edges: list[float]) -> dict[int, list[int]]:
        """Variant id -> counts of done cells with latency below each edge (cumulative): one
        aggregate query, whatever the number of cells."""
        below = [func.sum(case((Run.latency_ms < edge, 1), else_=0)) for edge in edges]
        statement = (self._scoped(Cell, Cell.variant_id, func.count(), *below)
                     .join(Run, Run.id == Cell.run_id)
                     .where(Cell.experiment_id == experiment_id, Cell.status == "done")
                     .group_by(Cell.variant_id))
        return {int(row[0]): [int(row[1])] + [int(value or 0) for value in row[2:]]
                for row in self.session.execute(statement).all()}

    def labelled(self, experiment_id: int) -> list[tuple]:
        """(variant id, status, passed, scores, human_pass) of finished cells a person labelled: as
        many as people labelled, so few, whatever the experiment's size."""
        statement = (self._scoped(Cell, Cell.variant_id, Cell.status, Cell.passed, Cell.scores, Cell.human_pass)
                     .where(Cell.experiment_id == experiment_id, Cell.human_pass.is_not(None),
                            Cell.status.in_(("done", "error")))
                     .order_by(Cell.id))
        return [tuple(row) for row in self.session.execute(statement).all()]
