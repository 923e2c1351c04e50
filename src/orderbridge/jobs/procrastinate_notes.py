"""What the procrastinate adapter keeps beside procrastinate's own rows, on PostgreSQL or in memory.

procrastinate's job row has no place for a parked job's reason, for attempts that must not count (a
`RetryLater(count_attempt=False)` wait, a requeue's fresh start, a run lost to a dead worker), for how
many runs were lost to dead workers (`deaths`, against `max_deaths`) or for the job that took over a
coalesced one; `orderbridge_job_notes` (see `store.procrastinate_schema`) does, one row per job that
needed one. `SqlNotes` reads and writes it with procrastinate's own connector (its pool), and also
holds the few statements the adapter runs on procrastinate's tables itself: requeueing a parked job,
listing parked jobs, waking workers for a lock's next job. `MemoryNotes` is the same on procrastinate's
`InMemoryConnector`, for fast unit tests.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import psycopg
import structlog
from procrastinate import utils
from procrastinate.psycopg_connector import PsycopgConnector
from procrastinate.testing import InMemoryConnector

from orderbridge.jobs.port import ParkedJob
from orderbridge.store.procrastinate_schema import NOTES_TABLE, WORKERS_TABLE

log = structlog.get_logger(__name__)

#: TCP keepalives on a worker's own session (see `SqlNotes.hold_alive`): a worker whose host vanished
#: without closing it is noticed by PostgreSQL in ~idle + interval x count seconds.
_SESSION_OPTIONS: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 2,
    "application_name": "orderbridge-worker",
}

#: The task keyword that carries the enqueue time (procrastinate's row has no creation time).
ENQUEUED_AT = "_enqueued_at"
def died_reason(deaths: int) -> str:
    """Why a job whose runs kept being lost to dead workers was parked."""
    return f"gave up: its worker died {deaths} times while running it"


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

    async def died(self, job_id: int) -> int:
        """The current run was lost to a dead worker: it does not count toward the job's attempts (written
        before procrastinate adds it to `attempts`), it counts as a death; the job's deaths so far."""
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
INSERT INTO {NOTES_TABLE} AS n (job_id, uncounted, deaths, reason, parked_at, superseded_by)
VALUES (%(job_id)s, %(uncounted)s, %(deaths)s, %(reason)s, %(parked_at)s, %(superseded_by)s)
ON CONFLICT (job_id) DO UPDATE SET
"""
_GIVE_BACK = _UPSERT + "uncounted = n.uncounted + 1"
_DIED = _UPSERT + "uncounted = n.uncounted + 1, deaths = n.deaths + 1 RETURNING deaths"
_PARK = _UPSERT + "reason = EXCLUDED.reason, parked_at = EXCLUDED.parked_at"
_SUPERSEDE = _UPSERT + "superseded_by = EXCLUDED.superseded_by"
_FORGIVE = _UPSERT + "uncounted = EXCLUDED.uncounted, deaths = 0, reason = NULL, parked_at = NULL"

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


#: The first key of the two-key advisory lock each worker holds on a session of its own for as long as
#: it lives (the second: its procrastinate worker id): apart from the singletons' namespace (0x0B03)
#: and the one-key locks of migrations, procrastinate's schema and the instance lock.
WORKER_LOCK_NAMESPACE = 0x0B04
_WORKER_KEY = "%(namespace)s, mod(%(worker_id)s::bigint, 2147483648)::int"

# A stalled job is run again only if it still is what the sweep found: `doing` under the same worker,
# whose heartbeat is still older than the bound in force (see `SqlNotes.recover_stalled`) and whose
# session is gone (its advisory lock is free). The row stays locked until the retry commits, so two
# sweeps, or a sweep and a worker, cannot both act on it.
_CLAIM_STALLED = """
SELECT j.lock, j.queueing_lock
FROM procrastinate_jobs j
WHERE j.id = %(job_id)s AND j.status = 'doing' AND j.worker_id IS NOT DISTINCT FROM %(worker_id)s
  AND NOT EXISTS (
    SELECT 1 FROM procrastinate_workers w
    WHERE w.id = j.worker_id AND w.last_heartbeat >= now() - make_interval(secs => %(silent_s)s)
  )
