"""The `JobQueue` port on procrastinate (PostgreSQL): workers in any number of processes, on any hosts.

Mapping (handlers unchanged; `docs/deploy.md` has the operator's view)
- One procrastinate task per job kind, named after the kind, so procrastinate's own tools (`procrastinate
  shell`, its job lists and counts by task) show orderbridge's kinds. The payload is the task's keyword
  arguments, plus `_enqueued_at` (procrastinate's row has no creation time; `Job.enqueued_at` needs one).
- `lock` and `queueing_lock` are procrastinate's, with the port's meanings: one `doing` job per lock, in
  id order (a job waiting for its retry keeps its lock blocked: order is kept); one `todo` job per
  queueing lock (`AlreadyEnqueued` → None).
- Transactional enqueue: procrastinate's `procrastinate_defer_jobs_v1` runs on the CALLER's connection
  (the raw psycopg connection under its SQLAlchemy `Connection`), inside its transaction: the job exists
  exactly when the change that caused it commits; its NOTIFY is delivered at that commit. An enqueue
  that may be coalesced runs in a savepoint, since a unique violation would otherwise abort the
  caller's whole transaction.
- Outcomes: the task wrapper turns the handler's outcome into a decision (the same policy as the
  embedded queue: `RetryLater` delay, backoff with jitter, max attempts, `Park`) and `_PortRetry`, the
  tasks' `RetryStrategy`, hands it to procrastinate: `RetryDecision(retry_at=…)` (a `todo` job scheduled
  later: no worker is held meanwhile) or None (the job ends `failed`: parked, its reason in our notes).
  procrastinate counts every run in `attempts`; runs that must not count (`count_attempt=False`, a
  requeue's fresh start) are kept in `orderbridge_job_notes.uncounted` (see `procrastinate_notes`).
- Crashed workers: procrastinate's workers heartbeat (`procrastinate_workers`) but nobody retries the
  jobs of a dead one; `run` also sweeps (at once when its own liveness lock is held, then every second):
  a worker whose liveness lock is free and whose heartbeat is two beats old is dead, and its jobs go
  back to `todo`. The lost run is not one of the job's attempts (it is noted `uncounted`) but a death
  (`orderbridge_job_notes.deaths`): parked after `max_deaths`, a job that kills its process does not
  loop. See `recover_stalled`.

Two procrastinate behaviours this adapter works around (procrastinate 3.10, `worker.py`, `sql/schema.sql`)
- Retrying a job while another `todo` job has its queueing lock violates the unique index; the worker
  (`Worker._persist_job_status`) then leaves the job `doing` for good, its lock blocked (upstream issue
  #1446). `_JobManager.retry_job` catches it: the waiting job does the work, ours ends `aborted`.
- A worker that found nothing to run waits for a NOTIFY or its next poll; finishing a job sends no
  NOTIFY, so the next job of the same lock would wait for the poll. `_JobManager` sends one for the
  lock's next due job after each finish (procrastinate's own payload and channels).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg
import psycopg_pool
import structlog
from procrastinate import App, BaseConnector, JobContext, exceptions, utils
from procrastinate import jobs as pjobs
from procrastinate.manager import QUEUEING_LOCK_CONSTRAINT, JobManager
from procrastinate.psycopg_connector import PsycopgConnector
from procrastinate.retry import BaseRetryStrategy, RetryDecision
from procrastinate.sync_psycopg_connector import SyncPsycopgConnector
from procrastinate.testing import InMemoryConnector
from sqlalchemy.engine import Connection

from orderbridge.jobs.errors import Park, RetryLater
from orderbridge.jobs.port import Handler, Job, NewJob, ParkedJob
from orderbridge.jobs.procrastinate_notes import (
    ENQUEUED_AT,
    DeathRule,
    Liveness,
    MemoryNotes,
    Notes,
    SqlNotes,
    died_reason,
    split_args,
)
from orderbridge.jobs.queue_statistics import QueueStatistics

log = structlog.get_logger(__name__)

QUEUE = "orderbridge"


class _Retry(Exception):
    """The wrapper's decision: run again after `delay_s` (procrastinate schedules it)."""

    def __init__(self, delay_s: float, reason: str) -> None:
        super().__init__(reason)
        self.delay_s = delay_s


class _GiveUp(Exception):
    """The wrapper's decision: the job is parked (its reason is already in the notes)."""


