"""One way to drive any `JobQueue` adapter from the contract tests (`test_jobs_contract.py`).

A harness builds a queue with handlers and enqueues in a transaction of its own that commits (or rolls
back), the way the pipeline does: the embedded queue through an `AsyncSession`, the procrastinate
adapter through a SQLAlchemy `Connection` (sync, on a thread, as the store's writer thread will).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import psycopg
import sqlalchemy
from procrastinate import App, PsycopgConnector, utils
from procrastinate.testing import InMemoryConnector
from sqlalchemy import Connection, func, select, update

from orderbridge.jobs.embedded import EmbeddedQueue
from orderbridge.jobs.port import Handler, NewJob, ParkedJob
from orderbridge.jobs.procrastinate_queue import QUEUE, ProcrastinateQueue
from orderbridge.store.db import Database
from orderbridge.store.procrastinate_schema import NOTES_TABLE, libpq_conninfo
from orderbridge.store.tables import jobs
from orderbridge.store.testing import fresh_sqlite


class QueueUnderTest(Protocol):
    async def run(self, stop: asyncio.Event) -> None: ...
    async def requeue(self, job_id: int) -> int | None: ...
    async def list_parked(self, *, lock: str | None = None, limit: int = 100) -> list[ParkedJob]: ...


class Harness(Protocol):
    name: str

    async def build(
        self, handlers: Mapping[str, Handler], *, concurrency: int = 8, max_attempts: int = 8, **options: Any
    ) -> QueueUnderTest:
        """`options`: more of the adapter's settings (`max_deaths`, …)."""
        ...

    async def lose_a_run(self, queue: QueueUnderTest) -> None:
        """A worker takes the next due job and dies running it (a SIGKILL: nothing of its run is
        written); then the queue finds the dead worker's job the way it does after a crash (the queue's
        own workers are not running)."""
        ...

    async def enqueue(
        self,
        queue: QueueUnderTest,
        *,
        kind: str,
        lock: str,
        payload: dict[str, Any],
        run_at: datetime | None = None,
        queueing_lock: str | None = None,
    ) -> int | None:
        """`enqueue` in a transaction of its own, committed."""
        ...

    async def enqueue_many(self, queue: QueueUnderTest, jobs: Sequence[NewJob]) -> None: ...

    async def enqueue_each(self, queue: QueueUnderTest, jobs: Sequence[dict[str, Any]]) -> list[int | None]:
        """`enqueue` each job, one call each, all in one transaction, committed."""
        ...

    async def enqueue_rolled_back(self, queue: QueueUnderTest, *, kind: str, lock: str) -> int | None:
        """`enqueue` in a transaction that then rolls back; the id `enqueue` returned."""
        ...


# Fast retries for tests: the backoff of attempt n is 10 ms · 2^(n-1) (with jitter).
RETRY_BASE_S = 0.01
POLL_S = 0.02


