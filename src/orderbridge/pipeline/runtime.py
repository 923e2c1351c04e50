"""`Pipeline`: the moving parts wired together — job queue and handlers, feed pollers, reconciliation,
the command sink and the ERP adapter — runnable on one event loop until a stop event.

The `Service` builds one from the configuration file; tests and benches build one directly around an
in-process sandbox and a simulated warehouse, so they exercise exactly the production wiring.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import Any

import structlog
from procrastinate import App, PsycopgConnector
from sqlalchemy.engine import Connection

from orderbridge.erp.port import ErpAdapter, HasWayBack
from orderbridge.jobs.embedded import EmbeddedQueue
from orderbridge.jobs.port import Handler, Job
from orderbridge.jobs.procrastinate_queue import ProcrastinateQueue
from orderbridge.store import repo
from orderbridge.store.db import Database
from orderbridge.store.procrastinate_schema import libpq_conninfo
from orderbridge.vtex import VtexClient, retry_after_rescheduled
from orderbridge.vtex.errors import AuthError, VtexError

from . import accounts
from .call_log import DEFAULT_KEEP
from .commands import PipelineSink
from .deps import AccountPolicy, PipelineDeps, Timing
from .erp_health import ChannelState, ErpChannel, channel_of
from .erp_wiring import RoutedErp
from .handlers import make_handlers
from .intake_feed import FeedPoller, ensure_feed_config
from .reconcile import Reconciler
from .singletons import AdvisoryLocks, InProcess, Loop, Singletons

log = structlog.get_logger("orderbridge.pipeline")

ERP_BACKOFF_DOUBLINGS = 6

JobRunner = EmbeddedQueue | ProcrastinateQueue


class Pipeline:
    def __init__(
        self,
        db: Database,
        clients: Mapping[str, VtexClient],
        erp: ErpAdapter,
        policies: Mapping[str, AccountPolicy],
        *,
        timing: Timing | None = None,
        workers: int = 32,
        reconcile_interval_s: float = 300.0,
        reconcile_window: timedelta = timedelta(hours=72),
        queue_options: Mapping[str, Any] | None = None,
        erp_unhealthy_after: int = 5,
        vtex_calls_keep: timedelta = DEFAULT_KEEP,
        singletons: Singletons | None = None,
        job_pool_size: int = 10,
    ) -> None:
        # Every ERP call goes through the channel: failures are retried and reported, never decisions.
        channel = channel_of(erp, unhealthy_after=erp_unhealthy_after, backoff=self._erp_backoff_s)
        self.deps = PipelineDeps(db, clients, channel, policies, timing or Timing())
        self.deps.call_log.keep = vtex_calls_keep
        for client in clients.values():
            client.add_observer(self.deps.call_log.observe)
        handlers = make_handlers(self.deps)
        self.queue: JobRunner = build_queue(db, handlers, workers, queue_options or {}, job_pool_size)
        self._queue_users = 0
        channel.report = self._record_erp_channel
        self.deps.queue = self.queue
        self.sink = PipelineSink(self.deps)
        self.deps.sink = self.sink
        self.reconciler = Reconciler(self.deps, reconcile_interval_s, reconcile_window)
        self.pollers = [
            FeedPoller(self.deps, name, number)
            for name, policy in policies.items()
            if policy.uses_feed
            for number in range(policy.pollers)
        ]
        # Loops that run once per cluster (`singletons`): on SQLite all here; on PostgreSQL each in the
        # one process holding its advisory lock.
        self.singletons = singletons or (InProcess() if db.is_sqlite else AdvisoryLocks(db.url))
        self.way_back = way_back_adapters(erp)
        for adapter in self.way_back:
            adapter.runs_own_loop = False

    def _erp_backoff_s(self, failures: int) -> float:
        """The queue's backoff, by the channel's failures in a row, topped at ~1 min (2^6 × base): an
        outage may be long, and the ERP's return should be noticed soon after."""
        return self.queue.backoff_s(min(failures, ERP_BACKOFF_DOUBLINGS + 1))

    async def _record_erp_channel(self, state: ChannelState) -> None:
        def write(conn: Connection) -> None:
            repo.set_erp_channel(
                conn,
                state.name,
                healthy=state.healthy,
                consecutive_failures=state.consecutive_failures,
                last_error=state.last_error,
                changed_at=state.changed_at,
            )

        await self.deps.db.write(write)

    async def prepare(self) -> None:
        """Register the accounts, restore pauses, and make sure each feed has the pipeline's filter."""

        def register(conn: Connection) -> None:
            for name, policy in self.deps.accounts.items():
                repo.upsert_account(conn, name, _public_settings(policy))

        await self.deps.db.write(register)
        await accounts.load_paused(self.deps)
        for name, policy in self.deps.accounts.items():
            if policy.uses_feed and name not in self.deps.paused:
                await self._ensure_feed(name)

    async def _ensure_feed(self, account: str) -> None:
        try:
            await ensure_feed_config(self.deps, account)
        except AuthError as error:
            await accounts.pause(self.deps, account, str(error))
        except VtexError as error:
            # Not fatal: the pollers reconfigure when the feed answers 404.
            log.warning("feed_config_failed", account=account, error=str(error))

    def singleton_loops(self) -> dict[str, Loop]:
        """The loops that must run once per cluster, by lock name: each account's feed pollers (one
        set), each account's reconciliation sweep, each ERP adapter's way back."""
        loops: dict[str, Loop] = {}
        for account in self.deps.accounts:
            pollers = [p for p in self.pollers if p.account == account]
            if pollers:
                loops[f"feed:{account}"] = functools.partial(_run_all, pollers)
            loops[f"reconcile:{account}"] = functools.partial(self.reconciler.run_account, account)
        for adapter in self.way_back:
            loops[f"erp:{adapter.name}"] = adapter.run_way_back
        return loops

    @contextlib.asynccontextmanager
    async def queue_open(self) -> AsyncIterator[None]:
        """The queue open for the duration (see `opened`); nested uses share the outermost opening (the
        service opens it before its API starts, so the dashboard can requeue from the first request)."""
        if self._queue_users:
            self._queue_users += 1
            try:
                yield
            finally:
                self._queue_users -= 1
            return
        async with opened(self.queue):
            self._queue_users = 1
            try:
                yield
            finally:
                self._queue_users = 0

    async def run(self, stop: asyncio.Event, *, jobs: bool = True, singletons: bool = True) -> None:
        """Run everything until `stop` is set, then stop the ERP adapter and let jobs finish.

        `jobs`: run jobs here; `singletons`: run (or stand by for) the once-per-cluster loops. A process
        with neither (`orderbridge serve`) only keeps the queue open for its API: see `serve`."""
        await self.prepare()
        await self.deps.erp.start(self.sink)
        async with self.queue_open():
            tasks = [asyncio.create_task(self.queue.run(stop), name="jobs")] if jobs else []
            loops = (
                asyncio.create_task(self.singletons.run(self.singleton_loops(), stop), name="singletons")
                if singletons
                else None
            )
            stopped = asyncio.create_task(stop.wait(), name="stop")
            parts = [*tasks, *([loops] if loops is not None else [])]
            try:
                # A part that dies on its own (a bug, a lost database) stops the whole service loudly,
                # rather than leaving a half-running pipeline that looks alive.
                await asyncio.wait([stopped, *parts], return_when=asyncio.FIRST_COMPLETED)
            finally:
                stop.set()
                # The way-back loops end before their adapters stop (they use them).
                first = await asyncio.gather(*([loops] if loops else []), return_exceptions=True)
                await self.deps.erp.stop()
                results = [*first, *await asyncio.gather(*tasks, return_exceptions=True)]
                stopped.cancel()
                await self.deps.call_log.drain()
        failures = [r for r in results if isinstance(r, BaseException)]
        for failure in failures:
            log.error("pipeline_part_failed", error=repr(failure))
        if failures:
            raise failures[0]

    async def serve(self, stop: asyncio.Event) -> None:
        """`orderbridge serve`'s part: the accounts registered and the queue open (the API enqueues, the
        dashboard requeues), no jobs and no loops, until `stop` is set."""

        def register(conn: Connection) -> None:
            for name, policy in self.deps.accounts.items():
                repo.upsert_account(conn, name, _public_settings(policy))

        await self.deps.db.write(register)
        await accounts.load_paused(self.deps)
        async with self.queue_open():
            await stop.wait()
        await self.deps.call_log.drain()


