"""The embedded `JobQueue`: jobs in the application database, run by asyncio workers in this process.

How it works
- `enqueue` inserts a row in the caller's transaction (INSERT … ON CONFLICT DO NOTHING on the partial
  unique index of not-yet-claimed queueing locks) and, once that transaction commits, wakes the workers
  (`store.group_commit.after_commit`). It is synchronous: it runs in a `Database.write` unit, on the writer
  thread.
- One loop owns all of the queue's database work: it writes finished jobs' outcomes in one batch,
  returns expired leases to the queue, and claims up to `concurrency − running` due jobs in one
  `UPDATE … WHERE id IN (SELECT … [FOR UPDATE SKIP LOCKED]) RETURNING …`. Workers only run handlers.
  That work is a `Database.write` unit: under load it rides in the same transactions as the handlers'
  own writes (group commit) instead of paying for transactions of its own.
  While jobs run, the loop waits `gather_s` between cycles so that one cycle (one transaction) records
  the outcomes of several finished jobs; expired leases are looked for a few times per lease, not on
  every cycle.
- One lock, one job at a time, in order: a job is claimable only when no unfinished (ready, running,
  retry) job of its lock has a smaller id. A job waiting for its retry keeps its lock blocked (order is
  kept); a parked job does not. `requeue` copies a parked job to the back of its lock's queue, so ids
  under a lock always follow enqueue order and a running job is always its lock's oldest unfinished one.
- Claims are leases (`lease_until`, renewed while the handler runs). A job whose lease expired — its
  process died — is returned to the queue by whoever notices; on start, jobs left running by a dead
  process on this host (same host, pid gone or reused) are returned at once. The crashed run does not
  spend one of the job's `max_attempts` (those are for its own failures): it counts in `deaths`, and a
  job whose worker died `max_deaths` times while running it (one that kills its process) ends parked
  rather than looping.
- On PostgreSQL the claim uses `FOR UPDATE SKIP LOCKED`, so several processes can share a database;
  wake-ups are in-process, other processes' jobs are found by polling (`poll_interval_s`). On SQLite the
  service is alone on its database (its instance lock), so an idle loop sleeps until the next job is
  due, at most `idle_poll_s` (a job an operator's command adds is found within that); a wake-up after an
  in-process enqueue ends the sleep at once.

Mapping to procrastinate (a later adapter implementing the same port, handlers unchanged)
- `kind` → the task name; `payload` → the task's keyword arguments; `Job` is built from the job context.
- `lock` and `queueing_lock` are procrastinate's own names and meanings: jobs sharing a `lock` run one at
  a time, in order; at most one *todo* job per `queueing_lock` (procrastinate raises `AlreadyEnqueued`,
  which the adapter turns into `None`).
- `run_at` → `schedule_at`; `RetryLater`/backoff → a `RetryStrategy` plus `RetryDecision(retry_at=…)`;
  `Park` → failing the job without retry (status `failed` is the parked list).
- Transactional enqueue: procrastinate's psycopg connector on the caller's connection.
- Leases: procrastinate does not retry stalled jobs by itself — a periodic task calling
  `get_stalled_jobs` + `retry_job` takes the place of lease expiry.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import String, bindparam, case, cast, delete, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from orderbridge.jobs.errors import Park, RetryLater
from orderbridge.jobs.port import Handler, Job, NewJob, ParkedJob
from orderbridge.store.db import Database
from orderbridge.store.group_commit import after_commit
from orderbridge.store.tables import UNFINISHED_JOB_STATUSES, jobs
from orderbridge.store.types import Json

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class _Outcome:
    job_id: int
    status: str  # done | retry | parked
    attempt: int
    run_at: float | None = None
    error: str | None = None


def process_token() -> str:
    """Identifies this process in `jobs.worker`: host, pid, and a random part (pids get reused)."""
    return f"{socket.gethostname()}|{os.getpid()}|{uuid.uuid4().hex[:8]}"


def _token_is_dead(token: str, own_token: str) -> bool:
    """True when `token` belongs to a process of this host that no longer runs."""
    host, _, rest = token.partition("|")
    own_host, _, own_rest = own_token.partition("|")
    if host != own_host or token == own_token:
        return False
    pid_text = rest.partition("|")[0]
    if not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == int(own_rest.partition("|")[0]):
        return True  # our pid with another token: an earlier incarnation of this process id
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class EmbeddedQueue:
    """The `JobQueue` port on the application database. Start it with `run(stop)`.

    Only one `EmbeddedQueue` per process and database: a second instance in the same process takes the
    first one's running jobs for a crashed process's (which is what the crash tests rely on).
    """

    def __init__(
        self,
        db: Database,
        handlers: Mapping[str, Handler],
        concurrency: int = 32,
        lease_s: float = 120.0,
        poll_interval_s: float = 0.05,
        clock: Callable[[], float] = time.time,
        *,
        max_attempts: int = 8,
        max_deaths: int = 20,
        retry_base_s: float = 1.0,
        retry_max_s: float = 600.0,
        token: str | None = None,
        shutdown_grace_s: float = 10.0,
        keep_done_s: float = 86_400.0,
        rng: Callable[[], float] = random.random,
        gather_s: float = 0.005,
        idle_poll_s: float = 1.0,
    ) -> None:
        self.db = db
        self.handlers = dict(handlers)
        self.concurrency = concurrency
        self.lease_s = lease_s
        self.poll_interval_s = poll_interval_s
        self.clock = clock
        self.max_attempts = max_attempts
        self.max_deaths = max_deaths
        self.retry_base_s = retry_base_s
        self.retry_max_s = retry_max_s
        self.token = token or process_token()
        self.shutdown_grace_s = shutdown_grace_s
        self.keep_done_s = keep_done_s
        self._next_purge = 0.0
        self._next_release = 0.0
        self.gather_s = gather_s
        self.idle_poll_s = idle_poll_s
        #: When the earliest waiting job is due (epoch s), as the last claim that found nothing saw it.
        self._next_due: float | None = None
        self._rng = rng
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._outcomes: list[_Outcome] = []
        self._counters = {"claimed": 0, "done": 0, "retried": 0, "parked": 0, "failed": 0, "lost_lease": 0}

    # --- the port ------------------------------------------------------------------------------------

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
        if run_at is not None and run_at.tzinfo is None:
            raise ValueError("run_at must be timezone-aware")
        now = self.clock()
        params = {
            "kind": kind,
            "lock": lock,
            "payload": payload,
            "run_at": run_at.timestamp() if run_at is not None else now,
            "queueing_lock": queueing_lock,
            "enqueued_at": now,
        }
        stmt = _ENQUEUE[conn.dialect.name]
        job_id: int | None = conn.execute(stmt, params).scalar_one_or_none()
        if job_id is not None:
            after_commit(conn, self.wake)
        return job_id

    def enqueue_many(self, conn: Connection, jobs: Sequence[NewJob]) -> None:
        if not jobs:
            return
        now = self.clock()
        rows = []
        for job in jobs:
            if job.run_at is not None and job.run_at.tzinfo is None:
                raise ValueError("run_at must be timezone-aware")
            run_at = job.run_at.timestamp() if job.run_at is not None else now
            rows.append(
                {
                    "kind": job.kind,
                    "lock": job.lock,
                    "payload": job.payload,
                    "run_at": run_at,
                    "queueing_lock": job.queueing_lock,
                    "enqueued_at": now,
                }
            )
        # One executemany, in order (ids follow it, so lock order holds); a coalesced row is skipped by
        # ON CONFLICT DO NOTHING exactly as in `enqueue`.
        conn.execute(_ENQUEUE_BLIND[conn.dialect.name], rows)
        after_commit(conn, self.wake)

    async def requeue(self, job_id: int) -> int | None:
        new_id = await self.db.write(lambda conn: self._requeue_in(conn, job_id))
        if new_id is not None:
            self.wake()
        return new_id

    async def requeue_parked(self, lock: str) -> list[int]:
        """Requeue every parked job of a lock, oldest first (an operator's "retry this order")."""

        def requeue_all(conn: Connection) -> list[int]:
            ids = conn.scalars(
                select(jobs.c.id).where(jobs.c.lock == lock, jobs.c.status == "parked").order_by(jobs.c.id)
            ).all()
            return [n for job_id in ids if (n := self._requeue_in(conn, job_id)) is not None]

        new_ids = await self.db.write(requeue_all)
        if new_ids:
            self.wake()
        return new_ids

    async def list_parked(self, *, lock: str | None = None, limit: int = 100) -> list[ParkedJob]:
        stmt = select(
            jobs.c.id,
            jobs.c.kind,
            jobs.c.lock,
            jobs.c.payload,
            jobs.c.attempt,
            jobs.c.last_error,
            jobs.c.enqueued_at,
            jobs.c.finished_at,
        ).where(jobs.c.status == "parked")
        if lock is not None and lock.endswith("*"):
            stmt = stmt.where(jobs.c.lock.startswith(lock[:-1], autoescape=True))
        elif lock is not None:
            stmt = stmt.where(jobs.c.lock == lock)
        stmt = stmt.order_by(jobs.c.id.desc()).limit(limit)
        rows = await self.db.read(lambda conn: conn.execute(stmt).all())
        return [
            ParkedJob(
                id=r.id,
                kind=r.kind,
                lock=r.lock,
                payload=r.payload,
                attempt=r.attempt,
                reason=r.last_error or "",
                enqueued_at=_dt(r.enqueued_at),
                parked_at=_dt(r.finished_at) if r.finished_at is not None else None,
            )
            for r in rows
        ]

    # --- running -------------------------------------------------------------------------------------

    def wake(self) -> None:
        """Make the loop look for work now (called after an enqueue commits)."""
        self._wakeup.set()

    def stats(self) -> dict[str, Any]:
        return {**self._counters, "running": len(self._tasks), "concurrency": self.concurrency}

    async def run(self, stop: asyncio.Event) -> None:
        """Claim and run jobs until `stop` is set; then let running handlers finish (up to the grace)."""
        await self.reclaim_dead_workers()
        renewer = asyncio.create_task(self._renew_leases(stop))
        try:
            while not stop.is_set():
                if not await self._cycle():
                    if not self._tasks and not self._outcomes:
                        self._idle.set()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wakeup.wait(), self._idle_wait_s())
                    self._wakeup.clear()
                if self.gather_s > 0 and self._tasks and not stop.is_set():
                    # Jobs are finishing all the time: a few milliseconds' wait lets one cycle (one
                    # transaction) record several outcomes and claim several jobs, instead of one each.
                    await asyncio.sleep(self.gather_s)
        finally:
            renewer.cancel()
            await self._shutdown()

    async def run_until_idle(self, timeout_s: float = 30.0, *, horizon_s: float | None = None) -> None:
        """Run until nothing is running and no unfinished job is due (for tests and one-shot tools).

        With `horizon_s=None` every unfinished job counts, even one scheduled far ahead; otherwise jobs
        due later than now + `horizon_s` are left for later. Raises TimeoutError after `timeout_s`.
        """
        stop = asyncio.Event()
        runner = asyncio.create_task(self.run(stop))
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    self._idle.clear()
                    idle = asyncio.create_task(self._idle.wait())
                    await asyncio.wait({runner, idle}, return_when=asyncio.FIRST_COMPLETED)
                    idle.cancel()
                    if runner.done():
                        runner.result()
                        return
                    if await self._nothing_due(horizon_s):
                        return
        finally:
            stop.set()
            self.wake()
            await runner

    async def reclaim_dead_workers(self) -> int:
        """Return jobs left running by dead processes of this host to the queue; how many."""
        query = select(jobs.c.worker).where(jobs.c.status == "running", jobs.c.worker.is_not(None)).distinct()
        workers = await self.db.read(lambda conn: conn.scalars(query).all())
        dead = [w for w in workers if w is not None and _token_is_dead(w, self.token)]
        if not dead:
            return 0
        n = await self.db.write(lambda conn: self._release(conn, jobs.c.worker.in_(dead)))
        log.warning("jobs.reclaimed_from_dead_workers", jobs=n, workers=len(dead))
        return n

    # --- the loop's steps ----------------------------------------------------------------------------

    async def _cycle(self) -> bool:
        """Write outcomes, return expired leases, claim and start jobs. True when anything happened."""
        outcomes, self._outcomes = self._outcomes, []
        free = self.concurrency - len(self._tasks)
        if not outcomes and free <= 0:
            return False
        now = self.clock()

        def bookkeeping(conn: Connection) -> tuple[int, list[Job]]:
            if outcomes:
                self._write_outcomes(conn, outcomes)
            expired = 0
            if now >= self._next_release:
                # A lease lasts `lease_s`: looking for expired ones a few times per lease is enough. Every
                # cycle (at full speed one per finished job) it cost a statement per job.
                self._next_release = now + min(self.lease_s / 4, 1.0)
                expired = self._release(conn, jobs.c.lease_until < now)
            if now >= self._next_purge:
                self._purge_done(conn, now)
            claimed = self._claim(conn, free, now) if free > 0 else []
            if free > 0 and not claimed:
                # Only jobs due later: one due now but not claimed waits for its lock, and the job that
                # holds the lock wakes the loop when it ends.
                self._next_due = conn.scalar(_NEXT_DUE, {"now": now})
            return expired, claimed

        expired, claimed = await self.db.write(bookkeeping)
        if expired:
            log.warning("jobs.lease_expired", jobs=expired)
        for job in claimed:
            self._tasks[job.id] = asyncio.create_task(self._execute(job), name=f"job-{job.id}-{job.kind}")
        self._counters["claimed"] += len(claimed)
        return bool(outcomes or claimed or expired)

    def _idle_wait_s(self) -> float:
        """How long an idle loop waits for a wake-up before it looks for due jobs again."""
        if self.db.dialect == "postgresql":
            return self.poll_interval_s  # other processes may share the queue
        longest = max(self.idle_poll_s, self.poll_interval_s)
        if self._next_due is None:
            return longest
        return min(max(self._next_due - self.clock(), self.poll_interval_s), longest)

    def _claim(self, conn: Connection, limit: int, now: float) -> list[Job]:
        claim = _CLAIM_FOR_UPDATE if self.db.dialect == "postgresql" else _CLAIM
        params = {"lease_until": now + self.lease_s, "worker": self.token, "now": now, "limit": limit}
        return [
            Job(job_id, kind, lock, payload, attempt, _dt(enqueued_at))
            for job_id, kind, lock, payload, attempt, enqueued_at in conn.execute(claim, params)
        ]

    async def _execute(self, job: Job) -> None:
        try:
            outcome = await self._outcome_of(job)
            # Not `self._outcomes.append(await …)`: that would bind the list before the await, and the
            # loop swaps in a fresh list while handlers run.
            self._outcomes.append(outcome)
        except asyncio.CancelledError:
            # Shut down mid-run: give the attempt back and make the job due again at once.
            self._outcomes.append(_Outcome(job.id, "retry", job.attempt - 1, self.clock(), "interrupted"))
            raise
        finally:
            self._tasks.pop(job.id, None)
            self.wake()

    async def _outcome_of(self, job: Job) -> _Outcome:
        handler = self.handlers.get(job.kind)
        try:
            if handler is None:
                raise Park(f"no handler for job kind {job.kind!r}")
            await handler(job)
        except RetryLater as wait:
            attempt = job.attempt if wait.count_attempt else job.attempt - 1
            if wait.count_attempt and attempt >= self.max_attempts:
                return self._park(job, attempt, f"gave up after {attempt} attempts: {wait.reason}")
            self._counters["retried"] += 1
            return _Outcome(job.id, "retry", attempt, self.clock() + wait.delay_s, wait.reason)
        except Park as park:
            return self._park(job, job.attempt, park.reason)
        except Exception as error:
            self._counters["failed"] += 1
            reason = f"{type(error).__name__}: {error}"
            log.warning("jobs.failed", job_id=job.id, kind=job.kind, attempt=job.attempt, error=reason)
            if job.attempt >= self.max_attempts:
                return self._park(job, job.attempt, f"gave up after {job.attempt} attempts: {reason}")
            self._counters["retried"] += 1
            return _Outcome(job.id, "retry", job.attempt, self.clock() + self.backoff_s(job.attempt), reason)
        self._counters["done"] += 1
        return _Outcome(job.id, "done", job.attempt)

    def _park(self, job: Job, attempt: int, reason: str) -> _Outcome:
        self._counters["parked"] += 1
        log.warning("jobs.parked", job_id=job.id, kind=job.kind, lock=job.lock, reason=reason)
        return _Outcome(job.id, "parked", attempt, None, reason)

    def backoff_s(self, attempt: int) -> float:
        """Exponential backoff with jitter: half the nominal delay is random, so retries spread out."""
        nominal = min(self.retry_max_s, self.retry_base_s * 2.0 ** max(attempt - 1, 0))
        return nominal * (0.5 + 0.5 * self._rng())

    def _write_outcomes(self, conn: Connection, outcomes: Iterable[_Outcome]) -> None:
        now = self.clock()
        rows = [
            {
                "b_id": o.job_id,
                "b_status": o.status,
                "b_attempt": o.attempt,
                "b_run_at": o.run_at if o.run_at is not None else now,
                "b_error": o.error,
                "b_finished": now if o.status in ("done", "parked") else None,
                "b_worker": self.token,
            }
            for o in outcomes
        ]
        written = int(conn.execute(_WRITE_OUTCOME, rows).rowcount) if rows else 0
        if written != len(rows):
            # Our lease expired and someone else took the job back: their run decides its fate.
            self._counters["lost_lease"] += len(rows) - written
            log.warning("jobs.lost_lease", jobs=len(rows) - written)

    def _release(self, conn: Connection, condition: Any) -> int:
        """Return running jobs matching `condition` (their worker died) to the queue; how many.

        A run lost to a dead worker is not the job's failure: it gives its attempt back (a SIGKILL every
        few seconds would otherwise park jobs that never failed, a Change v2 relay killed while VTEX
        takes 3 s to answer) and counts in `deaths` instead. A job that kills its process every time
        must still end parked, not loop: after `max_deaths` such runs it is.
        """
        now = self.clock()
        deaths = jobs.c.deaths + 1
        spent = deaths >= self.max_deaths
        gave_up = "gave up: its worker died " + cast(deaths, String) + " times while running it"
        released = conn.execute(
            update(jobs)
            .where(jobs.c.status == "running", condition)
            .values(
                status=case((spent, "parked"), else_="retry"),
                attempt=jobs.c.attempt - 1,
                deaths=deaths,
                last_error=case((spent, gave_up), else_="its worker died"),
                finished_at=case((spent, now), else_=None),
                run_at=now,
                lease_until=None,
                worker=None,
            )
            .returning(jobs.c.id, jobs.c.kind, jobs.c.lock, jobs.c.status, jobs.c.last_error)
        ).all()
        for job_id, kind, lock, status, reason in released:
            if status == "parked":
                self._counters["parked"] += 1
                log.warning("jobs.parked", job_id=job_id, kind=kind, lock=lock, reason=reason)
        return len(released)

    def _purge_done(self, conn: Connection, now: float) -> None:
        """Forget finished jobs after `keep_done_s` (attempts, commands and orders keep the history)."""
        self._next_purge = now + min(self.keep_done_s / 10, 600.0)
        old = (
            select(jobs.c.id)
            .where(jobs.c.status == "done", jobs.c.finished_at < now - self.keep_done_s)
            .limit(10_000)
            .scalar_subquery()
        )
        conn.execute(delete(jobs).where(jobs.c.id.in_(old)))

    async def _renew_leases(self, stop: asyncio.Event) -> None:
        interval = max(self.lease_s / 3, self.poll_interval_s)
        while not stop.is_set():
            await asyncio.sleep(interval)
            ids = list(self._tasks)
            if not ids:
                continue
            renew = (
                update(jobs)
                .where(jobs.c.id.in_(ids), jobs.c.worker == self.token, jobs.c.status == "running")
                .values(lease_until=self.clock() + self.lease_s)
            )
            await self.db.write(_executing(renew))

    async def _shutdown(self) -> None:
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks.values()), timeout=self.shutdown_grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        outcomes, self._outcomes = self._outcomes, []
        if outcomes:
            await self.db.write(lambda conn: self._write_outcomes(conn, outcomes))

    async def _nothing_due(self, horizon_s: float | None) -> bool:
        if self._tasks or self._outcomes:
            return False
        query = select(func.min(jobs.c.run_at)).where(jobs.c.status.in_(UNFINISHED_JOB_STATUSES))
        first = await self.db.read(lambda conn: conn.scalar(query))
        return first is None or (horizon_s is not None and first > self.clock() + horizon_s)

    def _requeue_in(self, conn: Connection, job_id: int) -> int | None:
        row = (
            conn.execute(
                select(jobs.c.kind, jobs.c.lock, jobs.c.payload, jobs.c.queueing_lock).where(
                    jobs.c.id == job_id, jobs.c.status == "parked"
                )
            )
        ).one_or_none()
        if row is None:
            return None
        now = self.clock()
        new_id: int | None = (
            conn.execute(
                _insert(conn)
                .values(
                    kind=row.kind,
                    lock=row.lock,
                    payload=row.payload,
                    status="ready",
                    attempt=0,
                    run_at=now,
                    queueing_lock=row.queueing_lock,
                    enqueued_at=now,
                    requeued_from=job_id,
                )
                .on_conflict_do_nothing()
                .returning(jobs.c.id)
            )
        ).scalar_one_or_none()
        if new_id is None:  # a not-yet-claimed job with the same queueing lock will do the same work
            new_id = conn.scalar(
                select(jobs.c.id).where(jobs.c.queueing_lock == row.queueing_lock, jobs.c.status == "ready")
            )
        conn.execute(update(jobs).where(jobs.c.id == job_id).values(status="requeued"))
        return new_id


