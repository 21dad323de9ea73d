"""Engine, sessions and the self-upgrading schema."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DatabaseError, OperationalError, ProgrammingError
from sqlmodel import Session, create_engine

from .errors import DatabaseUnavailableError

# The newest migration; the start-up check compares it with the database instead of importing
# alembic (which costs the CLI ~100 ms). tests/test_migrations.py keeps it equal to alembic's head.
SCHEMA_HEAD = "0008"  # 0008 (API tokens) follows 0007 (analytics indexes), 0006 (audit log)
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(conn) -> None:
    # A writing unit of work takes SQLite's write lock up front (waiting up to busy_timeout),
    # so its reads cannot go stale before it writes: concurrent edits then serialize cleanly and
    # the optimistic version check decides, instead of failing with "database is locked".
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN")


def private_dir(path: Path) -> None:
    """Create a folder (and missing parents) readable by its owner only: it holds the library."""
    if not path.exists():
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask


def _private_file(path: Path) -> None:
    """The SQLite file is created 0600 before SQLite opens it: SQLite gives its -wal and -shm files
    the database file's permissions. An existing file is tightened the same way."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
    except OSError:  # not ours to change (a shared, read-only or special file): leave it to SQLite
        pass


def sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        return Path(parsed.database)
    return None


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_path(url)
        if path is not None:
            private_dir(path.parent)
            _private_file(path)
        # Gradio runs handlers on up to 40 worker threads and a page load fires several at once:
        # the pool must not be the bottleneck (SQLite connections are cheap; writes still
        # serialize on SQLite's own lock).
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10},
                               pool_size=10, max_overflow=50)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


class Database:
    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self._write_engine = self.engine.execution_options(write=True)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self, write: bool = False) -> Iterator[Session]:
        """A unit of work: commits on success, rolls back everything on any error."""
        bind = self._write_engine if write else self.engine
        with Session(bind, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def current_revision(self) -> str | None:
        try:
            with self.engine.connect() as conn:
                return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except (OperationalError, ProgrammingError) as exc:
            if "not a database" in str(exc.orig):
                raise self._corrupt() from None
            return None
        except DatabaseError:  # sqlite3.DatabaseError: "file is not a database", "malformed"
            if self.dialect != "sqlite":
                raise
            raise self._corrupt() from None

    def _corrupt(self) -> DatabaseUnavailableError:
        path = sqlite_path(self.url)
        return DatabaseUnavailableError("db.corrupt", path=str(path) if path else self.engine.url.render_as_string())

    def upgrade(self) -> None:
        """Bring the schema to the newest migration; cheap when it already is. Raises
        DatabaseUnavailableError for a damaged database or one made by a newer promptmgr."""
        if self.current_revision() == SCHEMA_HEAD:
            return
        with self._migration_lock():  # several processes starting on a fresh database at once
            revision = self.current_revision()
            if revision == SCHEMA_HEAD:
                return
            if revision is not None and revision not in known_revisions():
                path = sqlite_path(self.url)
                raise DatabaseUnavailableError("db.newer", revision=revision,
                                               path=str(path) if path else self.engine.url.render_as_string())
            from alembic import command

            command.upgrade(alembic_config(self.url), "head")

    @contextmanager
    def _migration_lock(self) -> Iterator[None]:
        """One migrating process at a time: a file lock next to a SQLite file, an advisory lock on
        PostgreSQL; others wait, then find the schema current."""
        path = sqlite_path(self.url)
        if self.dialect == "postgresql":
            with self.engine.connect() as conn:
                conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _LOCK_KEY})
                try:
                    yield
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _LOCK_KEY})
                    conn.commit()
        elif path is not None:
            with file_lock(path.with_name(path.name + ".lock")):
                yield
        else:
            yield

    def dispose(self) -> None:
        self.engine.dispose()


_LOCK_KEY = 0x70726F6D  # "prom": the advisory lock id of promptmgr's start-up work


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on a file that other processes wait for (released when the file closes)."""
    import fcntl

    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def known_revisions() -> set[str]:
    """The revisions this promptmgr knows (its migration files are named <revision>_<slug>.py)."""
    return {p.name.split("_", 1)[0] for p in (MIGRATIONS_DIR / "versions").glob("*.py")}


def alembic_config(url: str):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config