async def _run_all(pollers: list[FeedPoller], stop: asyncio.Event) -> None:
    await asyncio.gather(*(poller.run(stop) for poller in pollers))


def build_queue(
    db: Database,
    handlers: Mapping[str, Handler],
    workers: int,
    options: Mapping[str, Any],
    pool_size: int = 10,
) -> JobRunner:
    """The embedded queue on SQLite; procrastinate on PostgreSQL (several processes, any hosts), where a
    job's wait for VTEX never holds its worker: every 429 is a scheduled retry (see `_waits_rescheduled`)."""
    if db.is_sqlite:
        return EmbeddedQueue(db, handlers, concurrency=workers, **options)
    connector = PsycopgConnector(conninfo=libpq_conninfo(db.url), min_size=1, max_size=pool_size)
    rescheduling = {kind: _waits_rescheduled(handler) for kind, handler in handlers.items()}
    return ProcrastinateQueue(App(connector=connector), rescheduling, concurrency=workers, **options)


def _waits_rescheduled(handler: Handler) -> Handler:
    """`handler` with no `Retry-After` slept inside its VTEX calls: each 429 raises `RateLimited`, which
    the handlers turn into `RetryLater(retry_after, count_attempt=False)`, a `todo` job scheduled later
    by procrastinate. Its slot runs other jobs meanwhile, and its order's lane stays closed: procrastinate
    runs no job of a lock while an earlier (lower id) job of that lock is `todo`, due or not. The
    embedded queue (SQLite) is unchanged: a `Retry-After` up to the account's `max_short_wait_s` is
    slept inside the call there."""

    @functools.wraps(handler)
    async def run(job: Job) -> None:
        with retry_after_rescheduled():
            await handler(job)

    return run


