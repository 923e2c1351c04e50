"""Reconciliation: a periodic sweep that catches what no event announced (hooks and feeds can miss).

It lists the window's orders in the statuses the pipeline acts on (VTEX's List orders, an index that
lags a few minutes — used only to find orders, never as truth) and enqueues a sync for every order that
is unknown here or whose stored status differs. The sync re-reads the order with Get order as always.

List orders returns 30 pages at most, so the window is read in time slices that each fit under that cap
(`VtexClient.list_orders_in_slices`), newest first: every order of the window is seen whatever the
volume, at about one request per hundred orders plus one per slice that had to be cut.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.engine import Connection

from orderbridge.core.decisions import RELEVANT_STATUSES
from orderbridge.store import repo, tables
from orderbridge.vtex import ListingReport
from orderbridge.vtex.errors import AuthError, VtexError

from . import accounts
from .deps import PipelineDeps
from .intake import sync_job

log = structlog.get_logger("orderbridge.pipeline.reconcile")

WRITE_CHUNK = 500
"""Lagging orders recorded and enqueued per transaction: after an outage a sweep may find thousands,
and one transaction for all of them would hold the writer (SQLite: the only one) for seconds."""


@dataclass(frozen=True, slots=True)
class _Found:
    """A lagging order as an intake event (`repo.IntakeEvent`): what the listing said, nothing more."""

    order_id: str
    state: str | None
    last_state: str | None = None
    current_change: str | None = None
    raw: Mapping[str, Any] | None = None


async def sweep(deps: PipelineDeps, account: str, window: timedelta) -> int:
    """One pass over the account's recent orders; how many syncs it enqueued."""
    now = deps.clock()
    report = ListingReport()
    listed: dict[str, str | None] = {}
    # A closed range: VTEX's f_creationDate wants both ends. An hour ahead covers clocks that disagree.
    orders = deps.client(account).list_orders_in_slices(
        now - window, now + timedelta(hours=1), RELEVANT_STATUSES, report=report
    )
    async for summary in orders:
        listed[summary.order_id] = summary.status  # slices share bounds: an order may come twice
    if report.truncated:
        log.warning("reconcile_listing_truncated", account=account, slices=report.truncated)
    lagging = await _lagging(deps, account, listed)
    log.info(
        "reconcile_swept",
        account=account,
        listed=len(listed),
        lagging=len(lagging),
        list_calls=report.calls,
        slices=report.slices,
        splits=report.splits,
    )
    for start in range(0, len(lagging), WRITE_CHUNK):
        await _enqueue_syncs(
            deps, account, [_Found(oid, listed[oid]) for oid in lagging[start : start + WRITE_CHUNK]]
        )
    if lagging:
        log.info("reconcile_enqueued", account=account, orders=len(lagging))
    return len(lagging)


async def _lagging(deps: PipelineDeps, account: str, listed: dict[str, str | None]) -> list[str]:
    """Listed orders unknown here or stored with another status."""
    if not listed:
        return []
    stored = await _stored_statuses(deps, account, list(listed))
    return [oid for oid, status in listed.items() if oid not in stored or stored[oid] != status]


async def _enqueue_syncs(deps: PipelineDeps, account: str, found: list[_Found]) -> None:
    """Record the finds as `reconcile` events and enqueue their syncs, in one transaction."""

    def write(conn: Connection) -> None:
        repo.record_intake_events(conn, account, "reconcile", found)
        deps.queue.enqueue_many(conn, [sync_job(account, f.order_id) for f in found])

    await deps.db.write(write)


async def _stored_statuses(deps: PipelineDeps, account: str, order_ids: list[str]) -> dict[str, str | None]:
    table = tables.orders

    def read(conn: Connection) -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        for start in range(0, len(order_ids), 500):  # stay under SQLite's bound-parameter limit
            chunk = order_ids[start : start + 500]
            query = select(table.c.order_id, table.c.vtex_status).where(
                table.c.account == account, table.c.order_id.in_(chunk)
            )
            found.update({oid: status for oid, status in conn.execute(query).all()})
        return found

    return await deps.db.read(read)


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

    async def run_account(self, account: str, stop: asyncio.Event) -> None:
        """`run` for one account (on PostgreSQL each account's sweep runs once per cluster, in the
        process holding its lock: `pipeline.singletons`)."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval_s)
            if not stop.is_set():
                await self.sweep_account(account)

    async def sweep_all(self) -> int:
        total = 0
        for account in self.deps.accounts:
            total += await self.sweep_account(account)
        return total

    async def sweep_account(self, account: str) -> int:
        if await accounts.is_paused(self.deps, account):
            return 0
        try:
            return await sweep(self.deps, account, self.window)
        except AuthError as error:
            await accounts.pause(self.deps, account, str(error))
        except VtexError as error:
            log.warning("reconcile_failed", account=account, error=str(error))
        except Exception as error:  # a sweep is a safety net: it must not take the service down
            log.error("reconcile_failed", account=account, error=repr(error))
        return 0
