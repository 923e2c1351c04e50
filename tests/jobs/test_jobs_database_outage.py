"""procrastinate's workers through a PostgreSQL outage (a restart, a fail-over): every connection cut,
new ones refused for a few seconds. The worker must outlast it — not stop because a heartbeat, a poll or
the LISTEN connection failed — and the job that finished while the database was away must still be
recorded, not left `doing` under a live worker (no sweep would ever run it again)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import pytest
from procrastinate import PsycopgConnector, exceptions
from psycopg import sql

from jobs.queue_harness import PostgresHarness, eventually, running
from orderbridge.jobs.errors import RetryLater
from orderbridge.jobs.port import Job
from orderbridge.jobs.procrastinate_notes import Liveness, SqlNotes
from orderbridge.jobs.procrastinate_queue import ProcrastinateQueue
from orderbridge.store.procrastinate_schema import libpq_conninfo

pytestmark = pytest.mark.postgres

OUTAGE_S = 3.0  # several heartbeats, polls and pool waits long


class ImpatientPool(PostgresHarness):
    """A pool that waits 0.5 s for a connection rather than 30: the outage outlasts the wait, as a
    restart that takes longer than the service's pool timeout does."""

    def connector(self) -> PsycopgConnector:
        return PsycopgConnector(conninfo=libpq_conninfo(self.url), min_size=1, max_size=8, timeout=0.5)


@pytest.fixture
async def pg(procrastinate_url: str) -> AsyncIterator[PostgresHarness]:
    harness = ImpatientPool(procrastinate_url)
    harness.empty()
    try:
        yield harness
    finally:
        await harness.close()


def _admin(url: str) -> psycopg.Connection[tuple[object, ...]]:
    """A connection to the server's `postgres` database: ours is the one cut off."""
    return psycopg.connect(libpq_conninfo(url), dbname="postgres", autocommit=True)


def cut_off(url: str) -> None:
    """As a restart does: every connection to the database ends, and new ones are refused."""
    name = str(psycopg.conninfo.conninfo_to_dict(libpq_conninfo(url))["dbname"])
    with _admin(url) as admin:
        admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(sql.Identifier(name)))
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )


def restore(url: str) -> None:
    name = str(psycopg.conninfo.conninfo_to_dict(libpq_conninfo(url))["dbname"])
    with _admin(url) as admin:
        admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(sql.Identifier(name)))


async def test_a_worker_outlasts_a_database_outage_and_records_the_job_that_finished_during_it(
    pg: PostgresHarness,
) -> None:
    finished: list[int] = []
    running, release = asyncio.Event(), asyncio.Event()

    async def step(job: Job) -> None:
        if job.payload["n"] == 1:
            running.set()
            await release.wait()
        finished.append(job.payload["n"])

    queue = await pg.build({"step": step}, poll_interval_s=0.2, heartbeat_s=0.3, stalled_after_s=60.0)
    stop = asyncio.Event()
    worker = asyncio.create_task(queue.run(stop))
    try:
        first = await pg.enqueue(queue, kind="step", lock="acme:o1", payload={"n": 1})
        await asyncio.wait_for(running.wait(), 5)
        await asyncio.to_thread(cut_off, pg.url)
        release.set()  # the job ends while its completion cannot be written
        try:
            await asyncio.sleep(OUTAGE_S)
            assert not worker.done(), "the worker stopped during the outage"
        finally:
            await asyncio.to_thread(restore, pg.url)
        pg.engine.dispose()  # the test's own pooled connections died too
        await pg.enqueue(queue, kind="step", lock="acme:o1", payload={"n": 2})

        await eventually(lambda: finished == [1, 2], timeout_s=10)
        assert first is not None
        await eventually(lambda: first not in pg.job_ids(), timeout_s=5)  # succeeded: its row is gone
        assert not worker.done()
    finally:
        stop.set()
        await asyncio.wait_for(worker, 15)