FOR UPDATE OF j
"""
# Whether a free liveness lock means a dead worker, as the sweeping process sees it: the server has run
# for `grace_s` at least (a restart drops every session: live workers need a moment to take their locks
# again) and this process's own lock is held, by a session at least `session_grace_s` old (after its own
# session was lost, to a fail-over say, the others' were too). Checked on the server, in the claim's
# transaction: a sweep that meets the database back before its process noticed the restart must not
# trust what it sees.
_LOCKS_TRUSTED = """
SELECT now() - pg_postmaster_start_time() >= make_interval(secs => %(grace_s)s) AND EXISTS (
    SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.classid::bigint = %(namespace)s::bigint
      AND l.objid::bigint = mod(%(worker_id)s::bigint, 2147483648)
      AND a.backend_start <= now() - make_interval(secs => %(session_grace_s)s)
)
"""
_SESSION_GONE = f"SELECT pg_try_advisory_xact_lock({_WORKER_KEY})"
# procrastinate's own prune (a worker starting deletes the rows of workers with an old heartbeat), for
# the dead only: a live worker's row deleted would leave its running jobs with no worker (stalled for
# the sweep) and its next fetches failing on the foreign key.
_PRUNE_DEAD = f"""
DELETE FROM procrastinate_workers w
WHERE w.last_heartbeat < now() - make_interval(secs => %(seconds)s)
  AND pg_try_advisory_xact_lock({WORKER_LOCK_NAMESPACE}, mod(w.id, 2147483648)::int)
RETURNING w.id
"""


@dataclass
class Liveness:
    """A worker's own session holding its liveness lock (`SqlNotes.hold_alive`), as this process sees it."""

    worker_id: int
    #: Set while the lock is held (as far as the process knows: a lost session is noticed at its next check).
    held: asyncio.Event = field(default_factory=asyncio.Event)
    #: The session was lost at least once (a restart of PostgreSQL, a fail-over, the network).
    reconnected: bool = False


@dataclass(frozen=True)
class DeathRule:
    """When the sweep counts a worker whose liveness lock is free as dead (see `SqlNotes.recover_stalled`)."""

    #: Its heartbeat older than this, while the locks can be trusted (a live worker whose session alone
    #: was lost keeps heartbeating; a registering worker has not fetched a job yet).
    dead_after_s: float
    #: Its heartbeat older than this, while they cannot (this process's own lock not held, or too new).
    stalled_after_s: float
    #: How long after a restart of PostgreSQL, or a new session of this process's own, the locks are not
    #: trusted: live workers take theirs again meanwhile (they check their session every few seconds).
    grace_s: float


