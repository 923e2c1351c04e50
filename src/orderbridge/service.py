"""`Service`: `orderbridge run` — the whole pipeline, its ERP adapter and its HTTP API on one event loop.

The process's composition root, beside the CLI: it may import every layer (the pipeline, the API, uvicorn,
the loop), and no layer imports it.

Built from `orderbridge.config.Settings`, so a test, the demo or a bench starts it exactly as production
does: `orderbridge run --config FILE` in a subprocess, or `await Service(settings).run(stop)` in-process.
SIGINT/SIGTERM stop it gracefully (running jobs finish, the ERP adapter stops, the database closes).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import sys
from collections.abc import Generator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import structlog
import uvicorn
import uvloop

from orderbridge.api.app import create_api
from orderbridge.config import AccountSettings, FromOrdersFilter, Settings, load_settings
from orderbridge.erp.parsing import allow_http_urls
from orderbridge.erp.port import CommandSink, ErpAdapter
from orderbridge.logsetup import configure_from_settings
from orderbridge.metrics import observe_vtex_call
from orderbridge.pipeline.deps import HOOK_SECRET_HEADER, AccountPolicy, PipelineDeps, Timing
from orderbridge.pipeline.erp_wiring import build_erp
from orderbridge.pipeline.runtime import Pipeline
from orderbridge.pipeline.singletons import AdvisoryLocks, InProcess
from orderbridge.store.db import Database, WalUnavailable
from orderbridge.store.instance_lock import AlreadyRunning, single_instance
from orderbridge.store.procrastinate_schema import ensure_procrastinate_schema
from orderbridge.store.rate_limits import SharedRateLimits
from orderbridge.store.startup_wait import when_database_answers
from orderbridge.vtex import FeedFilter, HookConfig, HookEndpoint, VtexClient
from orderbridge.vtex.client import DEFAULT_BURST, pace_under
from orderbridge.vtex.errors import VtexError

if TYPE_CHECKING:  # httpx2 is a test dependency: the in-process transports tests plug in
    import httpx2

log = structlog.get_logger("orderbridge.service")

ALREADY_RUNNING_EXIT = 3
NEEDS_POSTGRES_EXIT = 2  # a configuration problem: `serve` and `worker` need a PostgreSQL database_url
UNUSABLE_DATABASE_EXIT = 2  # like a configuration problem: the file's `database_url` must change
PRIVATE_UMASK = 0o077

Role = Literal["run", "worker", "serve"]
"""`run`: everything in one process. On PostgreSQL, any number of processes of each role: `worker` runs
jobs and stands by for the once-per-cluster loops, no API; `serve` runs the API and hook receiver only."""


class NeedsPostgres(Exception):
    """`serve` or `worker` on SQLite: one process holds a SQLite database, so roles cannot be split."""


def policy_of(account: AccountSettings) -> AccountPolicy:
    feed = account.feed_filter
    expression = feed.expression if isinstance(feed, FromOrdersFilter) else None
    statuses = () if isinstance(feed, FromOrdersFilter) else tuple(feed.status)
    return AccountPolicy(
        name=account.name,
        intake=account.intake,
        pollers=account.pollers,
        maxlot=account.maxlot,
        feed_statuses=statuses,
        feed_expression=expression,
        hook_secret=account.hook_secret.get_secret_value() if account.hook_secret else None,
        hook_url=account.hook_url,
        change_api=account.change_api,
        cancellation_before_acceptance=account.cancellation_before_acceptance,
    )


def client_of(
    account: AccountSettings,
    transport: httpx2.AsyncBaseTransport | None = None,
    ca_bundle: Path | None = None,
    shared: SharedRateLimits | None = None,
) -> VtexClient:
    """The account's VTEX client; with `shared`, its limits are held in the cluster's database, so all
    processes on the account pace themselves together (each alone would pace itself at the full quota)."""
    limiter = get_order_pace = None
    if shared is not None:
        if account.requests_per_second is not None:
            limiter = shared.bucket(f"{account.name}:all", account.requests_per_second, DEFAULT_BURST)
        rate, burst = pace_under(account.get_order_per_minute)
        if rate is not None:
            get_order_pace = shared.bucket(f"{account.name}:get_order", rate, burst)
    return VtexClient(
        account.name,
        account.app_key.get_secret_value(),
        account.app_token.get_secret_value(),
        environment=account.environment,
        base_url=account.base_url,
        requests_per_second=account.requests_per_second,
        burst=DEFAULT_BURST,
        limiter=limiter,
        get_order_per_minute=account.get_order_per_minute,
        get_order_pace=get_order_pace,
        timeout_s=account.timeout_s,
        max_short_wait_s=account.max_short_wait_s,
        connect_timeout_s=account.connect_timeout_s,
        ca_bundle=ca_bundle,
        transport=transport,
        observer=observe_vtex_call,
    )


class Service:
    def __init__(
        self,
        settings: Settings,
        *,
        erp: ErpAdapter | None = None,
        transports: Mapping[str, httpx2.AsyncBaseTransport] | None = None,
        timing: Timing | None = None,
        role: Role = "run",
    ) -> None:
        self.settings = settings
        self.role = role
        self.db = Database(settings.database_url)
        if self.db.is_sqlite and role != "run":
            raise NeedsPostgres(
                f"orderbridge {role} needs a PostgreSQL database_url (postgresql+psycopg://…): on SQLite "
                "one process holds the database, so use 'orderbridge run'"
            )
        # On PostgreSQL several processes may serve one account: VTEX's quotas are then held in the
        # database. On SQLite one process holds the database (`single_instance`), so in-process buckets.
        self.rate_limits = None if self.db.is_sqlite else SharedRateLimits(settings.database_url)
        transports = transports or {}
        self.clients = {
            a.name: client_of(a, transports.get(a.name), settings.ca_bundle, self.rate_limits)
            for a in settings.accounts
        }
        # Every ERP channel parses through `orderbridge.erp.parsing`: one switch covers them all.
        allow_http_urls(settings.erp.allow_http_urls)
        self.erp = erp or build_erp(settings)
        self.pipeline = Pipeline(
            self.db,
            self.clients,
            self.erp,
            {a.name: policy_of(a) for a in settings.accounts},
            timing=timing
            or Timing(
                incomplete_recheck_s=settings.incomplete_recheck_s,
                incomplete_recheck_max_s=max(
                    settings.incomplete_recheck_max_s, settings.incomplete_recheck_s
                ),
                vtex_outage_retry_s=settings.vtex_outage_retry_s,
                vtex_outage_retry_max_s=max(settings.vtex_outage_retry_max_s, settings.vtex_outage_retry_s),
            ),
            workers=settings.workers,
            reconcile_interval_s=settings.reconcile_interval_s,
            reconcile_window=timedelta(hours=settings.reconcile_lookback_h),
            erp_unhealthy_after=settings.erp.unhealthy_after,
            vtex_calls_keep=timedelta(days=settings.vtex_calls_retention_days),
            queue_options=_queue_options(settings, self.db.is_sqlite),
            singletons=(
                InProcess()
                if self.db.is_sqlite
                else AdvisoryLocks(self.db.url, retry_s=settings.jobs.singleton_retry_s)
            ),
            job_pool_size=settings.jobs.pool_size,
        )
        self.api_port: int | None = None

    @property
    def deps(self) -> PipelineDeps:
        return self.pipeline.deps

    @property
    def sink(self) -> CommandSink:
        return self.pipeline.sink

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop`. On SQLite, `AlreadyRunning` at once if another service holds the database;
        on PostgreSQL any number of processes share it (once-per-cluster loops take turns)."""
        try:
            if self.db.is_sqlite:
                async with single_instance(self.db.url):
                    await self._run(stop)
            else:
                await self._run(stop)
        finally:
            await self.db.dispose()  # also when refused: the engine may hold connections

    async def _run(self, stop: asyncio.Event) -> None:
        if self.db.is_sqlite:
            await self.db.migrate()
        else:
            await when_database_answers(self._migrate_postgres, what="migrate")
        if self.rate_limits is not None:
            await self.rate_limits.open()
        async with self.pipeline.queue_open():  # before the API: its dashboard requeues through it
            await self._serve_and_run(stop)

    async def _migrate_postgres(self) -> None:
        await self.db.migrate()
        # The job queue's schema, as `orderbridge migrate` applies it (once, whoever starts first).
        await asyncio.to_thread(ensure_procrastinate_schema, self.db.url)

    async def _serve_and_run(self, stop: asyncio.Event) -> None:
        server = self._api_server()
        api_task = asyncio.create_task(server.serve(), name="api") if server is not None else None
        try:
            if server is not None:
                await _started(server, api_task)
                self.api_port = _bound_port(server)
                await self._configure_hooks()
            log.info("service_started", role=self.role, accounts=list(self.clients), api_port=self.api_port)
            await self._run_pipeline(stop)
        finally:
            if server is not None and api_task is not None:
                server.should_exit = True
                await asyncio.gather(api_task, return_exceptions=True)
            for client in self.clients.values():
                await client.aclose()
            if self.rate_limits is not None:
                await self.rate_limits.close()
            await self.db.dispose()
            log.info("service_stopped")

    async def _run_pipeline(self, stop: asyncio.Event) -> None:
        if self.role == "serve":
            await self.pipeline.serve(stop)
        else:
            await self.pipeline.run(stop)

    def _api_server(self) -> uvicorn.Server | None:
        api = self.settings.api
        if not api.enabled or self.role == "worker":
            return None
        config = uvicorn.Config(
            create_api(self),
            host=api.host,
            port=api.port,
            access_log=False,
            log_level="warning",
            lifespan="off",
        )
        return _QuietServer(config)

    async def _configure_hooks(self) -> None:
        """Point each hook account's VTEX hook at our receiver (VTEX pings it first: the API is up)."""
        for account in self.settings.accounts:
            if not account.uses_hook or not account.hook_url or account.hook_secret is None:
                continue
            policy = policy_of(account)
            wanted = FeedFilter.from_workflow(list(policy.feed_statuses))
            if policy.feed_expression is not None:
                wanted = FeedFilter.from_orders(policy.feed_expression)
            headers = {HOOK_SECRET_HEADER: account.hook_secret.get_secret_value()}
            config = HookConfig(filter=wanted, hook=HookEndpoint(url=account.hook_url, headers=headers))
            try:
                await self.clients[account.name].put_hook_config(config)
            except VtexError as error:
                log.warning("hook_config_failed", account=account.name, error=str(error))


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the service owns SIGINT/SIGTERM and stops everything."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def _started(server: uvicorn.Server, task: asyncio.Task[None] | None) -> None:
    while not server.started:
        if task is not None and task.done():
            task.result()
            raise RuntimeError("the API server stopped while starting")
        await asyncio.sleep(0.01)