async def test_a_run_whose_notes_cannot_be_read_during_an_outage_runs_again_and_is_not_parked(
    pg: PostgresHarness,
) -> None:
    """The adapter reads its notes before the handler runs (attempts that do not count). When that read
    met the outage, the error left the task as any handler error would, and procrastinate failed the
    job with no reason and no retry: an invoice's relay was lost so (the chaos run on a cluster)."""
    runs: list[int] = []

    async def step(job: Job) -> None:
        runs.append(job.attempt)
        if len(runs) == 1:
            raise RetryLater(0.01, "VTEX answered 429")

    queue = await pg.build({"step": step}, poll_interval_s=0.05)
    read_notes = queue.notes.uncounted
    failures = [exceptions.ConnectorException("the database restarts")]

    async def uncounted(job_id: int) -> int:
        if failures:
            raise failures.pop()
        return await read_notes(job_id)

    queue.notes.uncounted = uncounted  # type: ignore[method-assign]
    job_id = await pg.enqueue(queue, kind="step", lock="acme:o1", payload={})
    async with running(queue):
        await eventually(lambda: len(runs) == 2, timeout_s=10)
        await eventually(lambda: pg.job_ids() == set(), timeout_s=5)  # succeeded
    assert not failures and job_id is not None
    assert await queue.list_parked() == []


async def test_after_a_database_restart_a_live_workers_running_job_is_not_run_again(
    pg: PostgresHarness,
) -> None:
    """A restart drops every session, so every liveness lock is free until its live worker takes it
    again, and heartbeats paused meanwhile: a sweep that trusted free locks at once would run a live
    worker's jobs a second time. Two processes, each running jobs and sweeping; the one running the
    job comes back last (its lock and its heartbeat), within the grace of three liveness checks."""
    started: list[int] = []
    release, comeback = asyncio.Event(), asyncio.Event()

    async def work(job: Job) -> None:
        started.append(job.id)
        await release.wait()

    # Beats 1 s apart: a dead worker's bound 2 s, the grace 3 s (the pools reconnect within it).
    options = {"heartbeat_s": 1.0, "stalled_after_s": 30.0, "poll_interval_s": 0.05}
    live = await pg.build({"work": work}, **options)
    other = await pg.build({"work": work}, **options)
    _slow_to_come_back(live, comeback)
    swept = _sweeps_counted(other)
    job_id = await pg.enqueue(live, kind="work", lock="acme:o1", payload={})
    async with running(live):
        await eventually(lambda: started == [job_id])
        async with running(other):
            await eventually(lambda: other.own_liveness() is not None)
            await asyncio.to_thread(cut_off, pg.url)
            try:
                await asyncio.sleep(2.5)  # heartbeats now 2.5 s old: more than two beats
            finally:
                await asyncio.to_thread(restore, pg.url)
            pg.engine.dispose()
            await eventually(lambda: other.own_liveness() is not None)  # the other one is back
            swept.clear()
            await eventually(lambda: len(swept) >= 2)  # and sweeping, within its grace
            comeback.set()  # the live worker takes its lock again, and heartbeats
            await asyncio.sleep(1.5)
            assert started == [job_id]
            assert pg.status_of(job_id or 0)[0] == "doing"
            release.set()
            await eventually(lambda: pg.job_ids() == set(), timeout_s=10)


def _sweeps_counted(queue: ProcrastinateQueue) -> list[int]:
    """The queue's sweeps that reached the database, as they end (what each recovered)."""
    swept: list[int] = []
    sweep = queue.sweep_stalled

    async def counted() -> int:
        recovered = await sweep()
        swept.append(recovered)
        return recovered

    queue.sweep_stalled = counted  # type: ignore[method-assign]
    return swept


def _slow_to_come_back(queue: ProcrastinateQueue, comeback: asyncio.Event) -> None:
    """After losing its session, the queue's worker takes its lock again and heartbeats only once
    `comeback` is set (a worker that notices the restart last)."""
    notes, manager = queue.notes, queue.app.job_manager
    assert isinstance(notes, SqlNotes)
    hold_alive, update_heartbeat = notes.hold_alive, manager.update_heartbeat

    async def held_back(alive: Liveness, *, check_s: float) -> None:
        first = asyncio.create_task(hold_alive(alive, check_s=check_s))
        try:
            await eventually(lambda: alive.reconnected, timeout_s=60)  # the first session is lost
        finally:
            first.cancel()
            await asyncio.gather(first, return_exceptions=True)
        await comeback.wait()
        await hold_alive(alive, check_s=check_s)

    async def beat(worker_id: int) -> None:
        own = queue.own_liveness()
        if own is None and not comeback.is_set():
            return  # its heartbeat is late too
        await update_heartbeat(worker_id)

    notes.hold_alive = held_back  # type: ignore[method-assign]
    manager.update_heartbeat = beat  # type: ignore[method-assign]