class EmbeddedHarness:
    """The embedded queue on a fresh SQLite file; its enqueue writes in a transaction of the store's
    writer thread (`Database.write`), as the pipeline's do."""

    name = "embedded"

    def __init__(self, db: Database) -> None:
        self.db = db

    async def build(
        self, handlers: Mapping[str, Handler], *, concurrency: int = 8, max_attempts: int = 8, **options: Any
    ) -> QueueUnderTest:
        return EmbeddedQueue(
            self.db,
            handlers,
            concurrency=concurrency,
            max_attempts=max_attempts,
            retry_base_s=RETRY_BASE_S,
            poll_interval_s=POLL_S,
            **options,
        )

    async def lose_a_run(self, queue: QueueUnderTest) -> None:
        assert isinstance(queue, EmbeddedQueue)
        # This process's pid under another token: an earlier incarnation of this pid, dead for sure.
        dead = f"{socket.gethostname()}|{os.getpid()}|{uuid.uuid4().hex[:8]}"

        def take(conn: Connection) -> None:
            due = select(func.min(jobs.c.id)).where(
                jobs.c.status.in_(("ready", "retry")), jobs.c.run_at <= time.time()
            )
            job_id = conn.scalar(due)
            assert job_id is not None, "no job is due"
            # What the claim does (`embedded._claim_statement`), under the dead process's token.
            conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id)
                .values(
                    status="running", attempt=jobs.c.attempt + 1, worker=dead, lease_until=time.time() + 60
                )
            )

        await self.db.write(take)
        assert await queue.reclaim_dead_workers() == 1

    async def enqueue_in_transaction(
        self,
        queue: QueueUnderTest,
        calls: Sequence[dict[str, Any] | Sequence[NewJob]],
        *,
        commit: bool = True,
    ) -> list[int | None]:
        """All `calls` in one transaction: a dict is one `enqueue(**call)` (its result), a list one
        `enqueue_many` (None). The only place that uses the embedded queue's enqueue API."""
        assert isinstance(queue, EmbeddedQueue)
        results: list[int | None] = []

        def enqueue_all(conn: Connection) -> None:
            for call in calls:
                if isinstance(call, dict):
                    results.append(queue.enqueue(conn, **call))
                else:
                    queue.enqueue_many(conn, call)
                    results.append(None)
            if not commit:
                raise _RolledBack

        with contextlib.suppress(_RolledBack):
            await self.db.write(enqueue_all)
        return results

    async def enqueue(self, queue: QueueUnderTest, **job: Any) -> int | None:
        return (await self.enqueue_in_transaction(queue, [job]))[0]

    async def enqueue_many(self, queue: QueueUnderTest, jobs: Sequence[NewJob]) -> None:
        await self.enqueue_in_transaction(queue, [jobs])

    async def enqueue_each(self, queue: QueueUnderTest, jobs: Sequence[dict[str, Any]]) -> list[int | None]:
        return await self.enqueue_in_transaction(queue, jobs)

    async def enqueue_rolled_back(self, queue: QueueUnderTest, *, kind: str, lock: str) -> int | None:
        job = {"kind": kind, "lock": lock, "payload": {}}
        return (await self.enqueue_in_transaction(queue, [job], commit=False))[0]


class _RolledBack(Exception):
    pass


class _ProcrastinateHarness:
    """The procrastinate adapter; its enqueue is sync and runs on a thread, as on the store's writer."""

    name = "procrastinate"

    def __init__(self) -> None:
        self.apps: list[App] = []

    def connector(self) -> PsycopgConnector | InMemoryConnector:
        raise NotImplementedError

    async def build(
        self, handlers: Mapping[str, Handler], *, concurrency: int = 8, max_attempts: int = 8, **options: Any
    ) -> ProcrastinateQueue:
        """`options`: more of `ProcrastinateQueue`'s settings (polling, heartbeats, …)."""
        app = App(connector=self.connector())
        await app.open_async()
        self.apps.append(app)
        settings: dict[str, Any] = {"retry_base_s": RETRY_BASE_S, "poll_interval_s": POLL_S} | options
        return ProcrastinateQueue(
            app, handlers, concurrency=concurrency, max_attempts=max_attempts, **settings
        )

    def _in_transaction(
        self, work: Callable[[sqlalchemy.Connection | None], Any], *, commit: bool = True
    ) -> Any:
        raise NotImplementedError

    async def enqueue(self, queue: QueueUnderTest, **job: Any) -> int | None:
        assert isinstance(queue, ProcrastinateQueue)
        result: int | None = await asyncio.to_thread(
            self._in_transaction, lambda conn: queue.enqueue(conn, **job)
        )
        return result

    async def enqueue_many(self, queue: QueueUnderTest, jobs: Sequence[NewJob]) -> None:
        assert isinstance(queue, ProcrastinateQueue)
        await asyncio.to_thread(self._in_transaction, lambda conn: queue.enqueue_many(conn, jobs))

    async def enqueue_each(self, queue: QueueUnderTest, jobs: Sequence[dict[str, Any]]) -> list[int | None]:
        assert isinstance(queue, ProcrastinateQueue)
        result: list[int | None] = await asyncio.to_thread(
            self._in_transaction, lambda conn: [queue.enqueue(conn, **job) for job in jobs]
        )
        return result

    async def enqueue_rolled_back(self, queue: QueueUnderTest, *, kind: str, lock: str) -> int | None:
        assert isinstance(queue, ProcrastinateQueue)
        result: int | None = await asyncio.to_thread(
            self._in_transaction,
            lambda conn: queue.enqueue(conn, kind=kind, lock=lock, payload={}),
            commit=False,
        )
        return result

    async def close(self) -> None:
        for app in self.apps:
            await app.close_async()


