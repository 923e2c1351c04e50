"""The stalled-job sweep runs a job again only when its run is really over: never two runs of one job
at once (the relays' exactly-once rests on it). Found by the chaos run on a cluster: a loaded machine and
a PostgreSQL restart left live workers' heartbeats late, and the sweeps of two processes met on the
same job; five item changes and an invoice reached VTEX twice."""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest

from jobs.queue_harness import PostgresHarness, eventually, running
from orderbridge.jobs.port import Job
from orderbridge.jobs.procrastinate_notes import WORKER_LOCK_NAMESPACE
from orderbridge.jobs.procrastinate_queue import QUEUE
from orderbridge.store.procrastinate_schema import libpq_conninfo

pytestmark = pytest.mark.postgres

SWEEPER = {"heartbeat_s": 0.2, "stalled_after_s": 1.0, "poll_interval_s": 0.05}
#: As the service's settings, scaled down: a dead worker's jobs must not wait for `stalled_after_s`.
QUICK = {"heartbeat_s": 0.2, "stalled_after_s": 30.0, "poll_interval_s": 0.05}


class Runs:
    """A handler that counts its runs and holds each one until released (a relay waiting on VTEX)."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.release = asyncio.Event()

    async def __call__(self, job: Job) -> None:
        self.started.append(job.id)
        await self.release.wait()


def _sql(pg: PostgresHarness, statement: str, *args: object) -> list[tuple[object, ...]]:
    with psycopg.connect(libpq_conninfo(pg.url), autocommit=True) as conn:
        cursor = conn.execute(statement, args)
        return cursor.fetchall() if cursor.description else []


def _heartbeats_late(pg: PostgresHarness) -> None:
    """Every worker's last heartbeat an hour old: what a loaded machine or an outage can leave."""
    _sql(pg, "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour'")


def _taken_by_a_dead_worker(pg: PostgresHarness) -> int:
    """A worker that fetched the next job and died (SIGKILL): its row stays, its heartbeat stops."""
    [(worker_id,)] = _sql(pg, "SELECT worker_id FROM procrastinate_register_worker_v1()")
    [(job_id,)] = _sql(pg, "SELECT id FROM procrastinate_fetch_job_v2(%s, %s)", [QUEUE], worker_id)
    _heartbeats_late(pg)
    assert isinstance(job_id, int)
    return job_id


def _taken_by_a_worker_that_dies(pg: PostgresHarness) -> tuple[int, psycopg.Connection[tuple[object, ...]]]:
    """A worker that registered, took its liveness lock and fetched the next job: (the job's id, its
    session). Closing the session is its death (a SIGKILL closes it): its heartbeat is still fresh."""
    session = psycopg.connect(libpq_conninfo(pg.url), autocommit=True)
    [(worker_id,)] = session.execute("SELECT worker_id FROM procrastinate_register_worker_v1()").fetchall()
    session.execute(
        "SELECT pg_advisory_lock(%s, mod(%s::bigint, 2147483648)::int)", (WORKER_LOCK_NAMESPACE, worker_id)
    )
    [(job_id,)] = session.execute(
        "SELECT id FROM procrastinate_fetch_job_v2(%s, %s)", ([QUEUE], worker_id)
    ).fetchall()
    assert isinstance(job_id, int)
    return job_id, session


async def test_the_running_job_of_a_live_worker_whose_heartbeat_is_late_is_not_run_again(
    pg: PostgresHarness,
) -> None:
    runs = Runs()
    # A worker whose heartbeat will not come in time (30 s apart) and another process's sweep.
    live = await pg.build({"work": runs}, heartbeat_s=30.0, stalled_after_s=60.0, poll_interval_s=0.05)
    sweeper = await pg.build({"work": runs}, **SWEEPER)
    job_id = await pg.enqueue(live, kind="work", lock="acme:o1", payload={})
    async with running(live):
        await eventually(lambda: runs.started == [job_id])
        _heartbeats_late(pg)
        assert await sweeper.sweep_stalled() == 0  # its worker is alive: its session holds on
        async with running(sweeper):  # a sweeper whose own lock is held: it trusts free locks
            await asyncio.sleep(1.0)  # past its grace; a second run would have started by now
        assert runs.started == [job_id]
        assert pg.status_of(job_id or 0)[0] == "doing"
        runs.release.set()
        await eventually(lambda: pg.job_ids() == set())


