"""aiosqlite's interface with SQLite's calls made on the event loop's own thread.

aiosqlite runs every call on its connection's thread: each is a queue put, a thread wake-up and a
self-pipe write back to the event loop, and SQLAlchemy's `execute` makes several (create the cursor,
execute, fetch, close). On the hot path those hops cost twenty times more CPU than SQLite's own work (a
one-statement write transaction: ~17 µs in SQLite, ~750 µs through the hops). Here a call runs inline —
SQLite on a local file answers in microseconds, far less than a hop — and its rows are fetched by the
same call.

The one wait that can be long is another connection's write lock. An inline call never waits for it:
the connection's own busy timeout is 0, so SQLite answers SQLITE_BUSY at once, and that call is then
retried on the connection's thread under the real busy timeout while the event loop goes on. (Waiting
inline would block the loop, and with it the very transaction that holds the lock when both
connections live in this process.) While such a call is away, every later call of the connection
queues behind it on the same thread, so the sqlite3 connection is never used by two threads at once.
SQLAlchemy already serializes the use of one connection; `check_same_thread=False` lets both threads
use it in turn.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Generator, Iterable
from typing import Any

import aiosqlite


class FusedCursor(aiosqlite.Cursor):
    """Executes and fetches in one hop; the fetch methods then serve the rows already fetched."""

    def __init__(self, conn: aiosqlite.Connection, cursor: sqlite3.Cursor) -> None:
        super().__init__(conn, cursor)
        self._rows: list[Any] | None = None

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> FusedCursor:
        rows: list[Any] | None = await self._execute(  # type: ignore[no-untyped-call]
            self._execute_and_fetch, sql, [] if parameters is None else parameters
        )
        self._rows = rows
        return self

    def _execute_and_fetch(self, sql: str, parameters: Iterable[Any]) -> list[Any] | None:
        """On the connection's thread."""
        self._cursor.execute(sql, parameters)  # type: ignore[arg-type]
        return self._cursor.fetchall() if self._cursor.description is not None else None

    async def fetchall(self) -> list[Any]:
        if self._rows is None:
            return list(await super().fetchall())
        rows, self._rows = self._rows, None
        return rows

    async def fetchone(self) -> Any:
        if self._rows is None:
            return await super().fetchone()
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        if self._rows is None:
            return list(await super().fetchmany(size))
        count = self.arraysize if size is None else size
        rows, self._rows = self._rows[:count], self._rows[count:]
        return rows

    async def close(self) -> None:
        self._rows = None
        connection = self._conn
        assert isinstance(connection, FusedConnection)
        if connection.calls_away:
            # A cancelled caller may close a cursor whose statement still runs on the thread: queue the
            # close behind it, without waiting (nothing waits on a closed cursor).
            connection._tx.put_nowait((None, self._cursor.close))
        else:
            self._cursor.close()


class _NewCursor:
    """What `Connection.cursor()` returns: awaitable, and an async context manager (as in aiosqlite)."""

    def __init__(self, cursor: FusedCursor) -> None:
        self._cursor = cursor

    def __await__(self) -> Generator[Any, None, FusedCursor]:
        yield from ()
        return self._cursor

    async def __aenter__(self) -> FusedCursor:
        return self._cursor

    async def __aexit__(self, *exc: object) -> None:
        await self._cursor.close()


class FusedConnection(aiosqlite.Connection):
    def __init__(self, connector: Callable[[], sqlite3.Connection], busy_timeout_ms: int) -> None:
        super().__init__(connector, 64)
        self.busy_timeout_ms = busy_timeout_ms
        #: Calls sent to the connection's thread and not finished yet.
        self.calls_away = 0

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or self._connection is None:
            raise ValueError("Connection closed")
        if not self.calls_away:
            try:
                return fn(*args, **kwargs)
            except sqlite3.OperationalError as error:
                if getattr(error, "sqlite_errorcode", None) not in _LOCKED:
                    raise
        return await self._away(_wait_for_lock, self._connection, self.busy_timeout_ms, fn, args, kwargs)

    async def _away(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run `fn` on the connection's thread, in order behind any call already there."""
        self.calls_away += 1
        try:
            return await super()._execute(fn, *args)  # type: ignore[no-untyped-call]
        finally:
            self.calls_away -= 1

    async def run(self, sql: str, parameters: Any, many: bool) -> tuple[list[Any] | None, int]:
        """One statement (`many`: once per parameter sequence) and its rows, in one call; the rows
        (None when it returns none) and the count of rows it changed."""
        return await self._execute(_run, self._conn, sql, parameters, many)  # type: ignore[no-any-return]

    def cursor(self) -> _NewCursor:  # type: ignore[override]
        return _NewCursor(FusedCursor(self, self._conn.cursor()))

    async def rollback(self) -> None:
        # SQLAlchemy's pool rolls back every connection it takes back, committed or not: without a
        # transaction open that is a no-op for SQLite, not worth a hop.
        if self._conn.in_transaction:
            await super().rollback()


_LOCKED = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _run(
    connection: sqlite3.Connection, sql: str, parameters: Any, many: bool
) -> tuple[list[Any] | None, int]:
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
        rows = cursor.fetchall() if cursor.description is not None else None
        return rows, cursor.rowcount
    finally:
        cursor.close()


def _wait_for_lock(
    connection: sqlite3.Connection, busy_timeout_ms: int, fn: Callable[..., Any], args: Any, kwargs: Any
) -> Any:
    """On the connection's thread: the call again, this time letting SQLite wait for the lock."""
    connection.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    try:
        return fn(*args, **kwargs)
    finally:
        connection.execute("PRAGMA busy_timeout=0")


def connect(database: str, busy_timeout_ms: int = 30_000, **kwargs: Any) -> FusedConnection:
    """`aiosqlite.connect` with inline calls and fused cursors; SQLAlchemy calls it with the dialect's
    connect arguments. `busy_timeout_ms` is how long a call waits (off the loop) for another
    connection's lock."""
    kwargs["check_same_thread"] = False
    kwargs["timeout"] = 0  # inline calls never wait for a lock: see the module's docstring

    def connector() -> sqlite3.Connection:
        connection: sqlite3.Connection = sqlite3.connect(database, **kwargs)
        return connection

    connection = FusedConnection(connector, busy_timeout_ms)
    connection._thread.daemon = True  # as SQLAlchemy does for aiosqlite: never block interpreter exit
    return connection