def _enqueue_statement(insert: Callable[[Any], Any]) -> Any:
    """Built once per dialect: enqueue is on every hot path, and building a statement costs more CPU
    than running it."""
    return _enqueue_blind_statement(insert).returning(jobs.c.id)


def _enqueue_blind_statement(insert: Callable[[Any], Any]) -> Any:
    return (
        insert(jobs)
        .values(
            kind=bindparam("kind"),
            lock=bindparam("lock"),
            payload=bindparam("payload", type_=Json),
            status="ready",
            attempt=0,
            run_at=bindparam("run_at"),
            queueing_lock=bindparam("queueing_lock"),
            enqueued_at=bindparam("enqueued_at"),
        )
        .on_conflict_do_nothing()
    )


_ENQUEUE = {"postgresql": _enqueue_statement(postgresql.insert), "sqlite": _enqueue_statement(sqlite.insert)}
_ENQUEUE_BLIND = {
    "postgresql": _enqueue_blind_statement(postgresql.insert),
    "sqlite": _enqueue_blind_statement(sqlite.insert),
}


def _insert(conn: Connection) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(jobs)
    return sqlite.insert(jobs)


def _claim_statement(lock: str) -> Any:
    # Literal status lists so both databases match the partial indexes' WHERE clauses. "Oldest
    # unfinished job of its lock" is a correlated min(): a per-row index probe on (lock, id) whatever
    # the planner's statistics say (a NOT EXISTS anti-join degrades badly on a fresh, unanalyzed table).
    statement = text(
        f"""
        UPDATE jobs SET status = 'running', attempt = attempt + 1, lease_until = :lease_until,
            worker = :worker, started_at = :now
        WHERE id IN (
            SELECT j.id FROM jobs j
            WHERE j.status IN ('ready', 'retry') AND j.run_at <= :now
              AND j.id = (
                SELECT min(o.id) FROM jobs o
                WHERE o.lock = j.lock AND o.status IN ('ready', 'running', 'retry'))
            ORDER BY j.run_at, j.id
            LIMIT :limit {lock})
        RETURNING id, kind, lock, payload, attempt, enqueued_at
        """
    ).columns(jobs.c.id, jobs.c.kind, jobs.c.lock, jobs.c.payload, jobs.c.attempt, jobs.c.enqueued_at)
    return statement


