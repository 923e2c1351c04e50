"""One lock per order: a lock's jobs run one at a time and in order; locks run in parallel."""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict

from sqlalchemy import func, select

from orderbridge.jobs.embedded import EmbeddedQueue
from orderbridge.jobs.port import Job
from orderbridge.store.db import Database
from orderbridge.store.tables import jobs


def enqueue_many(queue: EmbeddedQueue, db: Database, locks: int, per_lock: int) -> None:
    with db.begin() as session:
        for n in range(per_lock):
            for lock in range(locks):
                queue.enqueue(session, kind="step", lock=f"acme:o{lock}", payload={"n": n})


async def test_a_locks_jobs_never_overlap_and_keep_their_order_under_concurrency(db: Database) -> None:
    seen: dict[str, list[int]] = defaultdict(list)
    busy: set[str] = set()
    overlaps: list[str] = []
    running = peak = 0

    async def step(job: Job) -> None:
        nonlocal running, peak
        if job.lock in busy:
            overlaps.append(job.lock)
        busy.add(job.lock)
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(random.uniform(0, 0.003))
        seen[job.lock].append(job.payload["n"])
        running -= 1
        busy.discard(job.lock)

    queue = EmbeddedQueue(db, {"step": step}, concurrency=16, poll_interval_s=0.01)
    enqueue_many(queue, db, locks=40, per_lock=5)
    await queue.run_until_idle(timeout_s=30)
    assert overlaps == []
    assert all(order == [0, 1, 2, 3, 4] for order in seen.values()) and len(seen) == 40
    assert 1 < peak <= 16


async def test_two_queues_sharing_a_database_run_each_job_once_and_in_lock_order(db: Database) -> None:
    """Two workers (think: two processes on PostgreSQL) claim from the same table."""
    runs: list[tuple[str, int, str]] = []
    busy: set[str] = set()
    overlaps: list[str] = []

    def handler(name: str):  # type: ignore[no-untyped-def]
        async def step(job: Job) -> None:
            if job.lock in busy:
                overlaps.append(job.lock)
            busy.add(job.lock)
            await asyncio.sleep(random.uniform(0, 0.002))
            runs.append((job.lock, job.payload["n"], name))
            busy.discard(job.lock)

        return step

    a = EmbeddedQueue(db, {"step": handler("a")}, concurrency=8, poll_interval_s=0.01, token="host-a|1|a")
    b = EmbeddedQueue(db, {"step": handler("b")}, concurrency=8, poll_interval_s=0.01, token="host-b|1|b")
    enqueue_many(a, db, locks=20, per_lock=4)
    await asyncio.gather(a.run_until_idle(30), b.run_until_idle(30))
    assert overlaps == []
    assert len(runs) == 80 and len({(lock, n) for lock, n, _ in runs}) == 80
    for lock in {lock for lock, _, _ in runs}:
        assert [n for ln, n, _ in runs if ln == lock] == [0, 1, 2, 3]
    assert {name for _, _, name in runs} == {"a", "b"}


async def test_a_job_enqueued_by_a_handler_runs_without_waiting_for_a_poll(db: Database) -> None:
    done: list[str] = []

    async def first(job: Job) -> None:
        with db.begin() as session:
            queue.enqueue(session, kind="second", lock=job.lock, payload={})
        done.append("first")

    async def second(job: Job) -> None:
        done.append("second")

    queue = EmbeddedQueue(db, {"first": first, "second": second}, poll_interval_s=30)
    with db.begin() as session:
        queue.enqueue(session, kind="first", lock="acme:o1", payload={})
    await queue.run_until_idle(timeout_s=5)  # a 30 s poll would time out: commits wake the queue
    assert done == ["first", "second"]


async def test_throughput_smoke_many_jobs_over_many_locks(db: Database) -> None:
    """Not a timed assert: prints a rate to notice regressions by eye (`pytest -s`)."""
    count = 0

    async def step(job: Job) -> None:
        nonlocal count
        count += 1

    queue = EmbeddedQueue(db, {"step": step}, concurrency=32)
    enqueue_many(queue, db, locks=500, per_lock=4)
    started = time.perf_counter()
    await queue.run_until_idle(timeout_s=60)
    elapsed = time.perf_counter() - started
    print(f"\n{db.dialect}: 2000 jobs in {elapsed:.2f}s = {2000 / elapsed:.0f} jobs/s; {queue.stats()}")
    with db.connect() as session:
        done = session.scalar(select(func.count()).select_from(jobs).where(jobs.c.status == "done"))
    assert count == 2000 and done == 2000