class PostgresHarness(_ProcrastinateHarness):
    """procrastinate on a real PostgreSQL database (its schema applied by `orderbridge migrate`'s step)."""

    name = "procrastinate-postgres"

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.engine = sqlalchemy.create_engine(sqlalchemy.make_url(url).set(drivername="postgresql+psycopg"))

    def connector(self) -> PsycopgConnector:
        return PsycopgConnector(conninfo=libpq_conninfo(self.url), min_size=1, max_size=8)

    def _in_transaction(
        self, work: Callable[[sqlalchemy.Connection | None], Any], *, commit: bool = True
    ) -> Any:
        with self.engine.connect() as conn:
            with conn.begin() as transaction:
                result = work(conn)
                if not commit:
                    transaction.rollback()
            return result

    async def lose_a_run(self, queue: QueueUnderTest) -> None:
        assert isinstance(queue, ProcrastinateQueue)
        await asyncio.to_thread(self._taken_by_a_dead_worker)
        assert await queue.sweep_stalled() == 1

    def _taken_by_a_dead_worker(self) -> None:
        """A worker that fetched the next job and died: its row stays, its heartbeat stops, its
        liveness lock is free (it never took one: as after its session closed)."""
        with psycopg.connect(libpq_conninfo(self.url), autocommit=True) as conn:
            register = "SELECT worker_id FROM procrastinate_register_worker_v1()"
            [(worker_id,)] = conn.execute(register).fetchall()
            [(job_id,)] = conn.execute(
                "SELECT id FROM procrastinate_fetch_job_v2(%s, %s)", ([QUEUE], worker_id)
            ).fetchall()
            assert job_id is not None, "no job is due"
            conn.execute(
                "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour' WHERE id = %s",
                (worker_id,),
            )

    def empty(self) -> None:
        with psycopg.connect(libpq_conninfo(self.url), autocommit=True) as conn:
            conn.execute(
                f"TRUNCATE procrastinate_events, procrastinate_periodic_defers, {NOTES_TABLE}, "
                "procrastinate_jobs, procrastinate_workers RESTART IDENTITY CASCADE"
            )

    def status_of(self, job_id: int) -> tuple[str, int]:
        with psycopg.connect(libpq_conninfo(self.url)) as conn:
            row = conn.execute(
                "SELECT status, attempts FROM procrastinate_jobs WHERE id = %s", (job_id,)
            ).fetchone()
        assert row is not None
        return str(row[0]), int(row[1])

    def job_ids(self) -> set[int]:
        with psycopg.connect(libpq_conninfo(self.url)) as conn:
            return {row[0] for row in conn.execute("SELECT id FROM procrastinate_jobs").fetchall()}

    async def close(self) -> None:
        await super().close()
        self.engine.dispose()


class MemoryHarness(_ProcrastinateHarness):
    """procrastinate's `InMemoryConnector`: no transactions (a rolled-back enqueue is not meaningful)."""

    name = "procrastinate-memory"

    def __init__(self) -> None:
        super().__init__()
        self.memory = InMemoryConnector()

    def connector(self) -> InMemoryConnector:
        return self.memory

    def _in_transaction(
        self, work: Callable[[sqlalchemy.Connection | None], Any], *, commit: bool = True
    ) -> Any:
        assert commit, "the in-memory connector has no transactions"
        return work(None)

    async def lose_a_run(self, queue: QueueUnderTest) -> None:
        assert isinstance(queue, ProcrastinateQueue)
        worker_id = (await self.memory.register_worker_one())["worker_id"]
        taken = await self.memory.fetch_job_one([QUEUE], worker_id)
        assert taken["id"] is not None, "no job is due"
        self.memory.workers[worker_id] = utils.utcnow() - timedelta(hours=1)  # its heartbeat stopped
        assert await queue.sweep_stalled() == 1


@contextlib.asynccontextmanager
async def embedded_harness(directory: Path) -> AsyncIterator[EmbeddedHarness]:
    async with fresh_sqlite(directory) as db:
        yield EmbeddedHarness(db)


@contextlib.asynccontextmanager
async def running(queue: QueueUnderTest) -> AsyncIterator[None]:
    """The queue's workers run inside the block; stopped (gracefully) at its end."""
    stop = asyncio.Event()
    task = asyncio.create_task(queue.run(stop))
    try:
        yield
    finally:
        stop.set()
        await task


async def eventually(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout_s} s")
        await asyncio.sleep(0.01)
