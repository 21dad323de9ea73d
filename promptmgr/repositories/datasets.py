"""Data access for datasets, their immutable versions and rows."""
from __future__ import annotations

from sqlalchemy import delete, func, insert, update

from ..models_experiments import Dataset, DatasetRow, DatasetVersion
from .base import Repository

# Rows read per query when streaming a version (keyset pages by position).
PAGE = 1000


class DatasetRepository(Repository):
    def get(self, name: str) -> Dataset | None:
        return self.session.exec(self._scoped(Dataset).where(Dataset.name == name)).first()

    def all(self) -> list[Dataset]:
        return list(self.session.exec(self._scoped(Dataset).order_by(Dataset.name)).all())

    def add(self, dataset: Dataset) -> Dataset:
        self._own(dataset)
        self.session.flush()
        return dataset

    def version(self, dataset: Dataset, number: int) -> DatasetVersion | None:
        return self.session.exec(self._scoped(DatasetVersion).where(
            DatasetVersion.dataset_id == dataset.id, DatasetVersion.number == number)).first()

    def versions(self, dataset: Dataset) -> list[DatasetVersion]:
        return list(self.session.exec(self._scoped(DatasetVersion).where(
            DatasetVersion.dataset_id == dataset.id).order_by(DatasetVersion.number)).all())

    def latest_versions(self, dataset_ids: list[int]) -> dict[int, DatasetVersion]:
        """Each dataset's newest version (for listings)."""
        if not dataset_ids:
            return {}
        rows = self.session.exec(self._scoped(DatasetVersion).where(DatasetVersion.dataset_id.in_(dataset_ids)).join(
            Dataset, (Dataset.id == DatasetVersion.dataset_id) & (Dataset.latest_version == DatasetVersion.number)))
        return {v.dataset_id: v for v in rows}

    def add_version(self, version: DatasetVersion) -> DatasetVersion:
        self._own(version)
        self.session.flush()
        return version

    def advance(self, dataset: Dataset, expected: int, fields: dict) -> bool:
        """Move latest_version from `expected` to expected + 1; False when another writer moved it."""
        result = self.session.execute(
            update(Dataset).where(Dataset.id == dataset.id, Dataset.tenant_id == self.ctx.tenant_id,
                                  Dataset.latest_version == expected)
            .values(latest_version=expected + 1, **fields))
        return result.rowcount == 1

    def finish_version(self, version: DatasetVersion, row_count: int, columns: list[str]) -> None:
        version.row_count = row_count
        version.columns = columns
        self.session.add(version)
        self.session.flush()

    def insert_rows(self, rows: list[dict]) -> None:
        """Core executemany: ORM inserts with RETURNING would run one statement per row on SQLite."""
        if rows:
            self.session.connection().execute(insert(DatasetRow.__table__), [self._owned_dict(r) for r in rows])

    def rows_page(self, version_id: int, after: int, limit: int) -> list[DatasetRow]:
        """Rows of a version with position > after, in order (keyset paging: every page is one
        index range, however deep)."""
        return list(self.session.exec(self._scoped(DatasetRow).where(
            DatasetRow.version_id == version_id, DatasetRow.position > after)
            .order_by(DatasetRow.position).limit(limit)).all())

    def count_rows(self, version_id: int) -> int:
        return self.session.exec(self._scoped(DatasetRow, func.count()).where(
            DatasetRow.version_id == version_id)).one()

    def delete(self, dataset: Dataset) -> None:
        # Children first and explicitly: SQLite's cascade needs its pragma on every connection.
        version_ids = self._scoped(DatasetVersion, DatasetVersion.id).where(DatasetVersion.dataset_id == dataset.id)
        self.session.execute(delete(DatasetRow).where(DatasetRow.tenant_id == self.ctx.tenant_id,
                                                      DatasetRow.version_id.in_(version_ids)))
        self.session.execute(delete(DatasetVersion).where(DatasetVersion.tenant_id == self.ctx.tenant_id,
                                                          DatasetVersion.dataset_id == dataset.id))
        self.session.delete(dataset)
        self.session.flush()

    def username(self, user_id: int | None) -> str:
        if user_id is None:
            return ""
        return self._member_name(user_id)
