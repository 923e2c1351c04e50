"""What the procrastinate adapter adds to the contract on PostgreSQL: new work and a lock's next job
start at once (NOTIFY), a retry never strands its lock, stopped and crashed runs run again."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from jobs.queue_harness import PostgresHarness, eventually, running
from orderbridge.jobs.errors import Park, RetryLater
from orderbridge.jobs.port import Job
from orderbridge.store.procrastinate_schema import libpq_conninfo

pytestmark = pytest.mark.postgres

NO_POLL_S = 30.0  # a polling interval no test waits for: what starts in time was woken by a NOTIFY


async def test_a_job_committed_while_the_worker_idles_starts_at_once(pg: PostgresHarness) -> None:
    started: list[float] = []

    async def step(job: Job) -> None:
        started.append(time.monotonic())

    queue = await pg.build({"step": step}, poll_interval_s=NO_POLL_S)
    async with running(queue):
        await asyncio.sleep(0.3)  # the worker has looked, found nothing and waits
        committed = time.monotonic()
        await pg.enqueue(queue, kind="step", lock="acme:o1", payload={})
        await eventually(lambda: len(started) == 1, timeout_s=3)
    assert started[0] - committed < 1.0


async def test_a_locks_next_job_starts_as_soon_as_the_previous_one_finishes(pg: PostgresHarness) -> None:
    """procrastinate sends no NOTIFY when a job finishes: a worker that found the lock busy would wait for
    its next poll; the adapter wakes the workers for the lock's next job."""
    done: list[int] = []

    async def step(job: Job) -> None:
        await asyncio.sleep(0.05)
        done.append(job.payload["n"])

    queue = await pg.build({"step": step}, poll_interval_s=NO_POLL_S)
    async with running(queue):
        await asyncio.sleep(0.3)
        for n in range(3):
            await pg.enqueue(queue, kind="step", lock="acme:o1", payload={"n": n})
        await eventually(lambda: len(done) == 3, timeout_s=3)
    assert done == [0, 1, 2]


async def test_a_retry_that_meets_a_waiting_job_of_its_queueing_lock_hands_it_the_work(
    pg: PostgresHarness,
) -> None:
    """procrastinate's retry would violate the queueing lock's unique index and leave the job `doing` for
    good, its lock blocked (procrastinate issue #1446). The waiting job runs at once, not after the wait
    the first one asked for."""
    runs: list[int] = []
    started, release = asyncio.Event(), asyncio.Event()

    async def sync(job: Job) -> None:
        runs.append(job.payload["n"])
        if job.payload["n"] == 1:
            started.set()
            await release.wait()
            raise RetryLater(60, "429: rate limited", count_attempt=False)

    queue = await pg.build({"sync": sync}, poll_interval_s=NO_POLL_S)
    job = {"kind": "sync", "lock": "acme:o1", "queueing_lock": "sync:acme:o1"}
    first = await pg.enqueue(queue, **job, payload={"n": 1})
    async with running(queue):
        await asyncio.wait_for(started.wait(), 5)
        second = await pg.enqueue(queue, **job, payload={"n": 2})
        release.set()
        await eventually(lambda: runs == [1, 2], timeout_s=5)
    assert first is not None and second is not None
    assert pg.status_of(first)[0] == "aborted" and pg.job_ids() == {first}  # the second one succeeded
    assert await queue.list_parked() == []


async def test_a_succeeded_job_leaves_no_row_and_a_parked_one_stays(pg: PostgresHarness) -> None:
    async def step(job: Job) -> None:
        if job.payload["park"]:
            raise Park("ERP refused it")

    queue = await pg.build({"step": step})
    done = await pg.enqueue(queue, kind="step", lock="acme:o1", payload={"park": False})
    parked = await pg.enqueue(queue, kind="step", lock="acme:o2", payload={"park": True})
    async with running(queue):
        await eventually(lambda: pg.job_ids() == {parked})
    assert done is not None and pg.status_of(parked or 0)[0] == "failed"


async def test_a_run_stopped_at_shutdown_runs_again_without_spending_an_attempt(pg: PostgresHarness) -> None:
    attempts: list[int] = []

    async def slow(job: Job) -> None:
        attempts.append(job.attempt)
        if len(attempts) == 1:
            await asyncio.sleep(60)

    queue = await pg.build({"slow": slow}, shutdown_grace_s=0.1)
    job_id = await pg.enqueue(queue, kind="slow", lock="acme:o1", payload={})
    async with running(queue):
        await eventually(lambda: len(attempts) == 1)
    assert job_id is not None and pg.status_of(job_id)[0] == "todo"
    again = await pg.build({"slow": slow})
    async with running(again):
        await eventually(lambda: len(attempts) == 2)
    assert attempts == [1, 1]


WORKER = """
import asyncio, os, sys
from procrastinate import App, PsycopgConnector
from orderbridge.jobs.procrastinate_queue import ProcrastinateQueue

async def hang(job):
    with open(sys.argv[2], "a") as marker:
        marker.write(f"{os.getpid()} {job.id} {job.attempt}\\n")
    await asyncio.Event().wait()

async def main():
    async with App(connector=PsycopgConnector(conninfo=sys.argv[1])).open_async() as app:
        options = {"heartbeat_s": 0.2, "stalled_after_s": 1.0, "poll_interval_s": 0.05}
        queue = ProcrastinateQueue(app, {"work": hang}, **options)
        await queue.run(asyncio.Event())

asyncio.run(main())
"""


async def test_the_job_of_a_sigkilled_worker_runs_again_once_found_by_the_stalled_job_sweep(
    pg: PostgresHarness, tmp_path: Path
) -> None:
    marker, script = tmp_path / "started", tmp_path / "worker.py"
    script.write_text(WORKER)
    runs: list[tuple[int, int]] = []

    async def work(job: Job) -> None:
        runs.append((job.id, job.attempt))
        await asyncio.sleep(1.5)  # longer than the stalled threshold: a live worker's job is left alone

    queue = await pg.build(
        {"work": work}, heartbeat_s=0.2, stalled_after_s=1.0, sweep_interval_s=0.2, poll_interval_s=0.05
    )
    job_id = await pg.enqueue(queue, kind="work", lock="acme:o1", payload={})
    with (tmp_path / "worker.log").open("w") as log:
        worker = await asyncio.create_subprocess_exec(
            sys.executable, str(script), libpq_conninfo(pg.url), str(marker), stdout=log, stderr=log
        )
    try:
        await eventually(
            lambda: marker.exists() and marker.read_text().strip() != "", timeout_s=30
        )  # a fresh interpreter importing procrastinate: slow on a loaded machine
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        await worker.wait()
    assert marker.read_text().split()[1:] == [str(job_id), "1"]
    assert pg.status_of(job_id)[0] == "doing"  # what a killed worker leaves behind

    async with running(queue):
        await eventually(lambda: len(runs) == 1, timeout_s=5)
        await eventually(lambda: pg.job_ids() == set(), timeout_s=5)  # succeeded
        await asyncio.sleep(1.2)  # more sweeps: none takes the job again
    assert runs == [(job_id, 1)]  # the killed run is not an attempt: not the job's failure
