"""`enqueue_many`: several jobs in one round trip, with `enqueue`'s order, dedupe and wake-up."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select

from orderbridge.jobs.embedded import EmbeddedQueue
from orderbridge.jobs.port import Job, NewJob
from orderbridge.store.db import Database
from orderbridge.store.tables import jobs


async def test_jobs_enqueued_together_run_once_each_in_lock_order_and_a_waiting_duplicate_is_coalesced(
    db: Database,
) -> None:
    seen: dict[str, list[int]] = defaultdict(list)

    async def step(job: Job) -> None:
        seen[job.lock].append(job.payload["n"])

    queue = EmbeddedQueue(db, {"step": step}, concurrency=8, poll_interval_s=0.01)
    batch = [NewJob("step", f"acme:o{lock}", {"n": n}) for n in range(3) for lock in range(4)]
    coalesced = NewJob("step", "acme:o9", {"n": 0}, queueing_lock="sync:o9")
    with db.begin() as session:
        queue.enqueue_many(session, [*batch, coalesced, coalesced])
        queue.enqueue_many(session, [])
    with db.connect() as session:
        stored = (session.execute(select(jobs.c.lock, jobs.c.status))).all()
    assert len(stored) == len(batch) + 1 and {status for _, status in stored} == {"ready"}
    await queue.run_until_idle(timeout_s=30)
    assert dict(seen) == {**{f"acme:o{lock}": [0, 1, 2] for lock in range(4)}, "acme:o9": [0]}
