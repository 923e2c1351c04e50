"""Loops that must run once per cluster: an account's feed pollers, its reconciliation sweep, an ERP
adapter's way back (its inbox, staging-table or warehouse loop).

On SQLite one process holds the database (`store.instance_lock`), so `InProcess` simply runs them all.
On PostgreSQL any number of processes share the database; `AdvisoryLocks` runs each loop only in the
process that holds its PostgreSQL advisory lock:

- session-level locks (`pg_try_advisory_lock(namespace, hashtext(name))`) on one dedicated
  connection per process, kept open while the process lives;
- a process that does not hold a loop's lock tries again every `retry_s` seconds;
- a holder that dies (SIGKILL, a crash, a lost host) loses its connection, so PostgreSQL releases its
  locks: another process takes each loop over at its next try (within `retry_s`, plus TCP keepalives'
  few seconds when the host vanished without closing its connections);
- the holder checks its connection every `retry_s` seconds (`SELECT 1`, at most `check_timeout_s`);
  if it is lost (PostgreSQL restarted, the network), it stops its loops at once — another process
  may hold their locks by now — and takes them again once it is back.

Two names whose hashes collide share one lock: they then run in the same process, still once each in
the cluster. The pipeline is safe if a loop briefly runs twice (its writes are idempotent: a
redelivered feed batch, a sweep that finds the same orders), so a holder cut off from PostgreSQL only
has to stop soon, not atomically.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Protocol

import psycopg
import structlog
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import URL

from orderbridge.store.procrastinate_schema import libpq_conninfo

log = structlog.get_logger("orderbridge.singletons")

Loop = Callable[[asyncio.Event], Coroutine[Any, Any, None]]
"""A loop: runs until the event it is given is set."""

#: The first key of the two-key advisory locks (the second is the loop's name hashed): apart from the
#: one-key locks of migrations, procrastinate's schema and the instance lock.
LOCK_NAMESPACE = 0x0B03
#: The lock connection's `application_name`, followed by the process id: operators (and tests) see in
#: `pg_stat_activity` / `pg_locks` which process runs the loops.
APPLICATION_NAME = "orderbridge-singletons-"


# TCP keepalives on the lock's connection: a holder whose host vanished without closing it is noticed
# by PostgreSQL in ~idle + interval × count seconds (the server's own tcp_keepalives_* apply too).
def _session_options() -> dict[str, int | str]:
    """TCP keepalives, and a name that says which process holds the locks (`pg_stat_activity`)."""
    return {
        "keepalives": 1,
        "keepalives_idle": 5,
        "keepalives_interval": 2,
        "keepalives_count": 2,
        "application_name": f"{APPLICATION_NAME}{os.getpid()}",
    }


class Singletons(Protocol):
    async def run(self, loops: Mapping[str, Loop], stop: asyncio.Event) -> None:
        """Run `loops` (by name) as the cluster allows until `stop` is set; a loop that fails raises."""
        ...


class InProcess:
    """Every loop, here (one process per database: SQLite)."""

    def __init__(self) -> None:
        self.held: set[str] = set()

    async def run(self, loops: Mapping[str, Loop], stop: asyncio.Event) -> None:
        self.held = set(loops)
        tasks = [asyncio.create_task(loop(stop), name=name) for name, loop in loops.items()]
        try:
            await asyncio.gather(*tasks)
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.held = set()


class AdvisoryLocks:
    """Each loop in the one process of the cluster that holds its advisory lock (PostgreSQL)."""

    def __init__(
        self,
        url: str | URL,
        *,
        retry_s: float = 2.0,
        check_timeout_s: float = 5.0,
        stop_grace_s: float = 10.0,
    ) -> None:
        self.conninfo = make_conninfo(libpq_conninfo(url), **_session_options())
        self.retry_s = retry_s
        self.check_timeout_s = check_timeout_s
        self.stop_grace_s = stop_grace_s
        #: The loops this process runs now (for tests and operators).
        self.held: set[str] = set()

    async def run(self, loops: Mapping[str, Loop], stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                conn = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
            except psycopg.Error as error:
                log.warning("singletons.connect_failed", error=type(error).__name__)
                await _sleep_unless(stop, self.retry_s)
                continue
            try:
                await self._hold(conn, loops, stop)
            except (psycopg.Error, TimeoutError) as error:
                # Our locks went with the connection: the loops were stopped; take them again when we can.
                log.warning("singletons.connection_lost", error=type(error).__name__)
                await _sleep_unless(stop, self.retry_s)
            finally:
                with contextlib.suppress(Exception):
                    await conn.close()  # ends the session: PostgreSQL releases its locks

    async def _hold(
        self, conn: psycopg.AsyncConnection[Any], loops: Mapping[str, Loop], stop: asyncio.Event
    ) -> None:
        running: dict[str, tuple[asyncio.Event, asyncio.Task[None]]] = {}
        try:
            while not stop.is_set():
                for name, loop in loops.items():
                    if name not in running and await self._try_lock(conn, name):
                        own_stop = asyncio.Event()
                        running[name] = (own_stop, asyncio.create_task(loop(own_stop), name=name))
                        self.held.add(name)
                        log.info("singletons.took", loop=name)
                for name, (_, task) in running.items():
                    if task.done():
                        task.result()  # a loop that failed stops the service loudly, as in one process
                        raise RuntimeError(f"the loop {name} ended on its own")
                tasks = [task for _, task in running.values()]
                await _wait_any(stop, tasks, self.retry_s)
                if not stop.is_set():
                    await asyncio.wait_for(conn.execute("SELECT 1"), self.check_timeout_s)
        finally:
            await self._stop_all(running)

    async def _try_lock(self, conn: psycopg.AsyncConnection[Any], name: str) -> bool:
        cursor = await asyncio.wait_for(
            conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", (LOCK_NAMESPACE, name)),
            self.check_timeout_s,
        )
        row = await cursor.fetchone()
        return bool(row and row[0])

    async def _stop_all(self, running: Mapping[str, tuple[asyncio.Event, asyncio.Task[None]]]) -> None:
        for own_stop, _ in running.values():
            own_stop.set()
        tasks = [task for _, task in running.values()]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=self.stop_grace_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for name in running:
            self.held.discard(name)
            log.info("singletons.released", loop=name)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def _wait_any(stop: asyncio.Event, tasks: list[asyncio.Task[None]], seconds: float) -> None:
    """Until `stop`, one of `tasks` ends, or `seconds` pass."""
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([stopped, *tasks], timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stopped
