"""Reads of finished experiment cells for reports (show, results export) and human labels.

Cells are streamed as plain column tuples (never whole ORM objects, never all at once) from one
read-only query: a 200,000-cell export holds one chunk in memory. Its read transaction sees one
consistent snapshot and blocks no writer (PostgreSQL MVCC, SQLite WAL)."""
from __future__ import annotations

from typing import Iterator

from sqlalchemy import func

from ..models import Prompt, PromptVersion, Run
from ..models_experiments import Cell, DatasetRow, Experiment, Variant
from .base import Repository

FINISHED = ("done", "error")

# What stats needs per cell; the run gives latency and tokens (None columns for a cell without a run).
OUTCOME_COLUMNS = (Cell.id, Cell.variant_id, Cell.row_position, Cell.repeat, Cell.status, Cell.passed, Cell.score,
                   Cell.scores, Cell.cost, Cell.human_pass, Run.latency_ms, Run.prompt_tokens, Run.completion_tokens)
# What an exported result line needs: the cell, its run and its dataset row.
RESULT_COLUMNS = (Cell.id, Cell.variant_id, Cell.row_position, Cell.repeat, Cell.status, Cell.passed, Cell.score,
                  Cell.scores, Cell.cost, Cell.judge_cost, Cell.error_code, Cell.human_pass, Cell.human_score,
                  Cell.human_comment, Cell.human_at, Run.id, Run.output, Run.rendered_input, Run.prompt_tokens,
                  Run.completion_tokens, Run.latency_ms, Run.cached, Run.error_key, Run.error_params,
                  DatasetRow.uid, DatasetRow.vars, DatasetRow.expected, DatasetRow.meta)


class ExperimentResultRepository(Repository):
    def experiment(self, name: str) -> Experiment | None:
        return self.session.exec(self._scoped(Experiment).where(Experiment.name == name)).first()

    def variants(self, experiment_id: int) -> list[Variant]:
        statement = self._scoped(Variant).where(Variant.experiment_id == experiment_id)
        return list(self.session.exec(statement.order_by(Variant.position, Variant.id)).all())

    def status_counts(self, experiment_id: int) -> tuple[dict[str, int], float]:
        """Cells per status and the cost spent so far (calls and judges)."""
        statement = (self._scoped(Cell, Cell.status, func.count(), func.coalesce(func.sum(Cell.cost), 0.0))
                     .where(Cell.experiment_id == experiment_id).group_by(Cell.status))
        counts, cost = {}, 0.0
        for status, count, spent in self.session.exec(statement).all():
            counts[status] = int(count)
            cost += float(spent or 0.0)
        return counts, cost

    def _finished(self, experiment_id: int, columns: tuple, size: int, joins_row: bool) -> Iterator[list]:
        """Finished cells in id order, `size` at a time from ONE query read as it goes (a server-side
        cursor on PostgreSQL). One scan and one sort whatever the planner knows: chunked keyset
        queries re-scanned the experiment per chunk on a PostgreSQL table not analyzed yet (a fresh
        100,000-row run), 6x slower."""
        statement = self._scoped(Cell, *columns).outerjoin(Run, Run.id == Cell.run_id)
        if joins_row:
            statement = statement.join(DatasetRow, DatasetRow.id == Cell.row_id)
        statement = (statement.where(Cell.experiment_id == experiment_id, Cell.status.in_(FINISHED))
                     .order_by(Cell.id).execution_options(yield_per=size))
        for partition in self.session.execute(statement).partitions(size):
            yield [tuple(row) for row in partition]

    def outcomes(self, experiment_id: int, size: int) -> Iterator[list]:
        """Finished cells as OUTCOME_COLUMNS tuples, in id order, in lists of up to `size`."""
        return self._finished(experiment_id, OUTCOME_COLUMNS, size, joins_row=False)

    def results(self, experiment_id: int, size: int) -> Iterator[list]:
        """Finished cells as RESULT_COLUMNS tuples, in id order, in lists of up to `size`."""
        return self._finished(experiment_id, RESULT_COLUMNS, size, joins_row=True)

    def cell(self, experiment_id: int, cell_id: int) -> Cell | None:
        statement = self._scoped(Cell).where(Cell.experiment_id == experiment_id, Cell.id == cell_id)
        return self.session.exec(statement).first()

    def username(self, user_id: int | None) -> str:
        if user_id is None:
            return ""
        return self._member_name(user_id)

    def version(self, prompt_name: str, number: int) -> PromptVersion | None:
        statement = (self._scoped(PromptVersion).join(Prompt, Prompt.id == PromptVersion.prompt_id)
                     .where(Prompt.name == prompt_name, PromptVersion.number == number))
        return self.session.exec(statement).first()

    def versions_with_text(self, content: str, limit: int = 50) -> list[tuple[str, int, list | None]]:
        """(prompt name, version number, messages) of text versions whose content is exactly `content`,
        or of chat versions whose latest search text is (the caller compares their messages),
        the newest prompt first."""
        statement = (self._scoped(PromptVersion, Prompt.name, PromptVersion.number, PromptVersion.messages)
                     .join(Prompt, Prompt.id == PromptVersion.prompt_id)
                     .where(PromptVersion.content == content)
                     .order_by(Prompt.id.desc(), PromptVersion.number.desc()).limit(limit))
        return [tuple(row) for row in self.session.exec(statement).all()]

    def chat_versions(self, limit: int = 2000) -> Iterator[tuple[str, int, list]]:
        """(prompt name, version number, messages) of chat prompt versions, newest first (bounded)."""
        statement = (self._scoped(PromptVersion, Prompt.name, PromptVersion.number, PromptVersion.messages)
                     .join(Prompt, Prompt.id == PromptVersion.prompt_id)
                     .where(Prompt.kind == "chat")
                     .order_by(Prompt.id.desc(), PromptVersion.number.desc()).limit(limit))
        for row in self.session.exec(statement).all():
            yield tuple(row)

    def dataset_rows(self, version_id: int, after: int, size: int) -> list[DatasetRow]:
        statement = (self._scoped(DatasetRow).where(DatasetRow.version_id == version_id, DatasetRow.position > after)
                     .order_by(DatasetRow.position).limit(size))
        return list(self.session.exec(statement).all())

    def dataset_exists(self, name: str) -> bool:
        from ..models_experiments import Dataset

        return self.session.exec(self._scoped(Dataset, Dataset.id).where(Dataset.name == name)).first() is not None

    def prompt_exists(self, name: str) -> bool:
        return self.session.exec(self._scoped(Prompt, Prompt.id).where(Prompt.name == name)).first() is not None

    def dataset_version_id(self, dataset_id: int | None, number: int) -> int | None:
        from ..models_experiments import DatasetVersion

        if dataset_id is None:
            return None
        statement = self._scoped(DatasetVersion, DatasetVersion.id).where(
            DatasetVersion.dataset_id == dataset_id, DatasetVersion.number == number)
        return self.session.exec(statement).first()
