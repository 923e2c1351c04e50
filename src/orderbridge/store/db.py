"""The database handle: one synchronous SQLAlchemy engine for SQLite (default) and PostgreSQL, used
from the event loop through two doors that never run SQL on the loop's thread.

- `await db.write(fn)`: `fn(connection)` — a plain function of Core statements — runs in a write
  transaction on the database's writer thread (`store.group_commit`: one thread, group commit). One hop to
  the thread and one back per transaction, whatever the transaction does.
- `await db.read(fn)`: `fn(connection)` in a read transaction on a small pool of reader threads, so a
  slow list, count or purge never stalls the loop.

SQLite is tuned for one process with many asyncio tasks: WAL, checked at start-up (readers never block
the writer; a file where SQLite refuses WAL is refused, see `_require_wal`), `synchronous=NORMAL`
(durable at checkpoints, safe against application crashes), foreign keys on, a busy timeout (another
process's writer), `wal_autocheckpoint` and `journal_size_limit` (checkpoints run in the COMMIT that
crosses the threshold, on the writer thread; the WAL file does not stay large after a burst). Write
transactions start with `BEGIN IMMEDIATE`: a deferred `BEGIN` would let a reader's transaction try to
upgrade to a write lock, which SQLite refuses at once (the busy timeout does not apply to an upgrade).
An in-memory SQLite database is refused: it is private to one connection, and the writer and readers
use connections of their own (tests use a file in a temporary directory).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import orjson
from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection, Engine, make_url

from orderbridge.store.group_commit import GroupCommit, collecting_after_commit

T = TypeVar("T")

DEFAULT_URL = "sqlite:///orderbridge.db"
SQLITE_BUSY_TIMEOUT_MS = 30_000
_WRITE = "orderbridge_write"
WAL_AUTOCHECKPOINT_PAGES = 1000
JOURNAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024
_MIGRATION_LOCK_ID = 0x0B_0001  # any constant: the key of the PostgreSQL advisory lock around migrations


class WalUnavailable(RuntimeError):
    """SQLite would not put the database in WAL mode: the service refuses to run on it."""


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


class Database:
    """One engine, its writer thread and its reader threads. Create once per process; `await dispose()`
    at the end."""

    def __init__(
        self,
        url: str | URL = DEFAULT_URL,
        *,
        echo: bool = False,
        readers: int = 4,
        max_batch: int = 256,
    ) -> None:
        self.url = sync_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        if self.is_sqlite:
            _refuse_in_memory(self.url.database or "")
            _ensure_parent_dir(self.url)
        self.engine = _engine(self.url, echo=echo, readers=readers)
        self._write_engine = self.engine.execution_options(**{_WRITE: True})
        self._writer = GroupCommit(self._write_engine, max_batch=max_batch)
        self._readers = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="orderbridge-reader")

    async def write(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn(connection)` in a write transaction on the writer thread; its result once committed.

        The transaction may be shared with other units (group commit, see `store.group_commit`); if it fails,
        `fn` is run again alone, so it must only touch the database (or keep what it took)."""
        return await self._writer.run(fn)

    async def read(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn(connection)` in a read transaction on a reader thread (never on the event loop: a
        slow list or count must not stall it). On SQLite a deferred BEGIN: readers never wait for the
        writer (WAL)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, _read, self.engine, fn)

    @property
    def group_commit(self) -> GroupCommit:
        return self._writer

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction on the calling thread (`with db.begin() as conn:`), for tests and one-shot
        tools; its `after_commit` callbacks run on the calling thread once it committed. It blocks:
        never on the service's event loop, where `write` is the way."""
        callbacks: list[Callable[[], None]] = []
        with self._write_engine.begin() as conn, collecting_after_commit(conn, callbacks):
            yield conn
        for callback in callbacks:
            callback()

    def connect(self) -> contextlib.AbstractContextManager[Connection]:
        """A connection on the calling thread for reads (`with db.connect() as conn:`), for tests and
        one-shot tools; `read` is the way on the event loop."""
        return self.engine.connect()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def migrate(self) -> None:
        """Bring the schema to the newest migration (Alembic `upgrade head`), off the loop."""
        await asyncio.get_running_loop().run_in_executor(None, self.migrate_sync)

    def migrate_sync(self) -> None:
        from orderbridge.store.migrate import upgrade_head

        with self.engine.execution_options(**{_WRITE: True}).begin() as conn:
            if not self.is_sqlite:
                # Several processes may start at once; the first migrates, the others then find it done.
                # (On SQLite, BEGIN IMMEDIATE already serializes them.)
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_ID})")
            upgrade_head(conn)

    async def revision(self) -> str | None:
        """The schema's migration revision (None: never migrated)."""
        from orderbridge.store.migrate import current_revision

        return await self.read(current_revision)

    async def dispose(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._close_sync)

    def _close_sync(self) -> None:
        self._writer.close()
        self._readers.shutdown(wait=True)
        self.engine.dispose()


def sqlite_file_exists(url: str | URL) -> bool:
    """False for a SQLite URL whose file is missing (connecting would create it); True otherwise."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return True
    return Path(parsed.database).exists()


def _ensure_parent_dir(url: URL) -> None:
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def _enable_wal(cursor: Any) -> None:
    """Switch the file to WAL (persistent: done once per database file).

    Switching needs an exclusive lock and SQLite may refuse it at once ("database is locked") without
    consulting the busy timeout while another connection is creating the same new file; so retry
    briefly. This blocks, but only ever on a brand-new database.
    """
    cursor.execute("PRAGMA journal_mode")
    if str(cursor.fetchone()[0]).lower() == "wal":
        return
    for attempt in range(100):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.fetchall()
            return
        except Exception as error:
            if "locked" not in str(error) or attempt == 99:
                raise
            time.sleep(0.02)


def sync_url(url: str | URL) -> URL:
    """The URL with this project's driver filled in (`sqlite://…` → the standard library's sqlite3,
    `postgresql://…` → psycopg 3), so operators can write plain URLs; older `sqlite+aiosqlite` URLs
    keep working."""
    parsed = make_url(url)
    if parsed.drivername in ("sqlite", "sqlite+aiosqlite"):
        return parsed.set(drivername="sqlite+pysqlite")
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg_async"):
        return parsed.set(drivername="postgresql+psycopg")
    return parsed


def _read(engine: Engine, fn: Callable[[Connection], T]) -> T:
    """On a reader thread."""
    with engine.connect() as conn, conn.begin():
        return fn(conn)


def _engine(url: URL, *, echo: bool, readers: int) -> Engine:
    kwargs: dict[str, Any] = {
        "echo": echo,
        "json_serializer": _json_dumps,
        "json_deserializer": orjson.loads,
        # The writer thread, the readers, and a spare for migrations and tools.
        "pool_size": readers + 2,
        "max_overflow": readers + 2,
    }
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        # Connections move between the pool's threads (one at a time): sqlite3's same-thread check
        # would refuse that. The busy timeout applies to a writer of another process.
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        engine = create_engine(url, **kwargs)
        _tune_sync_sqlite(engine, database)
        return engine
    kwargs["pool_pre_ping"] = True
    return create_engine(url, **kwargs)


def _refuse_in_memory(database: str) -> None:
    if database in ("", ":memory:") or "mode=memory" in database:
        raise ValueError(
            "orderbridge needs a SQLite database file: an in-memory database is private to each "
            "connection, and the writer and readers use connections of their own"
        )


def _tune_sync_sqlite(engine: Engine, database: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let the "begin" event below issue BEGIN itself (sqlite3 would emit a deferred one).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            _require_wal(cursor, database)
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            # Checkpoints run in the COMMIT that crosses the threshold: on the writer thread.
            cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
            cursor.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT_BYTES}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(_WRITE, False)
        # Straight to sqlite3: a statement through SQLAlchemy costs more than the BEGIN itself.
        conn.connection.dbapi_connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")  # type: ignore[union-attr]


def _require_wal(cursor: Any, database: str) -> None:
    """Put the file in WAL mode (persistent) and check that SQLite agreed.

    Without WAL a reader blocks the writer and the writer every reader; SQLite silently keeps the old
    journal mode where WAL cannot work (a file system without shared memory or locks, such as many
    network file systems). Running on such a file would look fine and stall under load: refuse.
    """
    _enable_wal(cursor)
    cursor.execute("PRAGMA journal_mode")
    mode = str(cursor.fetchone()[0]).lower()
    if mode != "wal":
        raise WalUnavailable(
            f"SQLite refused WAL mode for {database} (journal mode stays {mode!r}): orderbridge needs "
            "WAL, which requires a local file system with shared memory and file locks (not a network "
            "file system); put the database on a local disk or use PostgreSQL"
        )
