"""aiosqlite with one thread hop per statement instead of three or four.

aiosqlite runs every call on its connection's thread: SQLAlchemy's `execute` costs a hop to create the
cursor, one to execute, one to fetch the rows and one to close the cursor — each a queue put, a thread
wake-up and a self-pipe write back to the event loop, which on the hot path cost more CPU than SQLite's
own work. Here the statement runs and its rows are fetched in the same hop; a cursor is created on the
caller's thread (no SQLite call) and closed without waiting; a ROLLBACK with no transaction open (the
pool's reset after every COMMIT) is skipped. SQLAlchemy still serializes the use of one
connection, so the sqlite3 connection is never used by two threads at once (`check_same_thread=False`
only lets the cheap calls happen off the worker thread).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Generator, Iterable
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
        # Queued behind whatever the connection's thread is running (a cancelled caller may close a
        # cursor whose statement still runs), but not awaited: nothing waits on a closed cursor.
        self._rows = None
        self._conn._tx.put_nowait((None, self._cursor.close))


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
    def cursor(self) -> _NewCursor:  # type: ignore[override]
        return _NewCursor(FusedCursor(self, self._conn.cursor()))

    async def rollback(self) -> None:
        # SQLAlchemy's pool rolls back every connection it takes back, committed or not: without a
        # transaction open that is a no-op for SQLite, not worth a hop.
        if self._conn.in_transaction:
            await super().rollback()


def connect(database: str, **kwargs: Any) -> FusedConnection:
    """`aiosqlite.connect` with fused cursors; SQLAlchemy calls it with the dialect's connect arguments."""
    kwargs["check_same_thread"] = False

    def connector() -> sqlite3.Connection:
        connection: sqlite3.Connection = sqlite3.connect(database, **kwargs)
        return connection

    connection = FusedConnection(connector, 64)
    connection._thread.daemon = True  # as SQLAlchemy does for aiosqlite: never block interpreter exit
    return connection
