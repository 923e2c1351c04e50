"""The database handle: engine, sessions and migrations for SQLite (default) and PostgreSQL.

SQLite is tuned for one process with many asyncio tasks: WAL (readers never block the writer),
`synchronous=NORMAL` (durable at checkpoints, safe against application crashes), a busy timeout, foreign
keys on, and write transactions that start with `BEGIN IMMEDIATE`. A deferred `BEGIN` would let two
connections both read and then both try to write, and SQLite answers the second with SQLITE_BUSY at once
(the busy timeout does not apply to a lock upgrade) — IMMEDIATE takes the write lock up front, so writers
queue instead. In-process writers additionally queue on an asyncio lock (`transaction()`), which is fair
and wakes them at once instead of letting SQLite's busy handler poll with sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from orderbridge.store import sqlite_driver

DEFAULT_URL = "sqlite+aiosqlite:///orderbridge.db"
SQLITE_BUSY_TIMEOUT_MS = 30_000
_READ_ONLY = "orderbridge_read_only"
_MIGRATION_LOCK_ID = 0x0B_0001  # any constant: the key of the PostgreSQL advisory lock around migrations


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


class Database:
    """One engine and its session factories. Create once per process; `await dispose()` at the end."""

    def __init__(self, url: str | URL = DEFAULT_URL, *, echo: bool = False, pool_size: int = 10) -> None:
        self.url = async_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {
            "echo": echo,
            "json_serializer": _json_dumps,
            "json_deserializer": orjson.loads,
        }
        if self.is_sqlite:
            _ensure_parent_dir(self.url)
            kwargs.update(pool_size=pool_size, max_overflow=pool_size)
        else:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size * 2, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if self.is_sqlite:
            _tune_sqlite(self.engine)
        #: Sessions whose transactions may write (`BEGIN IMMEDIATE` on SQLite).
        self.session = async_sessionmaker(self.engine, expire_on_commit=False)
        #: Sessions that only read (deferred `BEGIN` on SQLite: never waits for the writer).
        self.read_session = async_sessionmaker(
            self.engine.execution_options(**{_READ_ONLY: True}), expire_on_commit=False
        )
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """`async with db.transaction() as session:` — commits at the end, rolls back on error.

        On SQLite in-process writers take turns here; on PostgreSQL this is just a session and a BEGIN.
        Not reentrant: do not open a second `transaction()` (or call something that does, such as
        `EmbeddedQueue.requeue`) inside one — on SQLite that waits forever for itself.
        """
        if self._write_lock is None:
            async with self.session() as session, session.begin():
                yield session
            return
        async with self._write_lock, self.session() as session, session.begin():
            yield session

    async def migrate(self) -> None:
        """Bring the schema to the newest migration (Alembic `upgrade head`)."""
        from orderbridge.store.migrate import upgrade_head

        async with self.engine.begin() as conn:
            if not self.is_sqlite:
                # Several processes may start at once; the first migrates, the others then find it done.
                # (On SQLite, BEGIN IMMEDIATE already serializes them.)
                await conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_ID})")
            await conn.run_sync(upgrade_head)

    async def revision(self) -> str | None:
        """The schema's migration revision (None: never migrated)."""
        from orderbridge.store.migrate import current_revision

        async with self.engine.connect() as conn:
            return await conn.run_sync(current_revision)

    async def dispose(self) -> None:
        await self.engine.dispose()


def async_url(url: str | URL) -> URL:
    """The URL with this project's async driver filled in (`sqlite://…` → aiosqlite, `postgresql://…`
    → psycopg 3), so operators can write plain URLs."""
    parsed = make_url(url)
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        return parsed.set(drivername="sqlite+aiosqlite")
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        return parsed.set(drivername="postgresql+psycopg")
    return parsed


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


def _tune_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "do_connect")
    def _fused_driver(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
        # SQLite's calls on the event loop's thread (see `sqlite_driver`), same connect arguments; the
        # busy timeout applies to the calls that wait for another connection's lock, off the loop.
        cparams["async_creator_fn"] = sqlite_driver.connect
        cparams["busy_timeout_ms"] = SQLITE_BUSY_TIMEOUT_MS

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN itself (pysqlite would emit a deferred one).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        _enable_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        read_only = conn.get_execution_options().get(_READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


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