@contextlib.asynccontextmanager
async def opened(queue: JobRunner) -> AsyncIterator[None]:
    """procrastinate's app (its connection pool) open for the duration; nothing for the embedded
    queue. Enqueueing needs none (it runs on the caller's connection); running, requeueing and
    listing parked jobs do."""
    if not isinstance(queue, ProcrastinateQueue):
        yield
        return
    await queue.app.open_async()
    try:
        yield
    finally:
        await queue.app.close_async()


@contextlib.asynccontextmanager
async def operator_queue(db: Database) -> AsyncIterator[JobRunner]:
    """The queue of `db`'s service, for an operator's command (requeue, list parked): no handlers."""
    queue = build_queue(db, {}, 1, {}, pool_size=2)
    async with opened(queue):
        yield queue


def way_back_adapters(erp: ErpAdapter) -> list[HasWayBack]:
    """The adapters under `erp` (its health channel, its routing by account) that have a way-back loop."""
    if isinstance(erp, ErpChannel):
        return way_back_adapters(erp.inner)
    if isinstance(erp, RoutedErp):
        found = {id(a): a for adapter in erp.by_account.values() for a in way_back_adapters(adapter)}
        return list(found.values())
    return [erp] if isinstance(erp, HasWayBack) else []


def _public_settings(policy: AccountPolicy) -> dict[str, Any]:
    """What the accounts table shows of a policy — never the hook secret."""
    return {
        "intake": policy.intake,
        "pollers": policy.pollers,
        "maxlot": policy.maxlot,
        "feed_statuses": list(policy.feed_statuses),
        "feed_expression": policy.feed_expression,
        "change_api": policy.change_api,
        "cancellation_before_acceptance": policy.cancellation_before_acceptance,
    }