def _bound_port(server: uvicorn.Server) -> int | None:
    for listener in getattr(server, "servers", []):
        for sock in listener.sockets:
            return int(sock.getsockname()[1])
    return None


def run_service(config: Path | None, role: Role = "run") -> int:
    """The `orderbridge run` (`worker`, `serve`) command: load the settings, run until SIGINT/SIGTERM.
    The exit status: 0, 3 when another service already runs on the same SQLite database (the message
    says which), or 2 when SQLite refuses WAL mode for the database file (the message names it) or
    `worker`/`serve` is asked on SQLite."""
    # Databases, their WAL, the warehouse and the files adapter's folders hold customers' personal data:
    # whatever umask the service was started with, it creates files 0600 and directories 0700.
    os.umask(PRIVATE_UMASK)
    settings = load_settings(config)
    configure_from_settings(settings.log_level, settings.log_format)
    # uvloop: the same asyncio semantics with a cheaper loop (the service is I/O-bound, many small tasks).
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        try:
            runner.run(_run_until_signalled(settings, role))
        except NeedsPostgres as refused:
            print(f"orderbridge: {refused}", file=sys.stderr)
            return NEEDS_POSTGRES_EXIT
        except AlreadyRunning as refused:
            print(f"orderbridge: {refused}", file=sys.stderr)
            return ALREADY_RUNNING_EXIT
        except WalUnavailable as refused:
            print(f"orderbridge: {refused}", file=sys.stderr)
            return UNUSABLE_DATABASE_EXIT
    return 0


async def _run_until_signalled(settings: Settings, role: Role) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    service = Service(settings, role=role)
    _freeze_startup_heap()
    await service.run(stop)


def _queue_options(settings: Settings, sqlite: bool) -> dict[str, Any]:
    jobs = settings.jobs
    options: dict[str, Any] = {
        "max_attempts": jobs.max_attempts,
        "max_deaths": jobs.max_deaths,
        "shutdown_grace_s": jobs.shutdown_grace_s,
    }
    if not sqlite:
        options |= {
            "poll_interval_s": jobs.poll_interval_s,
            "heartbeat_s": jobs.heartbeat_s,
            "stalled_after_s": jobs.stalled_after_s,
        }
    return options


def _freeze_startup_heap() -> None:
    """Take what start-up built (modules, schemas, compiled statements: all kept for the process's life)
    out of the garbage collector's generations, and collect the young generation less often.

    Every full collection otherwise walks that whole heap again; in the pipeline bench the collector
    took 0.24 ms of CPU per order, half of it in five full collections of ~75 ms each. Almost all of
    an order's garbage is freed by reference counting anyway; only cycles wait for a collection.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
