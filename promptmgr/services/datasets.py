"""Datasets: named tables of test rows with immutable versions, imported from and exported to files.

Adding a file under an existing name makes a new version; versions are never changed, so an
experiment pinned to (dataset, version) always sees the rows it ran on. An import streams the file
and inserts rows in chunks inside one transaction: a bad row anywhere leaves nothing written."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from sqlalchemy.exc import IntegrityError

from ..context import TenantContext
from ..db import Database
from ..errors import ConflictError, NotFoundError, ValidationError
from ..evaluation import dataset_io
from ..evaluation.dataset_io import Limits, Row
from ..evaluation.dataset_rows import RowChecker
from ..models import utcnow
from ..models_experiments import Dataset, DatasetRow, DatasetVersion
from ..policy import Action, require
from ..repositories.datasets import PAGE, DatasetRepository
from ..schemas import MAX_DESCRIPTION, NAME_RE, check_text
from ..schemas_experiments import DatasetPublic, DatasetRowPublic, DatasetVersionPublic
from .audit import record as audit
from .base import unit_of_work

# Rows per bulk insert: bounded memory, and a few hundred statements for 100,000 rows.
CHUNK = 1000
MAX_SHOW_LIMIT = 100_000
# Rows one edit may change or add: a person's edit in the UI, not an import.
MAX_EDITS = 1000


def check_name(name: str) -> str:
    """Dataset and experiment names follow prompt names: a-z, 0-9, '.', '_', '-'. Raises ValidationError."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ValidationError("datasets.bad_name", name=str(name)[:100])
    return name


def check_description(text: str | None) -> str:
    text = text or ""
    check_text(text, "description")
    if len(text) > MAX_DESCRIPTION:
        raise ValidationError("limits.too_long", field_key="limits.fields.description", limit=MAX_DESCRIPTION)
    return text


def _row_public(row: DatasetRow) -> DatasetRowPublic:
    return DatasetRowPublic(position=row.position, id=row.uid, vars=row.vars, expected=row.expected,
                            metadata=row.meta)


