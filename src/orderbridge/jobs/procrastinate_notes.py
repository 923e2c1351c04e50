"""What the procrastinate adapter keeps beside procrastinate's own rows, on PostgreSQL or in memory.

procrastinate's job row has no place for a parked job's reason, for attempts that must not count (a
`RetryLater(count_attempt=False)` wait, a requeue's fresh start) or for the job that took over a
coalesced one; `orderbridge_job_notes` (see `store.procrastinate_schema`) does, one row per job that
needed one. `SqlNotes` reads and writes it with procrastinate's own connector (its pool), and also
holds the few statements the adapter runs on procrastinate's tables itself: requeueing a parked job,
listing parked jobs, waking workers for a lock's next job. `MemoryNotes` is the same on procrastinate's
`InMemoryConnector`, for fast unit tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import psycopg
from procrastinate import utils
from procrastinate.psycopg_connector import PsycopgConnector
from procrastinate.testing import InMemoryConnector

from orderbridge.jobs.port import ParkedJob
from orderbridge.store.procrastinate_schema import NOTES_TABLE, WORKERS_TABLE

#: The task keyword that carries the enqueue time (procrastinate's row has no creation time).
ENQUEUED_AT = "_enqueued_at"
NO_REASON = "failed with no reason recorded (a kind without handler, or its worker could not record one)"


def split_args(args: dict[str, Any]) -> tuple[dict[str, Any], datetime]:
    """A job's task kwargs as (the port's payload, its enqueue time)."""
    payload = dict(args)
    stamp = payload.pop(ENQUEUED_AT, None)
    return payload, datetime.fromisoformat(stamp) if isinstance(stamp, str) else datetime.fromtimestamp(
        0, UTC
    )


class Notes(Protocol):
    async def uncounted(self, job_id: int) -> int:
        """Runs of the job that do not count toward its attempts."""
        ...

    async def give_back(self, job_id: int) -> None:
        """The current run does not count (written before procrastinate adds it to `attempts`)."""
        ...

    async def park(self, job_id: int, reason: str) -> None:
        """Record why the job is given up (before procrastinate marks it failed)."""
        ...

    async def supersede(self, job_id: int, queueing_lock: str | None) -> int | None:
        """The job's work goes to the waiting job of its queueing lock: record and return that job's id."""
        ...

    async def requeue(self, job_id: int) -> int | None:
        """A failed job back to `todo` with a fresh count of attempts; the id that will run, or None."""
        ...

    async def list_parked(self, lock: str | None, limit: int) -> list[ParkedJob]: ...

    async def wake(self, lock: str | None) -> None:
        """Tell every worker that the lock's next job may be due now."""
        ...


_UPSERT = f"""
INSERT INTO {NOTES_TABLE} AS n (job_id, uncounted, reason, parked_at, superseded_by)
VALUES (%(job_id)s, %(uncounted)s, %(reason)s, %(parked_at)s, %(superseded_by)s)
ON CONFLICT (job_id) DO UPDATE SET
"""
_GIVE_BACK = _UPSERT + "uncounted = n.uncounted + 1"
_PARK = _UPSERT + "reason = EXCLUDED.reason, parked_at = EXCLUDED.parked_at"
_SUPERSEDE = _UPSERT + "superseded_by = EXCLUDED.superseded_by"
_FORGIVE = _UPSERT + "uncounted = EXCLUDED.uncounted, reason = NULL, parked_at = NULL"

# A job's NOTIFY as procrastinate's insert trigger sends it, for the lock's oldest waiting job that is
# due: a worker that found nothing to run (the lock was busy) otherwise waits for its next poll.
_WAKE = """
SELECT pg_notify(channel, json_build_object('type', 'job_inserted', 'job_id', id)::text)
FROM (
    SELECT id, queue_name FROM procrastinate_jobs
    WHERE lock = %(lock)s AND status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= now())
    ORDER BY priority DESC, id LIMIT 1
) AS next_job,
LATERAL (VALUES ('procrastinate_any_queue_v1'), ('procrastinate_queue_v1#' || queue_name)) AS c(channel)
"""

