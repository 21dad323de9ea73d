"""What every service shares: a unit of work over one repository.

Permission is not decided here: every public service method starts with
policy.require(ctx, Action.X) before it opens a unit of work."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, TypeVar

from ..context import TenantContext
from ..db import Database

R = TypeVar("R")


@contextmanager
def unit_of_work(db: Database, ctx: TenantContext, repository: type[R], *, write: bool = False) -> Iterator[R]:
    """A transaction with the caller's tenant-scoped repository. Commits on success, rolls back
    everything on error."""
    with db.session(write=write) as session:
        yield repository(session, ctx)