class DatasetService:
    def __init__(self, db: Database, limits: Limits | None = None):
        self.db = db
        self.limits = limits or Limits()

    def _repo(self, ctx: TenantContext, write: bool = False):
        return unit_of_work(self.db, ctx, DatasetRepository, write=write)

    @staticmethod
    def _require(repo: DatasetRepository, name: str) -> Dataset:
        dataset = repo.get(name) if isinstance(name, str) and NAME_RE.match(name) else None
        if dataset is None:
            raise NotFoundError("datasets.not_found", name=str(name)[:100])
        return dataset

    @staticmethod
    def _require_version(repo: DatasetRepository, dataset: Dataset, number: int | None) -> DatasetVersion:
        version = repo.version(dataset, number or dataset.latest_version)
        if version is None:
            raise NotFoundError("datasets.version_not_found", name=dataset.name, version=number)
        return version

    # --- writing -------------------------------------------------------------------------
    def add(self, ctx: TenantContext, name: str, path: str | Path, *, description: str | None = None,
            format: str | None = None, message: str = "") -> DatasetPublic:
        """Import a file as a new dataset, or as the next version of an existing one (description
        kept unless given). Raises ValidationError (bad file or row: nothing is written), ConflictError."""
        require(ctx, Action.WRITE_DATASETS)
        check_name(name)
        description = None if description is None else check_description(description)
        message = check_description(message)
        fmt = dataset_io.format_of(path, format)
        source = Path(path).name[:200]
        try:
            with self._repo(ctx, write=True) as repo:
                dataset = repo.get(name)
                now = utcnow()
                if dataset is None:
                    dataset = repo.add(Dataset(name=name, description=description or "", latest_version=1,
                                               author_id=ctx.user_id, created_at=now, updated_at=now))
                    number = 1
                else:
                    number = dataset.latest_version + 1
                    fields = {"updated_at": now} | ({"description": description} if description is not None else {})
                    if not repo.advance(dataset, dataset.latest_version, fields):
                        raise ConflictError("datasets.busy", name=name)
                version = repo.add_version(DatasetVersion(
                    dataset_id=dataset.id, number=number, source=f"{source} ({fmt})", message=message,
                    author_id=ctx.user_id, created_at=now))
                count, columns = self._insert_rows(repo, version.id, dataset_io.read_rows(path, fmt, self.limits))
                if count == 0:
                    raise ValidationError("datasets.empty_file", path=str(path))
                repo.finish_version(version, count, columns)
                audit(repo.session, ctx, "dataset.add" if number == 1 else "dataset.version", ("dataset", name),
                      None if number == 1 else {"version": number - 1},
                      {"version": number, "rows": count, "columns": columns, "source": version.source})
        except IntegrityError:  # a concurrent add of the same name or version won the race
            raise ConflictError("datasets.busy", name=name) from None
        return self.get(ctx, name, number)

    def _insert_rows(self, repo: DatasetRepository, version_id: int, rows: Iterator[Row]) -> tuple[int, list[str]]:
        columns: dict[str, None] = {}
        batch: list[dict] = []
        count = 0
        for row in rows:
            if row.vars.keys() - columns.keys():  # the union of every row's variables, in file order
                columns.update(dict.fromkeys(row.vars))
                if len(columns) > self.limits.max_columns:
                    raise ValidationError("datasets.too_many_columns", limit=self.limits.max_columns)
            count += 1
            batch.append({"version_id": version_id, "position": count, "uid": row.uid, "vars": row.vars,
                          "expected": row.expected, "meta": row.meta})
            if len(batch) >= CHUNK:
                repo.insert_rows(batch)
                batch = []
        repo.insert_rows(batch)
        return count, list(columns)

    def edit_rows(self, ctx: TenantContext, name: str, *, base_version: int, edits: dict[int, dict] | None = None,
                  added: list[dict] | None = None, message: str = "") -> DatasetPublic:
        """A new version: the rows of `base_version` (the latest) with `edits` ({position: {"vars",
        "expected"}}, ids and metadata kept) and `added` rows appended. Raises NotFoundError,
        ValidationError (bad row: nothing written), ConflictError (someone made a newer version)."""
        require(ctx, Action.WRITE_DATASETS)
        check_name(name)
        message = check_description(message)
        edits, added = dict(edits or {}), list(added or [])
        if len(edits) + len(added) > MAX_EDITS:
            raise ValidationError("limits.at_most", field="rows", limit=MAX_EDITS)
        if not edits and not added:
            raise ValidationError("ui_experiments.no_row_changes")
        if any(type(p) is not int for p in edits) or any(not isinstance(r, dict) or not isinstance(r.get("vars"), dict)
                                                        for r in [*edits.values(), *added]):
            raise ValidationError("ui_experiments.bad_row_edit")
        checker = RowChecker(self.limits)
        try:
            with self._repo(ctx, write=True) as repo:
                dataset = self._require(repo, name)
                base = self._require_version(repo, dataset, base_version)
                if base.number != dataset.latest_version:
                    raise ConflictError("ui_experiments.dataset_moved", name=name, version=base.number,
                                        latest=dataset.latest_version)
                unknown = sorted(set(edits) - set(range(1, base.row_count + 1)))
                if unknown:
                    raise ValidationError("ui_experiments.no_such_row", row=unknown[0], rows=base.row_count)
                now = utcnow()
                if not repo.advance(dataset, base.number, {"updated_at": now}):
                    raise ConflictError("datasets.busy", name=name)
                version = repo.add_version(DatasetVersion(
                    dataset_id=dataset.id, number=base.number + 1, source=f"edit of v{base.number}",
                    message=message, author_id=ctx.user_id, created_at=now))
                rows = self._edited(repo, base.id, checker, edits, added, base.row_count)
                count, columns = self._insert_rows(repo, version.id, rows)
                repo.finish_version(version, count, columns)
        except IntegrityError:
            raise ConflictError("datasets.busy", name=name) from None
        return self.get(ctx, name, base.number + 1)

    @staticmethod
    def _edited(repo: DatasetRepository, version_id: int, checker: RowChecker, edits: dict[int, dict],
                added: list[dict], row_count: int) -> Iterator[Row]:
        """The base version's rows (read page by page) with the edits applied, then the added rows,
        each edited or added row checked like a row of an imported file."""
        after = 0
        while True:
            page = repo.rows_page(version_id, after, PAGE)
            if not page:
                break
            for old in page:
                change = edits.get(old.position)
                if change is None:
                    checker.ids.add(old.uid)
                    yield Row(uid=old.uid, vars=old.vars, expected=old.expected, meta=old.meta)
                    continue
                row = checker.row(old.position, {"id": old.uid, "vars": change.get("vars"),
                                                 "expected": change.get("expected")}, False)
                row.meta = old.meta
                yield row
            after = page[-1].position
        for offset, raw in enumerate(added, start=1):
            yield checker.row(row_count + offset, {"vars": raw.get("vars"), "expected": raw.get("expected")}, False)

    def remove(self, ctx: TenantContext, name: str) -> None:
        """Delete a dataset with every version and row. Raises NotFoundError, ConflictError (an
        experiment uses it)."""
        require(ctx, Action.WRITE_DATASETS)
        from ..repositories.experiments import ExperimentRepository

        with self._repo(ctx, write=True) as repo:
            dataset = self._require(repo, name)
            users = ExperimentRepository(repo.session, ctx).names_using_dataset(dataset.id)
            if users:
                raise ConflictError("datasets.in_use", name=name, experiments=", ".join(users[:5]))
            before = {"version": dataset.latest_version, "description": dataset.description}
            repo.delete(dataset)
            audit(repo.session, ctx, "dataset.remove", ("dataset", name), before=before)

    # --- reading -------------------------------------------------------------------------
    def list(self, ctx: TenantContext) -> list[DatasetPublic]:
        """Every dataset at its latest version. Raises PermissionDeniedError."""
        require(ctx, Action.READ_DATASETS)
        with self._repo(ctx) as repo:
            datasets = repo.all()
            latest = repo.latest_versions([d.id for d in datasets])
            return [self._public(d, latest[d.id], []) for d in datasets if d.id in latest]

    def get(self, ctx: TenantContext, name: str, version: int | None = None) -> DatasetPublic:
        """A dataset at a version (default: the latest) with its history. Raises NotFoundError."""
        require(ctx, Action.READ_DATASETS)
        with self._repo(ctx) as repo:
            dataset = self._require(repo, name)
            shown = self._require_version(repo, dataset, version)
            history = [DatasetVersionPublic(number=v.number, row_count=v.row_count, columns=v.columns,
                                            source=v.source, message=v.message, author=repo.username(v.author_id),
                                            created_at=v.created_at) for v in repo.versions(dataset)]
            return self._public(dataset, shown, history)

    def rows(self, ctx: TenantContext, name: str, version: int | None = None, limit: int | None = None,
             offset: int = 0) -> Iterator[DatasetRowPublic]:
        """The rows of a version in order, read a page at a time (each page its own short
        transaction: versions never change). Raises NotFoundError, ValidationError."""
        require(ctx, Action.READ_DATASETS)
        if limit is not None and (type(limit) is not int or not 0 <= limit <= 10**9):
            raise ValidationError("limits.at_most", field="limit", limit=10**9)
        if type(offset) is not int or not 0 <= offset <= 10**9:
            raise ValidationError("limits.at_most", field="offset", limit=10**9)
        with self._repo(ctx) as repo:
            version_id = self._require_version(repo, self._require(repo, name), version).id
        return (_row_public(row) for row in self._stream(ctx, version_id, offset, limit))

    def _stream(self, ctx: TenantContext, version_id: int, offset: int, limit: int | None) -> Iterator[DatasetRow]:
        after, left = offset, limit  # positions are 1..row_count: skipping `offset` rows is position > offset
        while left is None or left > 0:
            with self._repo(ctx) as repo:
                page = repo.rows_page(version_id, after, PAGE if left is None else min(PAGE, left))
            if not page:
                return
            yield from page
            after = page[-1].position
            if left is not None:
                left -= len(page)

    def export(self, ctx: TenantContext, name: str, path: str | Path, version: int | None = None,
               format: str | None = None) -> int:
        """Write a version to a file (format by extension unless given); returns the row count.
        Raises NotFoundError, ValidationError."""
        require(ctx, Action.READ_DATASETS)
        fmt = dataset_io.format_of(path, format)
        with self._repo(ctx) as repo:
            shown = self._require_version(repo, self._require(repo, name), version)
            version_id, columns = shown.id, list(shown.columns)

        def rows() -> Iterator[Row]:
            for row in self._stream(ctx, version_id, 0, None):
                yield Row(uid=row.uid, vars=row.vars, expected=row.expected, meta=row.meta)

        return dataset_io.write_rows(path, fmt, rows, columns)

    @staticmethod
    def _public(dataset: Dataset, version: DatasetVersion, history: list[DatasetVersionPublic]) -> DatasetPublic:
        return DatasetPublic(name=dataset.name, description=dataset.description, latest_version=dataset.latest_version,
                             version=version.number, row_count=version.row_count, columns=version.columns,
                             source=version.source, created_at=dataset.created_at, updated_at=dataset.updated_at,
                             versions=history)
