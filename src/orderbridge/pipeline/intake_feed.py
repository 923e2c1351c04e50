"""Moment 1, pull side: Feed v3 pollers.

Several pollers per account read up to `maxlot` events each, store them (deduplicated) with their sync
jobs in one transaction, and only then commit the handles — irrelevant and duplicate events too, or
they come back and block the queue. A crash between storing and committing merely redelivers events
that the store's dedupe key drops.
"""

from __future__ import annotations

import asyncio
import contextlib
import random

import structlog

from orderbridge.metrics import FEED_EVENTS, FEED_LAST_READ
from orderbridge.vtex import FeedConfig, FeedFilter, FeedItem
from orderbridge.vtex.errors import AuthError, NotFound, RateLimited, VtexError
from orderbridge.vtex.models.base import known_stamp, known_state

from . import accounts
from .crashpoints import EVENT_STORED, crashpoint
from .deps import AccountPolicy, PipelineDeps
from .intake import IncomingEvent, change_key, store_events

log = structlog.get_logger("orderbridge.pipeline.feed")


def desired_filter(policy: AccountPolicy) -> FeedFilter:
    if policy.feed_expression is not None:
        return FeedFilter.from_orders(policy.feed_expression)
    return FeedFilter.from_workflow(list(policy.feed_statuses))


def _same_filter(current: FeedFilter, wanted: FeedFilter) -> bool:
    return (
        current.type == wanted.type
        and sorted(current.status or []) == sorted(wanted.status or [])
        and (current.expression or None) == (wanted.expression or None)
    )


async def ensure_feed_config(deps: PipelineDeps, account: str) -> None:
    """Configure the account's feed with the pipeline's filter, unless it already has it.

    Rewriting an identical configuration is avoided: it is a write VTEX may throttle, for nothing.
    """
    client = deps.client(account)
    wanted = desired_filter(deps.policy(account))
    current = await client.get_feed_config()
    if current is not None and _same_filter(current.filter, wanted):
        return
    queue = current.queue if current is not None else FeedConfig().queue
    await client.put_feed_config(FeedConfig(filter=wanted, queue=queue))
    log.info("feed_configured", account=account, filter_type=wanted.type)


def to_event(item: FeedItem) -> IncomingEvent:
    """Stamps and states read as the hook's are (`DateTime.MinValue` and "unknow" count as absent)."""
    raw = item.model_dump(mode="json", by_alias=True, exclude={"handle"})
    return IncomingEvent(
        order_id=item.order_id,
        state=known_state(item.state),
        last_state=item.last_state,
        current_change=change_key(known_stamp(item.current_change) or known_stamp(item.last_change), raw),
        raw=raw,
    )


class FeedPoller:
    """One poller loop. An account runs `policy.pollers` of them side by side."""

    def __init__(self, deps: PipelineDeps, account: str, number: int = 0) -> None:
        self.deps = deps
        self.account = account
        self.number = number
        self._idle_s = deps.timing.feed_idle_min_s
        self._failures = 0
        """Failed reads in a row: the wait before the next one grows with them (`_error_wait_s`)."""

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            pause = await self.poll_once()
            if pause > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), pause)

    async def poll_once(self) -> float:
        """Read, store, commit one batch. Returns how long to wait before the next read."""
        timing = self.deps.timing
        if await accounts.is_paused(self.deps, self.account):
            return await accounts.probe(self.deps, self.account)
        try:
            maxlot = self.deps.policy(self.account).maxlot
            items = await self.deps.client(self.account).read_feed(maxlot=maxlot)
        except RateLimited as error:
            return error.retry_after
        except AuthError as error:
            await accounts.pause(self.deps, self.account, str(error))
            return timing.paused_probe_s
        except NotFound:
            # VTEX deletes a feed configuration that saw no events for its retention period.
            await self._reconfigure()
            return self._error_wait_s()
        except VtexError as error:
            wait = self._error_wait_s()
            log.warning(
                "feed_read_failed",
                account=self.account,
                error=str(error),
                failures=self._failures,
                retry_in_s=round(wait, 2),
            )
            await self.deps.vtex_health.read_failed(self.account, str(error), self.deps.clock())
            return wait
        self._failures = 0
        await self.deps.vtex_health.read_worked(self.account, self.deps.clock())
        FEED_LAST_READ.labels(self.account).set_to_current_time()
        if not items:
            pause, self._idle_s = self._idle_s, min(self._idle_s * 2, timing.feed_idle_max_s)
            return pause
        self._idle_s = timing.feed_idle_min_s
        FEED_EVENTS.labels(self.account, "read").inc(len(items))
        try:
            await store_events(self.deps, self.account, "feed", [to_event(i) for i in items])
        except Exception as error:  # not stored → not committed: VTEX delivers them again later
            log.error("feed_store_failed", account=self.account, error=repr(error))
            return timing.feed_error_s
        crashpoint(EVENT_STORED)
        await self._commit([i.handle for i in items])
        return 0.0

    def _error_wait_s(self) -> float:
        """Exponential backoff with "equal jitter": the cap doubles with each failure in a row up to
        `feed_error_max_s`, and the wait is drawn between half the cap and the cap — so an account's
        pollers spread out, and an outage of VTEX costs a few log lines a minute, not ~15 a second."""
        self._failures += 1
        timing = self.deps.timing
        cap = min(timing.feed_error_max_s, timing.feed_error_s * 2 ** min(self._failures - 1, 30))
        return random.uniform(cap / 2, cap)

    async def _commit(self, handles: list[str]) -> None:
        try:
            await self.deps.client(self.account).commit_feed(handles)
            FEED_EVENTS.labels(self.account, "committed").inc(len(handles))
        except VtexError as error:
            # The events are stored: redelivery after the visibility timeout is merely a duplicate.
            log.warning("feed_commit_failed", account=self.account, error=str(error))

    async def _reconfigure(self) -> None:
        try:
            await ensure_feed_config(self.deps, self.account)
        except VtexError as error:
            log.warning("feed_config_failed", account=self.account, error=str(error))