class _PortRetry(BaseRetryStrategy):
    """procrastinate's side of the wrapper's decision (the policy itself is in `ProcrastinateQueue`)."""

    def get_retry_decision(self, *, exception: BaseException, job: pjobs.Job) -> RetryDecision | None:
        if isinstance(exception, _Retry):
            return RetryDecision(retry_at=utils.utcnow() + timedelta(seconds=exception.delay_s))
        if isinstance(exception, asyncio.CancelledError):
            return RetryDecision(retry_at=utils.utcnow())  # stopped mid-run: due again at once
        if isinstance(exception, _GiveUp):
            return None
        # The wrapper itself failed around the handler (its notes unreadable while PostgreSQL restarts):
        # no outcome was decided, so the job is not over; failing it would leave its order with no job
        # and no reason recorded. Its run counts (procrastinate's attempts), the next one decides.
        log.warning(
            "jobs.outcome_not_decided",
            job_id=job.id,
            kind=job.task_name,
            error=type(exception.__cause__ or exception).__name__,
        )
        return RetryDecision(retry_at=utils.utcnow() + timedelta(seconds=UNDECIDED_RETRY_S))


#: A run whose wrapper failed before an outcome was decided (see `_PortRetry`) runs again after this long.
UNDECIDED_RETRY_S = 1.0
#: While PostgreSQL is away, a job's completion is written again after this long (doubling, capped).
OUTAGE_RETRY_S = 0.5
OUTAGE_RETRY_MAX_S = 5.0


class _JobManager(JobManager):
    """procrastinate's JobManager, with the two fixes of the module docstring (PostgreSQL only), and a
    worker that outlasts a database outage (a restart, a fail-over). procrastinate's worker stops for
    good when its heartbeat, its LISTEN connection or a poll fails (`Worker._monitor_side_tasks`,
    `_run_loop`), and a job whose completion could not be written stays `doing` under a worker that
    lives on, so no stalled-job sweep ever runs it again. Here those calls wait the outage out."""

    def __init__(self, connector: BaseConnector, notes: SqlNotes, *, alive_check_s: float) -> None:
        super().__init__(connector)
        self.notes = notes
        self.alive_check_s = alive_check_s
        #: Each running worker's session holding its advisory lock (`SqlNotes.hold_alive`).
        self._alive: dict[int, asyncio.Task[None]] = {}
        self._liveness: dict[int, Liveness] = {}
        #: Set once a worker of this process holds its lock: the sweep's first look needs it.
        self.lock_taken = asyncio.Event()

    def own_liveness(self) -> Liveness | None:
        """The liveness session of one of this process's workers that holds its lock, if any."""
        return next((alive for alive in self._liveness.values() if alive.held.is_set()), None)

    async def fetch_job(self, queues: Iterable[str] | None, worker_id: int) -> pjobs.Job | None:
        try:
            return await super().fetch_job(queues, worker_id)
        except exceptions.ConnectorException as error:
            _outage("fetch_job", error)
            return None  # the worker looks again at its next poll

    async def update_heartbeat(self, worker_id: int) -> None:
        try:
            await super().update_heartbeat(worker_id)
        except exceptions.ConnectorException as error:
            _outage("update_heartbeat", error)  # the next beat writes it

    async def listen_for_jobs(self, *, on_notification: Any, queues: Iterable[str] | None = None) -> None:
        while True:
            try:
                await super().listen_for_jobs(on_notification=on_notification, queues=queues)
            except (exceptions.ConnectorException, psycopg.Error) as error:
                _outage("listen_for_jobs", error)  # meanwhile the worker finds new jobs by polling
            await asyncio.sleep(OUTAGE_RETRY_S)

    async def unregister_worker(self, worker_id: int) -> None:
        try:
            await super().unregister_worker(worker_id)
        except exceptions.ConnectorException as error:
            _outage("unregister_worker", error)  # its stale row is pruned by the other workers
        self._liveness.pop(worker_id, None)
        alive = self._alive.pop(worker_id, None)
        if alive is not None:
            alive.cancel()  # closes its session: the lock goes with it
            await asyncio.gather(alive, return_exceptions=True)

    async def prune_stalled_workers(self, seconds_since_heartbeat: float) -> list[int]:
        """procrastinate's worker, as it starts, deletes the rows of workers with an old heartbeat: here
        only those whose session is gone too (see `SqlNotes.prune_dead_workers`)."""
        return await self.notes.prune_dead_workers(seconds_since_heartbeat)

    async def retry_job(
        self,
        job: pjobs.Job,
        retry_at: datetime | None = None,
        priority: int | None = None,
        queue: str | None = None,
        lock: str | None = None,
    ) -> None:
        assert job.id is not None
        try:
            await _outlasting(
                "retry_job",
                lambda: super(_JobManager, self).retry_job(
                    job, retry_at=retry_at, priority=priority, queue=queue, lock=lock
                ),
            )
        except exceptions.UniqueViolation as conflict:
            if conflict.constraint_name != QUEUEING_LOCK_CONSTRAINT:
                raise
            other = await self.notes.supersede(job.id, job.queueing_lock)
            await self.finish_job_by_id_async(job.id, pjobs.Status.ABORTED, delete_job=False)
            log.info("jobs.coalesced_on_retry", job_id=job.id, into=other, queueing_lock=job.queueing_lock)
            await self.notes.wake(job.lock)  # the lock is free for the waiting job now
            return
        if retry_at is None or retry_at <= utils.utcnow():
            with contextlib.suppress(exceptions.ConnectorException, psycopg.Error):
                await self.notes.wake(job.lock)  # only a speed-up, as below

    async def finish_job(self, job: pjobs.Job, status: pjobs.Status, delete_job: bool) -> None:
        await _outlasting(
            "finish_job",
            lambda: super(_JobManager, self).finish_job(job, status=status, delete_job=delete_job),
        )
        with contextlib.suppress(exceptions.ConnectorException, psycopg.Error):
            await self.notes.wake(job.lock)  # only a speed-up: the next poll finds the lock's next job

    async def register_worker(self) -> int:
        """procrastinate's worker row, ours saying which host and process it is (`status`), and the
        session that says it is alive as long as it holds (what the stalled-job sweep trusts)."""
        worker_id = await super().register_worker()
        await self.notes.identify_worker(worker_id, socket.gethostname(), os.getpid())
        alive = self._liveness[worker_id] = Liveness(worker_id)
        self._alive[worker_id] = asyncio.create_task(
            self.notes.hold_alive(alive, check_s=self.alive_check_s), name=f"worker-{worker_id}-alive"
        )
        # Before the first job: until then only its fresh heartbeat stands for it.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(alive.held.wait(), 10.0)
        if alive.held.is_set():
            self.lock_taken.set()
        return worker_id


