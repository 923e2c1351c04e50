"""The `JobQueue` port: what handlers and the pipeline see of the queue, whatever runs it.

A job has a `kind` (which handler runs it), a `lock` and a JSON `payload`. Jobs of one lock run one at
a time, in the order they were enqueued (the pipeline uses one lock per order: `"{account}:{order_id}"`);
different locks run in parallel. `enqueue` writes in the caller's transaction (a synchronous call on
the caller's `Connection`, inside a `Database.write` unit), so a job exists exactly when the state
change that caused it committed. A `queueing_lock` coalesces: while a job with that key has
not been claimed yet, enqueuing another one with the same key returns None instead of adding a job (a job
already running does not count: the new event may have arrived after it read the order).

Handlers are `async def handler(job: Job) -> None`; they report through `orderbridge.jobs.errors`
(`RetryLater`, `Park`, or any other exception for a retry with backoff).

Adapters: `orderbridge.jobs.embedded.EmbeddedQueue` (jobs in the application database, asyncio workers;
SQLite by default, PostgreSQL with `FOR UPDATE SKIP LOCKED` for several processes). A procrastinate adapter
can implement the same port without touching handlers — see `embedded`'s docstring for the mapping.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.engine import Connection


@dataclass(frozen=True, slots=True)
class Job:
    """One run of a job, as its handler sees it. `attempt` counts from 1 (given-back waits and runs lost
    to a dead worker excluded: those are not the job's failures)."""

    id: int
    kind: str
    lock: str
    payload: dict[str, Any]
    attempt: int
    enqueued_at: datetime


Handler = Callable[[Job], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class NewJob:
    """One job to add with `JobQueue.enqueue_many` (the arguments of `enqueue`)."""

    kind: str
    lock: str
    payload: dict[str, Any]
    run_at: datetime | None = None
    queueing_lock: str | None = None


@dataclass(frozen=True, slots=True)
class ParkedJob:
    """A job that gave up, waiting for an operator."""

    id: int
    kind: str
    lock: str
    payload: dict[str, Any]
    attempt: int
    reason: str
    enqueued_at: datetime
    parked_at: datetime | None


class JobQueue(Protocol):
    def enqueue(
        self,
        conn: Connection,
        *,
        kind: str,
        lock: str,
        payload: dict[str, Any],
        run_at: datetime | None = None,
        queueing_lock: str | None = None,
    ) -> int | None:
        """Add a job in the caller's transaction (a `Database.write` unit, on the writer thread: this is
        synchronous); its id, or None when coalesced by `queueing_lock`."""
        ...

    def enqueue_many(self, conn: Connection, jobs: Sequence[NewJob]) -> None:
        """`enqueue` each job, in order, in the caller's transaction — in one round trip where the adapter
        can (a feed batch enqueues up to ten syncs at once). Ids are not returned."""
        ...

    async def requeue(self, job_id: int) -> int | None:
        """Run a parked job again, at the back of its lock's queue; the id of the job that will run, or None
        when `job_id` is not parked."""
        ...

    async def list_parked(self, *, lock: str | None = None, limit: int = 100) -> list[ParkedJob]:
        """Parked jobs, newest first (optionally of one lock or, with a trailing `*`, a lock prefix)."""
        ...
