"""One `orderbridge run` per database: a second one refuses to start instead of silently sharing it.

Two services on one database doubled item changes, ran two warehouse loops and deadlocked the
reconciliation sweep; until the pipeline is built to scale out, the service holds a lock for its whole
life and a second one exits with a message naming the database.

- PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`) on a connection of its own, kept
  open until the service stops. Advisory locks are per database, so the key is a constant.
- SQLite: an exclusive `flock` on `<database file>.lock`, beside the database, held by an open file.

Both are released by the operating system or by PostgreSQL when the process dies, SIGKILL included:
a crashed service never blocks the next one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
from sqlalchemy.engine import URL

INSTANCE_LOCK_ID = 0x0B_0002  # any constant other than the migration lock's (`store.db`)


class AlreadyRunning(Exception):
    """Another service holds the database. The message names it, never its password."""


def describe(url: URL) -> str:
    """The database as an operator recognises it: the URL with its password masked (`***`)."""
    return url.render_as_string(hide_password=True)


@contextlib.asynccontextmanager
async def single_instance(url: URL) -> AsyncIterator[None]:
    """Hold the database's instance lock for the duration, or raise `AlreadyRunning` at once."""
    if url.get_backend_name() == "sqlite":
        with _file_lock(url):
            yield
        return
    async with _advisory_lock(url):
        yield


@contextlib.contextmanager
def _file_lock(url: URL) -> Iterator[None]:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        yield  # nothing on disk another process could share
        return
    path = Path(database).with_name(Path(database).name + ".lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip()
            raise AlreadyRunning(_message(url, f"lock file {path}, held by pid {holder or '?'}")) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock (the process's death does too)


@contextlib.asynccontextmanager
async def _advisory_lock(url: URL) -> AsyncIterator[None]:
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
    try:
        cursor = await conn.execute("SELECT pg_try_advisory_lock(%s)", (INSTANCE_LOCK_ID,))
        row = await cursor.fetchone()
        if row is None or not row[0]:
            raise AlreadyRunning(_message(url, f"PostgreSQL advisory lock {INSTANCE_LOCK_ID} is held"))
        yield
    finally:
        await conn.close()  # ends the session, which releases the lock


def _message(url: URL, how: str) -> str:
    return (
        f"another orderbridge service is already running on the database {describe(url)} ({how}); "
        "two services must not share one database: stop the other one first"
    )
