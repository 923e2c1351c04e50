"""Reconciliation: a periodic sweep that catches what no event announced (hooks and feeds can miss).

It lists recent orders in the statuses the pipeline acts on (VTEX's List orders, an index that lags a
few minutes — used only to find orders, never as truth) and enqueues a sync for every order that is
unknown here or whose stored status differs. The sync re-reads the order with Get order as always.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import structlog
from sqlalchemy import select

from orderbridge.core.decisions import RELEVANT_STATUSES
from orderbridge.store import repo, tables
from orderbridge.vtex.errors import AuthError, VtexError

from . import accounts
from .deps import PipelineDeps
from .intake import enqueue_sync

log = structlog.get_logger("orderbridge.pipeline.reconcile")


async def sweep(deps: PipelineDeps, account: str, window: timedelta) -> int:
    """One pass over the account's recent orders; how many syncs it enqueued."""
    listed: dict[str, str | None] = {}
    now = deps.clock()
    # A closed range: VTEX's f_creationDate wants both ends (an open "*" end is refused by the sandbox).
    orders = deps.client(account).list_orders(
        status=list(RELEVANT_STATUSES), created_from=now - window, created_to=now + timedelta(hours=1)
    )
    async for summary in orders:
        listed[summary.order_id] = summary.status
    if not listed:
        return 0
    stored = await _stored_statuses(deps, account, list(listed))
    lagging = [oid for oid, status in listed.items() if oid not in stored or stored[oid] != status]
    if not lagging:
        return 0
    async with deps.db.transaction() as session:
        for order_id in lagging:
            await repo.record_intake_event(
                session, account, "reconcile", order_id, listed[order_id], None, None, None
            )
            await enqueue_sync(deps.queue, session, account, order_id)
    log.info("reconcile_enqueued", account=account, orders=len(lagging))
    return len(lagging)


async def _stored_statuses(deps: PipelineDeps, account: str, order_ids: list[str]) -> dict[str, str | None]:
    table = tables.orders
    found: dict[str, str | None] = {}
    async with deps.db.read_session() as session:
        for start in range(0, len(order_ids), 500):  # stay under SQLite's bound-parameter limit
            chunk = order_ids[start : start + 500]
            query = select(table.c.order_id, table.c.vtex_status).where(
                table.c.account == account, table.c.order_id.in_(chunk)
            )
            found.update({oid: status for oid, status in (await session.execute(query)).all()})
    return found


class Reconciler:
    """Runs `sweep` for every account every `interval_s`.

    The first pass waits one interval: at start the feed is usually full of the very orders a sweep
    would find, and syncing them twice only spends Get-order quota.
    """

    def __init__(self, deps: PipelineDeps, interval_s: float, window: timedelta = timedelta(days=2)) -> None:
        self.deps = deps
        self.interval_s = interval_s
        self.window = window

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval_s)
            if not stop.is_set():
                await self.sweep_all()

    async def sweep_all(self) -> int:
        total = 0
        for account in self.deps.accounts:
            if await accounts.is_paused(self.deps, account):
                continue
            try:
                total += await sweep(self.deps, account, self.window)
            except AuthError as error:
                await accounts.pause(self.deps, account, str(error))
            except VtexError as error:
                log.warning("reconcile_failed", account=account, error=str(error))
            except Exception as error:  # a sweep is a safety net: it must not take the service down
                log.error("reconcile_failed", account=account, error=repr(error))
        return total