async def _first_of(events: Sequence[asyncio.Event], timeout_s: float) -> None:
    """Wait until one of `events` is set, or `timeout_s`."""
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
        await asyncio.gather(*waits, return_exceptions=True)


async def _outlasting(what: str, call: Callable[[], Awaitable[None]]) -> None:
    """`call` again until PostgreSQL takes it: a job's outcome must be written, or the job stays `doing`.
    A unique violation and the like are answers, not outages: they are raised."""
    delay = OUTAGE_RETRY_S
    while True:
        try:
            await call()
            return
        except exceptions.UniqueViolation:
            raise
        except exceptions.ConnectorException as error:
            if not _is_outage(error):
                raise
            _outage(what, error)
            await asyncio.sleep(delay)
            delay = min(delay * 2, OUTAGE_RETRY_MAX_S)


def _is_outage(error: exceptions.ConnectorException) -> bool:
    """The database was unreachable (connection lost or refused, the pool waited in vain), not an error
    of the statement itself."""
    cause = error.__cause__
    return isinstance(cause, psycopg.OperationalError | psycopg_pool.PoolTimeout) or cause is None


def _outage(what: str, error: BaseException) -> None:
    log.warning("jobs.database_unavailable", during=what, error=type(error.__cause__ or error).__name__)


class ProcrastinateQueue:
    """The `JobQueue` port on a procrastinate `App` (or connector). Start workers with `run(stop)`.

    The app must be open (`async with app.open_async():`) for `run`, `requeue` and `list_parked`;
    `enqueue` only uses the caller's connection (None only with the `InMemoryConnector`), and is sync:
    call it off the event loop (the store's writer thread). On PostgreSQL the database needs
    procrastinate's schema (`orderbridge migrate`). Any number of processes may run `run` on one database.
    """

    def __init__(
        self,
        app_or_connector: App | BaseConnector,
        handlers: Mapping[str, Handler],
        *,
        concurrency: int = 32,
        max_attempts: int = 8,
        max_deaths: int = 20,
        retry_base_s: float = 1.0,
        retry_max_s: float = 600.0,
        poll_interval_s: float = 1.0,
        heartbeat_s: float = 10.0,
        stalled_after_s: float = 30.0,
        dead_after_s: float | None = None,
        sweep_interval_s: float | None = None,
        shutdown_grace_s: float = 10.0,
        keep_succeeded: bool = False,
        rng: Any = random.random,
    ) -> None:
        self.app = app_or_connector if isinstance(app_or_connector, App) else App(connector=app_or_connector)
        self.handlers = dict(handlers)
        self.concurrency = concurrency
        self.max_attempts = max_attempts
        #: Runs lost to a dead worker before the job is parked (they do not spend `max_attempts`).
        self.max_deaths = max_deaths
        self.retry_base_s = retry_base_s
        self.retry_max_s = retry_max_s
        self.poll_interval_s = poll_interval_s
        self.heartbeat_s = heartbeat_s
        #: When a worker whose liveness lock is free is dead (see `recover_stalled`): its heartbeat two
        #: beats old while the locks can be trusted, else older than `stalled_after_s`; the locks are
        #: not trusted for three liveness checks after a restart of PostgreSQL (or a new session of
        #: this process's own), while live workers take theirs again.
        self.death = DeathRule(
            dead_after_s=dead_after_s if dead_after_s is not None else min(2 * heartbeat_s, stalled_after_s),
            stalled_after_s=stalled_after_s,
            grace_s=3 * heartbeat_s,
        )
        self.stalled_after_s = stalled_after_s
        #: Sweep often (one short query): a dead worker's jobs wait `dead_after_s` plus at most this.
        self.sweep_interval_s = (
            sweep_interval_s if sweep_interval_s is not None else min(1.0, self.death.dead_after_s / 2)
        )
        self.shutdown_grace_s = shutdown_grace_s
        #: False: a job's row is deleted when it succeeds. procrastinate keeps every job by default, and
        #: its `remove_old_jobs` scans all jobs' events: too slow for millions of jobs a day. History
        #: lives in attempts, commands and orders; failed (parked) and aborted jobs stay.
        self.keep_succeeded = keep_succeeded
        self._rng = rng
        connector = self.app.connector
        self.notes: Notes
        #: Keeps the planner's view of the job table current (see `queue_statistics`); PostgreSQL only.
        self.statistics: QueueStatistics | None = None
        if isinstance(connector, InMemoryConnector):
            self.notes = MemoryNotes(connector)
            self._defer = self.app.job_manager  # ignores the connection: no transactions in memory
        elif isinstance(connector, PsycopgConnector):
            sql_notes = SqlNotes(connector)
            self.notes = sql_notes
            self.app.job_manager = _JobManager(connector, sql_notes, alive_check_s=heartbeat_s)
            self.statistics = QueueStatistics(connector)
            # Never opened: it only runs procrastinate's defer query on the callers' connections.
            self._defer = JobManager(SyncPsycopgConnector())
        else:
            raise TypeError(f"unsupported procrastinate connector: {type(connector).__name__}")
        strategy = _PortRetry()
        for kind in self.handlers:
            self.app.task(name=kind, pass_context=True, retry=strategy, queue=QUEUE)(self._task(kind))

    # --- the port ------------------------------------------------------------------------------------

    def enqueue(
        self,
        conn: Connection | None,
        *,
        kind: str,
        lock: str,
        payload: dict[str, Any],
        run_at: datetime | None = None,
        queueing_lock: str | None = None,
    ) -> int | None:
        job = self._new_job(NewJob(kind, lock, payload, run_at, queueing_lock))
        try:
            with self._savepoint(conn, queueing_lock is not None):
                return self._defer_all(conn, [job])[0]
        except exceptions.AlreadyEnqueued:
            return None

    def enqueue_many(self, conn: Connection | None, jobs: Sequence[NewJob]) -> None:
        if not jobs:
            return
        new = [self._new_job(job) for job in jobs]
        coalescing = any(job.queueing_lock is not None for job in jobs)
        try:
            with self._savepoint(conn, coalescing):
                self._defer_all(conn, new)  # one round trip for the whole batch
            return
        except exceptions.AlreadyEnqueued:
            pass
        # Some are coalesced: one at a time, in order, skipping those (as `enqueue` would return None).
        for job in new:
            with (
                contextlib.suppress(exceptions.AlreadyEnqueued),
                self._savepoint(conn, job.queueing_lock is not None),
            ):
                self._defer_all(conn, [job])

    async def requeue(self, job_id: int) -> int | None:
        return await self.notes.requeue(job_id)

    async def list_parked(self, *, lock: str | None = None, limit: int = 100) -> list[ParkedJob]:
        return await self.notes.list_parked(lock, limit)

    # --- running -------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Run a procrastinate worker and the stalled-job sweep until `stop` is set; then let running
        jobs finish for up to `shutdown_grace_s` (procrastinate aborts the rest: they run again)."""
        worker = asyncio.create_task(
            self.app.run_worker_async(
                concurrency=self.concurrency,
                listen_notify=True,
                fetch_job_polling_interval=self.poll_interval_s,
                update_heartbeat_interval=self.heartbeat_s,
                stalled_worker_timeout=self.stalled_after_s,
                shutdown_graceful_timeout=self.shutdown_grace_s,
                delete_jobs="never" if self.keep_succeeded else "successful",
                install_signal_handlers=False,
            ),
            name="procrastinate-worker",
        )
        sweeper = asyncio.create_task(self._sweep_until(stop), name="procrastinate-stalled-sweep")
        stopped = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({worker, sweeper, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sweeper, stopped):
                task.cancel()
            if not worker.done():
                worker.cancel()  # procrastinate's way to stop a worker run in a bigger program
            await asyncio.gather(sweeper, stopped, return_exceptions=True)
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    async def sweep_stalled(self) -> int:
        """Run again the jobs of dead workers (see `recover_stalled`); how many."""
        recovered = 0
        for job in await self.find_stalled():
            recovered += await self.recover_stalled(job)
        if recovered:
            log.warning("jobs.stalled_retried", jobs=recovered)
        return recovered

    async def find_stalled(self) -> list[pjobs.Job]:
        """The `doing` jobs whose worker looks dead (a sweep's candidates; `recover_stalled` decides)."""
        # The shorter bound: whether it applies is decided for each job as it is taken.
        found = await self.app.job_manager.get_stalled_jobs(seconds_since_heartbeat=self.death.dead_after_s)
        return list(found)

    async def recover_stalled(self, job: pjobs.Job) -> int:
        """Run again one job `find_stalled` found, if it still is stalled; 1 if it was taken, else 0.

        On PostgreSQL a heartbeat is not trusted alone: one comes late on a loaded machine or across a
        restart of PostgreSQL while its worker runs on. The job is taken only if, in one transaction, it
        is still `doing` under the worker the sweep saw (another sweep may have run it again meanwhile)
        and that worker's session is gone (`SqlNotes.recover_stalled`): its liveness lock is free and
        its heartbeat two beats old. A lock is free right after a restart of PostgreSQL too, until its
        live worker takes it again, so that rule holds only while this process's own lock is held, by
        a session that has outlasted the grace (and the server has run that long); otherwise the old
        bound applies: heartbeat older than `stalled_after_s` (and lock free)."""
        assert job.id is not None
        if isinstance(self.notes, SqlNotes):
            outcome = await self.notes.recover_stalled(
                job.id,
                job.worker_id,
                rule=self.death,
                own=self.own_liveness(),
                max_deaths=self.max_deaths,
            )
            if outcome == "parked":
                log.warning(
                    "jobs.parked", job_id=job.id, kind=job.task_name, lock=job.lock, reason="its worker died"
                )
            return 0 if outcome is None else 1
        try:
            return await self._recover(job)
        except exceptions.ConnectorException:
            return 0  # another sweep took it first (in memory: one process, no live run to meet)

    def own_liveness(self) -> Liveness | None:
        """The liveness session of this process's worker, while it holds its lock (PostgreSQL only)."""
        manager = self.app.job_manager
        return manager.own_liveness() if isinstance(manager, _JobManager) else None

    def backoff_s(self, attempt: int) -> float:
        """Exponential backoff with jitter: half the nominal delay is random, so retries spread out."""
        nominal = min(self.retry_max_s, self.retry_base_s * 2.0 ** max(attempt - 1, 0))
        return float(nominal * (0.5 + 0.5 * self._rng()))

    # --- enqueue helpers -----------------------------------------------------------------------------

    @staticmethod
    def _new_job(job: NewJob) -> pjobs.Job:
        if job.run_at is not None and job.run_at.tzinfo is None:
            raise ValueError("run_at must be timezone-aware")
        if ENQUEUED_AT in job.payload:
            raise ValueError(f"{ENQUEUED_AT!r} is reserved in a job's payload")
        return pjobs.Job(
            queue=QUEUE,
            lock=job.lock,
            queueing_lock=job.queueing_lock,
            task_name=job.kind,
            task_kwargs={**job.payload, ENQUEUED_AT: utils.utcnow().isoformat()},
            scheduled_at=job.run_at,
        )

    def _defer_all(self, conn: Connection | None, jobs: list[pjobs.Job]) -> list[int]:
        if isinstance(self.app.connector, InMemoryConnector):
            deferred = self._defer.batch_defer_jobs(jobs)
        else:
            assert conn is not None, "enqueue on PostgreSQL needs the caller's connection"
            raw = conn.connection.driver_connection  # the psycopg connection, in the caller's transaction
            deferred = self._defer.batch_defer_jobs(jobs, connection=raw)
        return [job.id for job in deferred if job.id is not None]

    @staticmethod
    @contextlib.contextmanager
    def _savepoint(conn: Connection | None, needed: bool) -> Iterator[None]:
        if needed and isinstance(conn, Connection):
            with conn.begin_nested():
                yield
        else:
            yield

    # --- running a job -------------------------------------------------------------------------------

    def _task(self, kind: str) -> Any:
        async def run_job(context: JobContext, /, **kwargs: Any) -> None:
            await self._run(kind, context, kwargs)

        run_job.__name__ = run_job.__qualname__ = f"orderbridge_{kind}"
        return run_job

    async def _run(self, kind: str, context: JobContext, kwargs: dict[str, Any]) -> None:
        pj = context.job
        assert pj.id is not None
        payload, enqueued_at = split_args(kwargs)
        uncounted = await self.notes.uncounted(pj.id) if pj.attempts else 0
        job = Job(pj.id, kind, pj.lock or "", payload, pj.attempts + 1 - uncounted, enqueued_at)
        try:
            await self.handlers[kind](job)
        except RetryLater as wait:
            if not wait.count_attempt:
                await self.notes.give_back(pj.id)
            elif job.attempt >= self.max_attempts:
                raise await self._give_up(
                    job, f"gave up after {job.attempt} attempts: {wait.reason}"
                ) from wait
            raise _Retry(wait.delay_s, wait.reason) from wait
        except Park as park:
            raise await self._give_up(job, park.reason) from park
        except asyncio.CancelledError:
            # Stopped mid-run (shutdown past its grace): the run does not count; `_PortRetry` retries now.
            await asyncio.shield(self.notes.give_back(pj.id))
            raise
        except Exception as error:
            reason = f"{type(error).__name__}: {error}"
            log.warning("jobs.failed", job_id=job.id, kind=kind, attempt=job.attempt, error=reason)
            if job.attempt >= self.max_attempts:
                raise await self._give_up(job, f"gave up after {job.attempt} attempts: {reason}") from error
            raise _Retry(self.backoff_s(job.attempt), reason) from error

    async def _give_up(self, job: Job, reason: str) -> _GiveUp:
        await self.notes.park(job.id, reason)
        log.warning("jobs.parked", job_id=job.id, kind=job.kind, lock=job.lock, reason=reason)
        return _GiveUp(reason)

    # --- stalled jobs --------------------------------------------------------------------------------

    async def _sweep_until(self, stop: asyncio.Event) -> None:
        manager = self.app.job_manager
        # The first look as soon as this process's own lock is held (a restarted process takes over its
        # dead predecessor's jobs at once), not a whole interval later.
        first = manager.lock_taken if isinstance(manager, _JobManager) else None
        while not stop.is_set():
            await _first_of([stop] if first is None else [stop, first], self.sweep_interval_s)
            first = None
            if stop.is_set():
                return
            try:
                await self.sweep_stalled()
            except Exception as error:  # the database restarting, say: the next sweep tries again
                log.warning("jobs.stalled_sweep_failed", error=f"{type(error).__name__}: {error}")
            if self.statistics is not None:
                try:
                    await self.statistics.refresh()
                except Exception as error:  # as above: the next round looks again
                    log.warning("jobs.statistics_refresh_failed", error=f"{type(error).__name__}: {error}")

    async def _recover(self, job: pjobs.Job) -> int:
        """The in-memory twin of `SqlNotes.recover_stalled`: the lost run is a death, not an attempt."""
        assert job.id is not None
        deaths = await self.notes.died(job.id)
        if deaths >= self.max_deaths:
            await self.notes.park(job.id, died_reason(deaths))
            await self.app.job_manager.finish_job(job, pjobs.Status.FAILED, delete_job=False)
        else:
            await self.app.job_manager.retry_job(job)
        return 1
