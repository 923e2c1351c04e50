"""What becomes of a job: done, retried with backoff, waiting without spending attempts, parked, requeued."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from orderbridge.jobs.embedded import EmbeddedQueue, job_counts
from orderbridge.jobs.errors import Park, RetryLater
from orderbridge.jobs.port import Handler, Job
from orderbridge.store.db import Database
from orderbridge.store.tables import jobs


def queue_for(db: Database, handlers: dict[str, Handler], **options: float) -> EmbeddedQueue:
    settings = {"poll_interval_s": 0.01, "retry_base_s": 0.005, "retry_max_s": 0.02, **options}
    return EmbeddedQueue(db, handlers, **settings)  # type: ignore[arg-type]


async def add(queue: EmbeddedQueue, db: Database, kind: str, lock: str = "acme:o1", **payload: object) -> int:
    with db.begin() as session:
        job_id = queue.enqueue(session, kind=kind, lock=lock, payload=dict(payload))
    assert job_id is not None
    return job_id


async def job_row(db: Database, job_id: int) -> dict[str, object]:
    with db.connect() as session:
        return dict((session.execute(select(jobs).where(jobs.c.id == job_id))).mappings().one())


async def test_a_failing_job_is_retried_until_it_succeeds(db: Database) -> None:
    attempts: list[int] = []

    async def flaky(job: Job) -> None:
        attempts.append(job.attempt)
        if job.attempt < 3:
            raise ConnectionError("VTEX answered 503")

    queue = queue_for(db, {"flaky": flaky})
    job_id = await add(queue, db, "flaky")
    await queue.run_until_idle(timeout_s=10)
    assert attempts == [1, 2, 3]
    row = await job_row(db, job_id)
    assert (row["status"], row["attempt"]) == ("done", 3)
    assert queue.stats()["retried"] == 2


def test_backoff_grows_exponentially_up_to_the_cap_with_jitter() -> None:
    low = EmbeddedQueue(None, {}, retry_base_s=1.0, retry_max_s=60.0, rng=lambda: 0.0)  # type: ignore[arg-type]
    high = EmbeddedQueue(None, {}, retry_base_s=1.0, retry_max_s=60.0, rng=lambda: 1.0)  # type: ignore[arg-type]
    assert [high.backoff_s(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert [low.backoff_s(n) for n in range(1, 4)] == [0.5, 1, 2]


async def test_a_failed_job_waits_for_its_backoff_before_running_again(db: Database) -> None:
    now = [1000.0]
    runs: list[float] = []

    async def fails_once(job: Job) -> None:
        runs.append(now[0])
        if job.attempt == 1:
            raise RuntimeError("boom")

    queue = EmbeddedQueue(
        db, {"x": fails_once}, poll_interval_s=0.01, clock=lambda: now[0], retry_base_s=30, rng=lambda: 1.0
    )
    job_id = await add(queue, db, "x")
    await queue.run_until_idle(timeout_s=5, horizon_s=10)  # idle: the retry is 30 s away
    row = await job_row(db, job_id)
    assert (row["status"], row["run_at"], row["last_error"]) == ("retry", 1030.0, "RuntimeError: boom")
    now[0] = 1030.0
    await queue.run_until_idle(timeout_s=5)
    assert runs == [1000.0, 1030.0]
    assert (await job_row(db, job_id))["status"] == "done"


async def test_a_job_is_parked_with_its_reason_after_max_attempts_and_frees_its_lock(db: Database) -> None:
    later: list[int] = []

    async def broken(job: Job) -> None:
        raise ValueError("ERP schema mismatch")

    async def next_one(job: Job) -> None:
        later.append(job.id)

    queue = queue_for(db, {"broken": broken, "next": next_one}, max_attempts=3)
    broken_id = await add(queue, db, "broken")
    next_id = await add(queue, db, "next")
    await queue.run_until_idle(timeout_s=10)
    parked = await queue.list_parked()
    assert [(p.id, p.attempt) for p in parked] == [(broken_id, 3)]
    assert parked[0].reason == "gave up after 3 attempts: ValueError: ERP schema mismatch"
    assert later == [next_id]


async def test_waiting_that_is_not_the_jobs_fault_spends_no_attempts(db: Database) -> None:
    attempts: list[int] = []

    async def rate_limited(job: Job) -> None:
        attempts.append(job.attempt)
        if len(attempts) < 5:
            raise RetryLater(0.0, "429, Retry-After 0", count_attempt=False)

    queue = queue_for(db, {"x": rate_limited}, max_attempts=2)
    job_id = await add(queue, db, "x")
    await queue.run_until_idle(timeout_s=10)
    assert attempts == [1, 1, 1, 1, 1]
    assert (await job_row(db, job_id))["status"] == "done"


async def test_a_counted_retry_later_parks_once_attempts_are_spent(db: Database) -> None:
    async def never_ready(job: Job) -> None:
        raise RetryLater(0.0, "order not visible yet")

    queue = queue_for(db, {"x": never_ready}, max_attempts=2)
    job_id = await add(queue, db, "x")
    await queue.run_until_idle(timeout_s=10)
    assert [(p.id, p.reason) for p in await queue.list_parked()] == [
        (job_id, "gave up after 2 attempts: order not visible yet")
    ]


async def test_park_gives_up_at_once_and_requeue_runs_it_again_at_the_back_of_its_lock(db: Database) -> None:
    order: list[str] = []

    async def picky(job: Job) -> None:
        if job.payload["name"] == "first" and "parked" not in order:
            order.append("parked")
            raise Park("ERP rejected the order: unknown customer")
        order.append(job.payload["name"])

    queue = queue_for(db, {"x": picky})
    first = await add(queue, db, "x", name="first")
    await add(queue, db, "x", name="second")
    await queue.run_until_idle(timeout_s=10)
    assert order == ["parked", "second"]
    [parked] = await queue.list_parked(lock="acme:*")
    assert (parked.id, parked.reason, parked.attempt) == (
        first,
        "ERP rejected the order: unknown customer",
        1,
    )

    again = await queue.requeue(first)
    assert again is not None and again > first
    assert await queue.requeue(first) is None  # no longer parked
    await queue.run_until_idle(timeout_s=10)
    assert order == ["parked", "second", "first"]
    assert await queue.list_parked() == []
    assert (await job_row(db, first))["status"] == "requeued"


async def test_an_operator_can_requeue_every_parked_job_of_a_lock(db: Database) -> None:
    async def park(job: Job) -> None:
        if job.attempt == 1 and not job.payload.get("retried"):
            raise Park("no")

    queue = queue_for(db, {"x": park})
    await add(queue, db, "x", lock="acme:o1")
    await add(queue, db, "x", lock="acme:o1")
    await add(queue, db, "x", lock="acme:o2")
    await queue.run_until_idle(timeout_s=10)
    with db.connect() as session:
        assert (job_counts(session))[("acme", "parked")] == 3
    assert len(await queue.requeue_parked("acme:o1")) == 2
    assert [p.lock for p in await queue.list_parked()] == ["acme:o2"]


async def test_a_job_without_a_handler_is_parked_not_lost(db: Database) -> None:
    queue = queue_for(db, {})
    job_id = await add(queue, db, "mystery")
    await queue.run_until_idle(timeout_s=5)
    assert [(p.id, p.reason) for p in await queue.list_parked()] == [
        (job_id, "no handler for job kind 'mystery'")
    ]


async def test_dedupe_coalesces_into_an_unclaimed_job_but_not_into_a_running_one(db: Database) -> None:
    started = asyncio.Event()
    release = asyncio.Event()
    runs: list[int] = []

    async def sync(job: Job) -> None:
        runs.append(job.id)
        started.set()
        await release.wait()

    queue = queue_for(db, {"sync": sync})

    def enqueue_sync() -> int | None:
        with db.begin() as session:
            return queue.enqueue(
                session, kind="sync", lock="acme:o1", payload={}, queueing_lock="sync:acme:o1"
            )

    first = enqueue_sync()
    assert first is not None and enqueue_sync() is None
    stop = asyncio.Event()
    runner = asyncio.create_task(queue.run(stop))
    await asyncio.wait_for(started.wait(), 5)
    second = enqueue_sync()  # the first one is running: it may have read the order already
    third = enqueue_sync()
    assert second is not None and third is None
    release.set()
    stop.set()
    await runner
    await queue.run_until_idle(timeout_s=5)
    assert runs == [first, second]


async def test_a_job_enqueued_in_a_rolled_back_transaction_does_not_exist(db: Database) -> None:
    ran: list[int] = []

    async def record(job: Job) -> None:
        ran.append(job.id)

    queue = queue_for(db, {"x": record})
    with pytest.raises(RuntimeError), db.begin() as session:
        queue.enqueue(session, kind="x", lock="acme:o1", payload={})
        raise RuntimeError("the state change failed")
    await queue.run_until_idle(timeout_s=5)
    with db.connect() as session:
        assert (session.execute(select(jobs.c.id))).all() == []
    assert ran == []


async def test_a_job_can_be_scheduled_for_later(db: Database) -> None:
    from datetime import UTC, datetime

    now = [2000.0]
    ran: list[float] = []

    async def record(job: Job) -> None:
        ran.append(now[0])

    queue = queue_for(db, {"x": record}, clock=lambda: now[0])  # type: ignore[arg-type]
    with db.begin() as session:
        queue.enqueue(
            session, kind="x", lock="acme:o1", payload={}, run_at=datetime.fromtimestamp(2060.0, UTC)
        )
    await queue.run_until_idle(timeout_s=5, horizon_s=30)
    assert ran == []
    now[0] = 2060.0
    await queue.run_until_idle(timeout_s=5)
    assert ran == [2060.0]
