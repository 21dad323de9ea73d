"""What every service shares: a unit of work over one repository, and the role check for writes."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, TypeVar

from ..context import TenantContext
from ..db import Database
from ..errors import PermissionDeniedError

R = TypeVar("R")


def require_writer(ctx: TenantContext) -> None:
    if not ctx.can_write():
        raise PermissionDeniedError()


@contextmanager
def unit_of_work(db: Database, ctx: TenantContext, repository: type[R], *, write: bool = False,
                 writers_only: bool = True) -> Iterator[R]:
    """A transaction with the caller's tenant-scoped repository; writes need a writer's role
    unless writers_only=False. Commits on success, rolls back everything on error."""
    if write and writers_only:
        require_writer(ctx)
    with db.session(write=write) as session:
        yield repository(session, ctx)
