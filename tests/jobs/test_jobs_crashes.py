"""Jobs left running by a process that died are run again: at once on restart, or when the lease expires."""

from __future__ import annotations

import asyncio
import os
import socket

from sqlalchemy import select, update

from orderbridge.jobs.embedded import EmbeddedQueue
from orderbridge.jobs.port import Job
from orderbridge.store.db import Database
from orderbridge.store.tables import jobs


async def enqueue_and_claim_as(
    db: Database, worker: str, lease_until: float, attempt: int = 1, deaths: int = 0
) -> int:
    """What a crashed process leaves behind: a job it claimed and never finished."""
    queue = EmbeddedQueue(db, {})
    with db.begin() as session:
        job_id = queue.enqueue(session, kind="work", lock="acme:o1", payload={})
        session.execute(
            update(jobs)
            .where(jobs.c.id == job_id)
            .values(status="running", worker=worker, lease_until=lease_until, attempt=attempt, deaths=deaths)
        )
    assert job_id is not None
    return job_id


async def status_of(db: Database, job_id: int) -> tuple[str, int]:
    with db.connect() as session:
        row = (session.execute(select(jobs.c.status, jobs.c.attempt).where(jobs.c.id == job_id))).one()
    return row.status, row.attempt


async def test_on_restart_jobs_of_the_dead_previous_process_run_again_at_once(db: Database) -> None:
    ran: list[int] = []

    async def work(job: Job) -> None:
        ran.append(job.attempt)

    # Same host and pid, another token: this process's previous incarnation (pids are reused).
    dead = f"{socket.gethostname()}|{os.getpid()}|deadbeef"
    job_id = await enqueue_and_claim_as(db, dead, lease_until=1e12)  # lease far from expiring
    queue = EmbeddedQueue(db, {"work": work}, poll_interval_s=0.01)
    await queue.run_until_idle(timeout_s=5)
    assert ran == [1]  # the crashed run is not an attempt: not the job's failure
    assert await status_of(db, job_id) == ("done", 1)


async def test_a_live_process_on_another_host_keeps_its_job_until_its_lease_expires(db: Database) -> None:
    now = [5000.0]
    ran: list[int] = []

    async def work(job: Job) -> None:
        ran.append(job.attempt)

    job_id = await enqueue_and_claim_as(db, "other-host|42|cafe", lease_until=5100.0)
    queue = EmbeddedQueue(db, {"work": work}, poll_interval_s=0.01, clock=lambda: now[0])
    stop = asyncio.Event()
    runner = asyncio.create_task(queue.run(stop))
    await asyncio.sleep(0.1)
    assert ran == [] and await status_of(db, job_id) == ("running", 1)
    now[0] = 5101.0  # the other process stopped renewing: its lease ran out
    for _ in range(500):  # bounded wait for the next poll to notice
        if ran:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await runner
    assert ran == [1]
    assert await status_of(db, job_id) == ("done", 1)


async def test_a_job_that_keeps_killing_its_process_ends_parked(db: Database) -> None:
    dead = f"{socket.gethostname()}|{os.getpid()}|deadbeef"
    # Its process died 19 times running it already (it failed twice on its own, too); this is the 20th.
    job_id = await enqueue_and_claim_as(db, dead, lease_until=1e12, attempt=3, deaths=19)
    queue = EmbeddedQueue(db, {}, poll_interval_s=0.01, max_attempts=8, max_deaths=20)
    await queue.run_until_idle(timeout_s=5)
    assert await status_of(db, job_id) == ("parked", 2)
    [parked] = await queue.list_parked()
    assert parked.reason == "gave up: its worker died 20 times while running it"


async def test_a_slow_job_keeps_its_lease_while_it_runs(db: Database) -> None:
    release = asyncio.Event()
    started = asyncio.Event()

    async def slow(job: Job) -> None:
        started.set()
        await release.wait()

    queue = EmbeddedQueue(db, {"slow": slow}, lease_s=0.3, poll_interval_s=0.01)
    with db.begin() as session:
        job_id = queue.enqueue(session, kind="slow", lock="acme:o1", payload={})
    stop = asyncio.Event()
    runner = asyncio.create_task(queue.run(stop))
    await asyncio.wait_for(started.wait(), 5)
    await asyncio.sleep(0.8)  # well past the first lease: renewals keep it ours
    assert job_id is not None and await status_of(db, job_id) == ("running", 1)
    assert queue.stats()["lost_lease"] == 0
    release.set()
    stop.set()
    await runner
    assert await status_of(db, job_id) == ("done", 1)


async def test_stopping_mid_run_gives_the_job_back_without_spending_an_attempt(db: Database) -> None:
    started = asyncio.Event()

    async def endless(job: Job) -> None:
        started.set()
        await asyncio.Event().wait()

    queue = EmbeddedQueue(db, {"x": endless}, poll_interval_s=0.01, shutdown_grace_s=0.05)
    with db.begin() as session:
        job_id = queue.enqueue(session, kind="x", lock="acme:o1", payload={})
    stop = asyncio.Event()
    runner = asyncio.create_task(queue.run(stop))
    await asyncio.wait_for(started.wait(), 5)
    stop.set()
    await runner
    assert job_id is not None and await status_of(db, job_id) == ("retry", 0)


def test_only_workers_of_this_host_that_no_longer_run_count_as_dead() -> None:
    import subprocess
    import sys

    from orderbridge.jobs.embedded import _token_is_dead, process_token

    me = process_token()
    host = socket.gethostname()
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    gone_pid = int(finished.stdout)
    assert _token_is_dead(f"{host}|{gone_pid}|aaaa", me)
    assert _token_is_dead(f"{host}|{os.getpid()}|aaaa", me)  # our pid, another token: a past life
    assert not _token_is_dead(me, me)
    assert not _token_is_dead(f"{host}|{os.getppid()}|aaaa", me)  # alive
    assert not _token_is_dead(f"elsewhere|{gone_pid}|aaaa", me)  # cannot know: wait for its lease