_CLAIM = _claim_statement("")
_NEXT_DUE = select(func.min(jobs.c.run_at)).where(
    jobs.c.status.in_(("ready", "retry")), jobs.c.run_at > bindparam("now")
)
_CLAIM_FOR_UPDATE = _claim_statement("FOR UPDATE SKIP LOCKED")
_WRITE_OUTCOME = (
    update(jobs)
    .where(jobs.c.id == bindparam("b_id"), jobs.c.worker == bindparam("b_worker"), jobs.c.status == "running")
    .values(
        status=bindparam("b_status"),
        attempt=bindparam("b_attempt"),
        run_at=bindparam("b_run_at"),
        last_error=bindparam("b_error"),
        finished_at=bindparam("b_finished"),
        lease_until=None,
        worker=None,
    )
)


def _executing(statement: Any) -> Callable[[Connection], None]:
    def unit(conn: Connection) -> None:
        conn.execute(statement)

    return unit


def _dt(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, UTC)


def job_counts(conn: Connection) -> dict[tuple[str, str], int]:
    """{(lock prefix before the first ':', status): jobs} for unfinished and parked jobs (for `status`)."""
    stmt = (
        select(jobs.c.lock, jobs.c.status, func.count())
        .where(jobs.c.status.in_([*UNFINISHED_JOB_STATUSES, "parked"]))
        .group_by(jobs.c.lock, jobs.c.status)
    )
    counts: dict[tuple[str, str], int] = {}
    for lock, status, n in conn.execute(stmt).all():
        key = (lock.partition(":")[0], status)
        counts[key] = counts.get(key, 0) + n
    return counts
