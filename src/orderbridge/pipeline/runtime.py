"""`Pipeline`: the moving parts wired together — job queue and handlers, feed pollers, reconciliation,
the command sink and the ERP adapter — runnable on one event loop until a stop event.

The `Service` builds one from the configuration file; tests and benches build one directly around an
in-process sandbox and a simulated warehouse, so they exercise exactly the production wiring.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.engine import Connection

from orderbridge.erp.port import ErpAdapter
from orderbridge.jobs.embedded import EmbeddedQueue
from orderbridge.store import repo
from orderbridge.store.db import Database
from orderbridge.vtex import VtexClient
from orderbridge.vtex.errors import AuthError, VtexError

from . import accounts
from .call_log import DEFAULT_KEEP
from .commands import PipelineSink
from .deps import AccountPolicy, PipelineDeps, Timing
from .erp_health import ChannelState, channel_of
from .handlers import make_handlers
from .intake_feed import FeedPoller, ensure_feed_config
from .reconcile import Reconciler

log = structlog.get_logger("orderbridge.pipeline")

ERP_BACKOFF_DOUBLINGS = 6


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
    ) -> None:
        # Every ERP call goes through the channel: failures are retried and reported, never decisions.
        channel = channel_of(erp, unhealthy_after=erp_unhealthy_after, backoff=self._erp_backoff_s)
        self.deps = PipelineDeps(db, clients, channel, policies, timing or Timing())
        self.deps.call_log.keep = vtex_calls_keep
        for client in clients.values():
            client.add_observer(self.deps.call_log.observe)
        handlers = make_handlers(self.deps)
        self.queue = EmbeddedQueue(db, handlers, concurrency=workers, **(queue_options or {}))
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

    async def run(self, stop: asyncio.Event) -> None:
        """Run everything until `stop` is set, then stop the ERP adapter and let jobs finish."""
        await self.prepare()
        await self.deps.erp.start(self.sink)
        tasks = [asyncio.create_task(self.queue.run(stop), name="jobs")]
        tasks += [asyncio.create_task(p.run(stop), name=f"feed-{p.account}-{p.number}") for p in self.pollers]
        tasks.append(asyncio.create_task(self.reconciler.run(stop), name="reconcile"))
        stopped = asyncio.create_task(stop.wait(), name="stop")
        try:
            # A part that dies on its own (a bug, a lost database) stops the whole service loudly,
            # rather than leaving a half-running pipeline that looks alive.
            await asyncio.wait([stopped, *tasks], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.set()
            await self.deps.erp.stop()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            stopped.cancel()
            await self.deps.call_log.drain()
        failures = [r for r in results if isinstance(r, BaseException)]
        for failure in failures:
            log.error("pipeline_part_failed", error=repr(failure))
        if failures:
            raise failures[0]


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
