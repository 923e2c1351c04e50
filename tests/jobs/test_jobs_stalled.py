"""The stalled-job sweep runs a job again only when its run is really over: never two runs of one job
at once (the relays' exactly-once rests on it). Found by the chaos run on a cluster: a loaded machine and
a PostgreSQL restart left live workers' heartbeats late, and the sweeps of two processes met on the
same job; five item changes and an invoice reached VTEX twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import pytest

from jobs.queue_harness import PostgresHarness, eventually, running
from orderbridge.jobs.port import Job
from orderbridge.jobs.procrastinate_queue import QUEUE
from orderbridge.store.procrastinate_schema import libpq_conninfo

pytestmark = pytest.mark.postgres

SWEEPER = {"heartbeat_s": 0.2, "stalled_after_s": 1.0, "poll_interval_s": 0.05}


@pytest.fixture
async def pg(procrastinate_url: str) -> AsyncIterator[PostgresHarness]:
    harness = PostgresHarness(procrastinate_url)
    harness.empty()
    try:
        yield harness
    finally:
        await harness.close()


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
        await asyncio.sleep(0.5)  # time for a second run to start, were the job `todo` again
        assert runs.started == [job_id]
        assert pg.status_of(job_id or 0)[0] == "doing"
        runs.release.set()
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
