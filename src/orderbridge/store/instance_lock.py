"""One `orderbridge run` per SQLite database: a second one refuses to start instead of silently
sharing it.

A SQLite database belongs to one process (its writer thread, its embedded queue, the once-per-cluster
loops all run in-process); two services on one file doubled item changes, ran two warehouse loops and
deadlocked the reconciliation sweep. So the service holds an exclusive `flock` on
`<database file>.lock`, beside the database, for its whole life, and a second one exits with a message
naming the database. The operating system releases it when the process dies, SIGKILL included: a
crashed service never blocks the next one.

PostgreSQL databases take any number of processes (`orderbridge run`, `worker`, `serve`): the jobs run
on procrastinate and each once-per-cluster loop holds an advisory lock (`orderbridge.pipeline.singletons`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from sqlalchemy.engine import URL


class AlreadyRunning(Exception):
    """Another service holds the database. The message names it, never its password."""


def describe(url: URL) -> str:
    """The database as an operator recognises it: the URL with its password masked (`***`)."""
    return url.render_as_string(hide_password=True)


@contextlib.asynccontextmanager
async def single_instance(url: URL) -> AsyncIterator[None]:
    """Hold the SQLite database's instance lock for the duration, or raise `AlreadyRunning` at once."""
    if url.get_backend_name() != "sqlite":
        raise ValueError("only a SQLite database is held by one process")
    with _file_lock(url):
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


def _message(url: URL, how: str) -> str:
    return (
        f"another orderbridge service is already running on the database {describe(url)} ({how}); "
        "two services must not share one SQLite database: stop the other one first (several processes "
        "need PostgreSQL)"
    )