_LIST_PARKED = f"""
SELECT j.id, j.task_name, j.lock, j.args, j.attempts, n.uncounted, n.reason, n.parked_at
FROM procrastinate_jobs j LEFT JOIN {NOTES_TABLE} n ON n.job_id = j.id
WHERE j.status = 'failed' AND n.superseded_by IS NULL
  AND (%(lock)s::text IS NULL OR j.lock = %(lock)s)
  AND (%(prefix)s::text IS NULL OR starts_with(j.lock, %(prefix)s))
ORDER BY j.id DESC LIMIT %(limit)s
"""


def _note(job_id: int, **values: Any) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "uncounted": 0,
        "reason": None,
        "parked_at": None,
        "superseded_by": None,
    } | values


def _lock_filter(lock: str | None) -> tuple[str | None, str | None]:
    """(exact lock, lock prefix) from the port's `lock` argument (a trailing `*` means a prefix)."""
    if lock is not None and lock.endswith("*"):
        return None, lock[:-1]
    return lock, None


def _parked(row: dict[str, Any]) -> ParkedJob:
    payload, enqueued_at = split_args(row["args"])
    return ParkedJob(
        id=row["id"],
        kind=row["task_name"],
        lock=row["lock"] or "",
        payload=payload,
        attempt=row["attempts"] - (row["uncounted"] or 0),
        reason=row["reason"] or NO_REASON,
        enqueued_at=enqueued_at,
        parked_at=row["parked_at"],
    )


class SqlNotes:
    """Notes on PostgreSQL, through procrastinate's (open) psycopg connector."""

    def __init__(self, connector: PsycopgConnector) -> None:
        self.connector = connector

    async def uncounted(self, job_id: int) -> int:
        rows = await self.connector.execute_query_all_async(
            f"SELECT uncounted FROM {NOTES_TABLE} WHERE job_id = %(job_id)s", job_id=job_id
        )
        return int(rows[0]["uncounted"]) if rows else 0

    async def give_back(self, job_id: int) -> None:
        await self.connector.execute_query_async(_GIVE_BACK, **_note(job_id, uncounted=1))

    async def identify_worker(self, worker_id: int, host: str, pid: int) -> None:
        """Which host and process a procrastinate worker is (its row has no column for it)."""
        await self.connector.execute_query_async(
            f"INSERT INTO {WORKERS_TABLE} (worker_id, host, pid) VALUES (%(worker_id)s, %(host)s, %(pid)s)"
            " ON CONFLICT (worker_id) DO NOTHING",
            worker_id=worker_id,
            host=host,
            pid=pid,
        )

    async def park(self, job_id: int, reason: str) -> None:
        await self.connector.execute_query_async(
            _PARK, **_note(job_id, reason=reason, parked_at=utils.utcnow())
        )

    async def supersede(self, job_id: int, queueing_lock: str | None) -> int | None:
        rows = await self.connector.execute_query_all_async(
            "SELECT id FROM procrastinate_jobs WHERE queueing_lock = %(q)s AND status = 'todo'",
            q=queueing_lock,
        )
        other = int(rows[0]["id"]) if rows else None
        await self.connector.execute_query_async(_SUPERSEDE, **_note(job_id, superseded_by=other))
        return other

    async def requeue(self, job_id: int) -> int | None:
        async with self.connector.pool.connection() as conn, conn.transaction():
            row = await (
                await conn.execute(
                    "SELECT status, lock, queueing_lock FROM procrastinate_jobs WHERE id = %s FOR UPDATE",
                    (job_id,),
                )
            ).fetchone()
            if row is None or row[0] != "failed" or await self._superseded(conn, job_id):
                return None
            _, lock, queueing_lock = row
            try:
                async with conn.transaction():  # a savepoint: a conflict must not undo the lookups
                    await conn.execute(
                        "SELECT procrastinate_retry_job_v2(%s, now(), NULL, NULL, NULL)", (job_id,)
                    )
            except psycopg.errors.UniqueViolation:
                # A job with the same queueing lock is waiting: it does this work; the parked one is done.
                cursor = await conn.execute(
                    "SELECT id FROM procrastinate_jobs WHERE queueing_lock = %s AND status = 'todo'",
                    (queueing_lock,),
                )
                other = (await cursor.fetchone() or (None,))[0]
                await conn.execute(_SUPERSEDE, _note(job_id, superseded_by=other))
                return int(other) if other is not None else None
            attempts = await (
                await conn.execute("SELECT attempts FROM procrastinate_jobs WHERE id = %s", (job_id,))
            ).fetchone()
            assert attempts is not None
            # procrastinate counts the parked runs (and the retry itself): none of them count any more.
            await conn.execute(_FORGIVE, _note(job_id, uncounted=attempts[0]))
            await conn.execute(_WAKE, {"lock": lock})
        return job_id

    @staticmethod
    async def _superseded(conn: psycopg.AsyncConnection[Any], job_id: int) -> bool:
        cursor = await conn.execute(
            f"SELECT 1 FROM {NOTES_TABLE} WHERE job_id = %s AND superseded_by IS NOT NULL", (job_id,)
        )
        return await cursor.fetchone() is not None

    async def list_parked(self, lock: str | None, limit: int) -> list[ParkedJob]:
        exact, prefix = _lock_filter(lock)
        rows = await self.connector.execute_query_all_async(
            _LIST_PARKED, lock=exact, prefix=prefix, limit=limit
        )
        return [_parked(row) for row in rows]

    async def wake(self, lock: str | None) -> None:
        if lock is not None:
            await self.connector.execute_query_async(_WAKE, lock=lock)


