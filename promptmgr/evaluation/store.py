"""The runner's side of the database: claims cells, and a writer thread that commits finished cells
in batches (at most `interval` after the first of a batch finished) with their Run rows.

The writer also renews the lease of the cells this runner holds and watches the experiment's
status, so `experiments cancel` from another process stops a run within about a second. A cell is
done only once its batch is committed: after kill -9 the cells that were in flight go back to
pending (their runner's pid is dead, or their lease expires) and nothing committed runs again."""
from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from ..context import TenantContext
from ..db import Database
from ..models import utcnow
from ..repositories.cells import CellOutcome, CellRepository, ClaimedCell

log = logging.getLogger(__name__)
LEASE_SECONDS = 300.0
_ACTIVE: set[str] = set()  # runner ids alive in this process
_ACTIVE_LOCK = threading.Lock()
_WAKE = object()  # put by close(): the writer stops waiting for its batch interval


@dataclass(slots=True)
class RowData:
    vars: dict
    expected: str | None


def runner_identity() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    try:  # a killed child not yet reaped by its parent is a zombie: dead for us
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def is_dead(claimer: str) -> bool:
    """True when the runner that holds a claim surely is gone: on this host, its process has ended."""
    host, _, rest = claimer.partition(":")
    pid_text, _, _token = rest.partition(":")
    if host != socket.gethostname()[:60] or not pid_text.isdigit():
        return False  # another host: only its lease can tell
    pid = int(pid_text)
    if pid == os.getpid():
        with _ACTIVE_LOCK:
            return claimer not in _ACTIVE
    return not _pid_alive(pid)


class CellStore:
    def __init__(self, db: Database, ctx: TenantContext, experiment_id: int, *, interval: float = 0.25,
                 max_batch: int = 500, lease: float = LEASE_SECONDS, status_poll: float = 1.0):
        self.db, self.ctx, self.experiment_id = db, ctx, experiment_id
        self.runner_id = runner_identity()
        self.interval, self.max_batch, self.lease, self.status_poll = interval, max_batch, lease, status_poll
        self.written = 0
        self.errors = 0
        self.cost = 0.0
        self.spent_before = 0.0
        self.external_status: str | None = None
        self.failure: BaseException | None = None
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self._on_commit = None
        with _ACTIVE_LOCK:
            _ACTIVE.add(self.runner_id)

    def _repo(self, session) -> CellRepository:
        return CellRepository(session, self.ctx)

    # -- called from the runner ------------------------------------------------------------------
    def recover(self) -> int:
        """Stale claims back to pending: expired leases and dead runners of this host."""
        with self.db.session(write=True) as session:
            repo = self._repo(session)
            dead = [c for c in repo.claimers(self.experiment_id) if is_dead(c)]
            return repo.recover(self.experiment_id, utcnow() - timedelta(seconds=self.lease), dead)

    def claim(self, limit: int) -> list[tuple[ClaimedCell, RowData]]:
        with self.db.session(write=True) as session:
            repo = self._repo(session)
            cells = repo.claim(self.experiment_id, self.runner_id, limit)
            rows = repo.rows(list({cell.row_id for cell in cells}))
            data = {row_id: RowData(dict(row.vars or {}), row.expected) for row_id, row in rows.items()}
        return [(cell, data.get(cell.row_id) or RowData({}, None)) for cell in cells]

    def finished(self):
        with self.db.session() as session:
            yield from self._repo(session).finished(self.experiment_id)

    def put(self, outcome: CellOutcome) -> None:
        self._queue.put(outcome)

    def backlog(self) -> int:
        """Finished cells waiting for the writer (the runner holds back while it is long)."""
        return self._queue.qsize()

    def start(self, on_commit=None) -> None:
        self._on_commit = on_commit
        self._thread = threading.Thread(target=self._write_loop, name="promptmgr-cell-writer", daemon=True)
        self._thread.start()

    def close(self, unstarted: list[int]) -> None:
        """Commit what is queued, give back the cells not run, stop the writer."""
        self._closing.set()
        self._queue.put(_WAKE)  # the last batch is written now, not when its interval ends
        if self._thread is not None:
            self._thread.join()
        try:
            with self.db.session(write=True) as session:
                self._repo(session).release(self.experiment_id, self.runner_id)  # also any left unstarted
        finally:
            with _ACTIVE_LOCK:
                _ACTIVE.discard(self.runner_id)
        if self.failure is not None:
            raise self.failure

    # -- the writer thread -----------------------------------------------------------------------
    def _write_loop(self) -> None:
        batch: list[CellOutcome] = []
        first = 0.0
        next_beat = time.monotonic() + self.lease / 5
        next_poll = time.monotonic() + self.status_poll
        while True:
            now = time.monotonic()
            wait = (first + self.interval - now) if batch else 0.1
            try:
                item = self._queue.get(timeout=max(wait, 0.0))
                if item is not _WAKE:
                    if not batch:
                        first = time.monotonic()
                    batch.append(item)
            except queue.Empty:
                pass
            now = time.monotonic()
            closing = self._closing.is_set()
            if batch and (len(batch) >= self.max_batch or now - first >= self.interval
                          or (closing and self._queue.empty())):
                self._commit(batch)
                batch = []
            if closing and not batch and self._queue.empty():
                return
            if now >= next_beat:
                next_beat = now + self.lease / 5
                self._quietly(lambda repo: repo.heartbeat(self.experiment_id, self.runner_id))
            if now >= next_poll:
                next_poll = now + self.status_poll
                self._quietly(self._watch_status)

    def _watch_status(self, repo: CellRepository) -> None:
        experiment = repo.experiment_by_id(self.experiment_id)
        status = experiment.status if experiment is not None else "cancelled"
        if status != "running":
            self.external_status = status

    def _quietly(self, action) -> None:
        try:
            with self.db.session(write=True) as session:
                action(self._repo(session))
        except Exception as exc:  # a lost heartbeat is retried; a commit failure is what counts
            log.warning("experiment bookkeeping failed: %s", type(exc).__name__)

    def _commit(self, batch: list[CellOutcome]) -> None:
        for attempt in range(5):
            try:
                with self.db.session(write=True) as session:
                    written = self._repo(session).finish(self.runner_id, batch)
                break
            except Exception as exc:  # the database went away for a moment: try again, then give up
                if attempt == 4:
                    log.error("cannot store finished experiment cells: %s", type(exc).__name__)
                    self.failure = exc
                    return
                time.sleep(0.2 * (attempt + 1))
        self.written += len(written)
        self.errors += sum(1 for o in written if o.status == "error")
        self.cost += sum(o.cost for o in written)
        if self._on_commit is not None:
            self._on_commit()