def _note(job_id: int, **values: Any) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "uncounted": 0,
        "deaths": 0,
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

    async def died(self, job_id: int) -> int:
        row = await self.connector.execute_query_one_async(_DIED, **_note(job_id, uncounted=1, deaths=1))
        return int(row["deaths"])

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
                other = await self._supersede(conn, job_id, queueing_lock)
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
    async def _supersede(conn: psycopg.AsyncConnection[Any], job_id: int, queueing_lock: str | None) -> Any:
        """Note that the job waiting under `queueing_lock` does `job_id`'s work; that job's id (or None)."""
        cursor = await conn.execute(
            "SELECT id FROM procrastinate_jobs WHERE queueing_lock = %s AND status = 'todo'", (queueing_lock,)
        )
        other = (await cursor.fetchone() or (None,))[0]
        await conn.execute(_SUPERSEDE, _note(job_id, superseded_by=other))
        return other

    @staticmethod
    async def _superseded(conn: psycopg.AsyncConnection[Any], job_id: int) -> bool:
        cursor = await conn.execute(
            f"SELECT 1 FROM {NOTES_TABLE} WHERE job_id = %s AND superseded_by IS NOT NULL", (job_id,)
        )
        return await cursor.fetchone() is not None

    async def recover_stalled(
        self,
        job_id: int,
        worker_id: int | None,
        *,
        rule: DeathRule,
        own: Liveness | None,
        max_deaths: int,
    ) -> str | None:
        """Run again (or park, after `max_deaths`) a job a sweep found stalled, if it still is: `doing`
        under `worker_id`, whose session is gone (see `hold_alive`) and whose heartbeat is old: older
        than `rule.dead_after_s` when free locks can be trusted (`_LOCKS_TRUSTED`, with `own` this
        process's liveness session), else than `rule.stalled_after_s`. The lost run does not count as an
        attempt but as a death (`died`), in the same transaction. What was done ("retried", "parked",
        "superseded"), or None: its run may still be going, left alone."""
        async with self.connector.pool.connection() as conn, conn.transaction():
            trusted = await self._locks_trusted(conn, rule, own)
            silent_s = rule.dead_after_s if trusted else rule.stalled_after_s
            cursor = await conn.execute(
                _CLAIM_STALLED, {"job_id": job_id, "worker_id": worker_id, "silent_s": silent_s}
            )
            row = await cursor.fetchone()
            if row is None:
                return None  # another sweep took it first, or its worker's heartbeat came back
            if worker_id is not None and not await self._session_gone(conn, worker_id):
                return None  # a live worker whose heartbeat is late (a loaded machine, an outage)
            lock, queueing_lock = row
            died = await (await conn.execute(_DIED, _note(job_id, uncounted=1, deaths=1))).fetchone()
            assert died is not None
            if died[0] >= max_deaths:
                reason = died_reason(died[0])
                await conn.execute(_PARK, _note(job_id, reason=reason, parked_at=utils.utcnow()))
                await conn.execute("SELECT procrastinate_finish_job_v1(%s, 'failed', false)", (job_id,))
                return "parked"
            try:
                async with conn.transaction():  # a savepoint: a conflict must not undo the claim
                    await conn.execute(
                        "SELECT procrastinate_retry_job_v2(%s, NULL, NULL, NULL, NULL)", (job_id,)
                    )
            except psycopg.errors.UniqueViolation:
                # procrastinate issue #1446 (see `_JobManager.retry_job`): the waiting job does the work.
                await self._supersede(conn, job_id, queueing_lock)
                await conn.execute("SELECT procrastinate_finish_job_v1(%s, 'aborted', false)", (job_id,))
                outcome = "superseded"
            else:
                outcome = "retried"
            await conn.execute(_WAKE, {"lock": lock})  # delivered at commit
            return outcome

    @staticmethod
    async def _locks_trusted(
        conn: psycopg.AsyncConnection[Any], rule: DeathRule, own: Liveness | None
    ) -> bool:
        if own is None or not own.held.is_set():
            return False
        params = {
            "grace_s": rule.grace_s,
            "session_grace_s": rule.grace_s if own.reconnected else 0.0,
            "namespace": WORKER_LOCK_NAMESPACE,
            "worker_id": own.worker_id,
        }
        row = await (await conn.execute(_LOCKS_TRUSTED, params)).fetchone()
        return bool(row and row[0])

    @staticmethod
    async def _session_gone(conn: psycopg.AsyncConnection[Any], worker_id: int) -> bool:
        key = {"namespace": WORKER_LOCK_NAMESPACE, "worker_id": worker_id}
        row = await (await conn.execute(_SESSION_GONE, key)).fetchone()
        return bool(row and row[0])

    async def prune_dead_workers(self, seconds_since_heartbeat: float) -> list[int]:
        rows = await self.connector.execute_query_all_async(_PRUNE_DEAD, seconds=seconds_since_heartbeat)
        return [int(row["id"]) for row in rows]

    async def hold_alive(self, alive: Liveness, *, check_s: float) -> None:
        """Hold the worker's advisory lock on a session of its own until cancelled: PostgreSQL releases
        it the moment the process dies (its connection closes), which a heartbeat cannot tell apart
        from a late one. Taken again after a lost connection (a restart of PostgreSQL); `alive.held` is
        set while taken."""
        key = {"namespace": WORKER_LOCK_NAMESPACE, "worker_id": alive.worker_id}
        conninfo = self.connector.pool.conninfo
        assert isinstance(conninfo, str), "the pool's conninfo is a string (psycopg_pool allows a callable)"
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    conninfo, autocommit=True, **_SESSION_OPTIONS
                ) as conn:
                    await conn.execute(f"SELECT pg_advisory_lock({_WORKER_KEY})", key)
                    alive.held.set()
                    while True:
                        await asyncio.sleep(check_s)
                        await asyncio.wait_for(conn.execute("SELECT 1"), max(check_s, 5.0))
            except (psycopg.Error, OSError, TimeoutError) as error:
                # Whatever cut this session off (a restart, a fail-over) may have cut the others' too.
                alive.held.clear()
                alive.reconnected = True
                log.warning("jobs.worker_session_lost", worker_id=alive.worker_id, error=type(error).__name__)
                await asyncio.sleep(min(check_s, 1.0))

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
    deaths: int = 0
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

    async def died(self, job_id: int) -> int:
        note = self._of(job_id)
        note.uncounted += 1
        note.deaths += 1
        return note.deaths

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