@dataclass
class _MemoryNote:
    uncounted: int = 0
    reason: str | None = None
    parked_at: datetime | None = None
    superseded_by: int | None = None


class MemoryNotes:
    """Notes beside procrastinate's `InMemoryConnector` (its `jobs` dict stands for the table)."""

    def __init__(self, connector: InMemoryConnector) -> None:
        self.connector = connector
        self.notes: dict[int, _MemoryNote] = {}

    def _of(self, job_id: int) -> _MemoryNote:
        return self.notes.setdefault(job_id, _MemoryNote())

    async def uncounted(self, job_id: int) -> int:
        return self._of(job_id).uncounted

    async def give_back(self, job_id: int) -> None:
        self._of(job_id).uncounted += 1

    async def park(self, job_id: int, reason: str) -> None:
        note = self._of(job_id)
        note.reason, note.parked_at = reason, utils.utcnow()

    def _waiting(self, queueing_lock: str | None) -> int | None:
        return next(
            (
                int(job["id"])
                for job in self.connector.jobs.values()
                if queueing_lock is not None
                and job["queueing_lock"] == queueing_lock
                and job["status"] == "todo"
            ),
            None,
        )

    async def supersede(self, job_id: int, queueing_lock: str | None) -> int | None:
        self._of(job_id).superseded_by = other = self._waiting(queueing_lock)
        return other

    async def requeue(self, job_id: int) -> int | None:
        job = self.connector.jobs.get(job_id)
        if job is None or job["status"] != "failed" or self._of(job_id).superseded_by is not None:
            return None
        # procrastinate's SQL refuses a second `todo` job of one queueing lock; the in-memory twin does not.
        if self._waiting(job["queueing_lock"]) is not None:
            return await self.supersede(job_id, job["queueing_lock"])
        await self.connector.retry_job_run(job_id, retry_at=utils.utcnow())
        self.notes[job_id] = _MemoryNote(uncounted=job["attempts"])
        return job_id

    async def list_parked(self, lock: str | None, limit: int) -> list[ParkedJob]:
        exact, prefix = _lock_filter(lock)
        rows = [
            {**job, **vars(self._of(job["id"]))}
            for job in self.connector.jobs.values()
            if job["status"] == "failed"
            and self._of(job["id"]).superseded_by is None
            and (exact is None or job["lock"] == exact)
            and (prefix is None or (job["lock"] or "").startswith(prefix))
        ]
        rows.sort(key=lambda row: row["id"], reverse=True)
        return [_parked(row) for row in rows[:limit]]

    async def wake(self, lock: str | None) -> None:
        """Nothing to do: in-memory workers poll (tests run them with a short polling interval)."""