async def test_a_dead_workers_job_is_run_again_within_seconds_of_its_death_not_after_stalled_after_s(
    pg: PostgresHarness,
) -> None:
    """Found by the chaos run (one process on PostgreSQL, SIGKILLed every ~5 s): a dead worker's jobs
    came back only once its heartbeat was `stalled_after_s` old; restarted processes mostly died before
    that, recovered relays started right before the next kill, and 18 relays were parked after 8
    deaths each. A free liveness lock says the worker is dead at once; two missed beats confirm it."""
    runs = Runs()
    runs.release.set()
    sweeper = await pg.build({"work": runs}, **QUICK)
    await pg.enqueue(sweeper, kind="work", lock="acme:o1", payload={})
    job_id, session = _taken_by_a_worker_that_dies(pg)
    async with running(sweeper):
        await asyncio.sleep(0.5)  # the other process is up, its own lock held
        session.close()  # the worker dies
        died = time.monotonic()
        await eventually(lambda: runs.started == [job_id], timeout_s=3.0)
        assert time.monotonic() - died < 1.5  # two beats (0.4 s) and a sweep, not 30 s
        await eventually(lambda: pg.job_ids() == set())


async def test_a_starting_process_runs_its_dead_predecessors_job_at_once_not_after_a_sweep_interval(
    pg: PostgresHarness,
) -> None:
    """The restarted process of a one-process deployment is the only one to sweep: its first look is
    as soon as its own lock is held."""
    runs = Runs()
    runs.release.set()
    restarted = await pg.build({"work": runs}, **QUICK, sweep_interval_s=10.0)
    await pg.enqueue(restarted, kind="work", lock="acme:o1", payload={})
    job_id, session = _taken_by_a_worker_that_dies(pg)
    session.close()
    _heartbeats_late(pg)  # it died a while ago
    started = time.monotonic()
    async with running(restarted):
        await eventually(lambda: runs.started == [job_id], timeout_s=5.0)
        assert time.monotonic() - started < 3.0
        await eventually(lambda: pg.job_ids() == set())


async def test_a_stalled_job_found_by_two_sweeps_is_run_again_once(pg: PostgresHarness) -> None:
    """Two processes' sweeps list the same job of a dead worker; the first runs it again; the second,
    acting on what it listed, must leave the new run alone."""
    runs = Runs()
    sweeper = await pg.build({"work": runs}, **SWEEPER)
    worker = await pg.build({"work": runs}, **SWEEPER)
    await pg.enqueue(worker, kind="work", lock="acme:o1", payload={})
    job_id = _taken_by_a_dead_worker(pg)
    [found] = await sweeper.find_stalled()
    [also_found] = await sweeper.find_stalled()  # the other process's sweep, at the same moment
    assert await sweeper.recover_stalled(found) == 1
    async with running(worker):
        await eventually(lambda: runs.started == [job_id])
        assert await sweeper.recover_stalled(also_found) == 0
        await asyncio.sleep(0.5)
        assert runs.started == [job_id]
        runs.release.set()
        await eventually(lambda: pg.job_ids() == set())


async def test_a_live_worker_whose_heartbeat_is_late_is_not_pruned_by_a_starting_worker(
    pg: PostgresHarness,
) -> None:
    """procrastinate's worker deletes, as it starts, the rows of workers with an old heartbeat; the jobs
    of a deleted worker have no worker any more and count as stalled, however alive their runs are."""
    runs = Runs()
    live = await pg.build({"work": runs}, heartbeat_s=30.0, stalled_after_s=60.0, poll_interval_s=0.05)
    starting = await pg.build({"work": runs}, **SWEEPER)
    job_id = await pg.enqueue(live, kind="work", lock="acme:o1", payload={})
    async with running(live):
        await eventually(lambda: runs.started == [job_id])
        _heartbeats_late(pg)
        async with running(starting):
            await asyncio.sleep(1.0)  # it has started (and pruned) and swept a few times
            assert runs.started == [job_id]
            assert _sql(pg, "SELECT worker_id IS NOT NULL FROM procrastinate_jobs WHERE id = %s", job_id) == [
                (True,)
            ]
        runs.release.set()
        await eventually(lambda: pg.job_ids() == set())


async def test_the_job_of_a_dead_worker_whose_row_was_pruned_runs_again(pg: PostgresHarness) -> None:
    runs = Runs()
    runs.release.set()
    worker = await pg.build({"work": runs}, **SWEEPER)
    await pg.enqueue(worker, kind="work", lock="acme:o1", payload={})
    job_id = _taken_by_a_dead_worker(pg)
    async with running(worker):  # it prunes the dead worker's row as it starts, then sweeps
        await eventually(lambda: runs.started == [job_id], timeout_s=5)
        await eventually(lambda: pg.job_ids() == set())
    assert _sql(pg, "SELECT count(*) FROM procrastinate_workers") == [(0,)]
