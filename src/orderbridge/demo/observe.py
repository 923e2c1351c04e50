"""Watching the run from the outside: the sandbox over HTTP (its admin stats and VTEX's own Get order)
and the warehouse's SQLite log. The pipeline is never asked how it is doing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from orderbridge.demo.truth import is_delivered
from orderbridge.erp.warehouse import read_handover_counts, read_summary
from orderbridge.sandbox.client import SandboxClient

FETCH_CONCURRENCY = 16
DELIVERY_CHECKS_PER_TICK = 20


@dataclass(frozen=True)
class LiveCounts:
    """One row of the progress table (ground truth at one moment)."""

    created: int
    handed_over: int
    started: int
    invoiced: int
    delivered: int
    canceled: int
    parked: int
    feed_depth: int

    @property
    def final(self) -> int:
        return self.delivered + self.canceled + self.parked


class Observer:
    """Reads ground truth for one account's orders. `delivered` is learnt by Get order, incrementally:
    once an order shows delivered it stays delivered, so each tick only checks a few new candidates."""

    def __init__(
        self,
        sandbox: SandboxClient,
        vtex_headers: dict[str, str],
        warehouse_db: Path,
        account: str,
        database_url: str = "",
    ) -> None:
        self.sandbox = sandbox
        self.vtex_headers = vtex_headers
        self.warehouse_db = warehouse_db
        self.account = account
        self.order_ids: list[str] = []
        self.database_url = database_url  # the pipeline's: the checker reads its pending jobs
        self.delivered: set[str] = set()
        self._rotation = 0

    async def stats(self) -> dict[str, Any]:
        response = await self.sandbox.get("/_sandbox/stats")
        response.raise_for_status()
        body: dict[str, Any] = orjson.loads(response.content)
        return body

    async def handovers(self) -> dict[str, int]:
        """The warehouse's handover log for this account: order id → times received."""
        if not self.warehouse_db.exists():
            return {}
        counts = await asyncio.to_thread(read_handover_counts, self.warehouse_db)
        return {order_id: n for (account, order_id), n in counts.items() if account == self.account}

    async def erp_rejections(self) -> int:
        if not self.warehouse_db.exists():
            return 0
        return (await asyncio.to_thread(read_summary, self.warehouse_db)).rejected

    async def get_order(self, order_id: str) -> dict[str, Any]:
        response = await self.sandbox.get(f"/api/oms/pvt/orders/{order_id}", headers=self.vtex_headers)
        response.raise_for_status()
        order: dict[str, Any] = orjson.loads(response.content)
        return order

    async def get_orders(self, order_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        gate = asyncio.Semaphore(FETCH_CONCURRENCY)

        async def one(order_id: str) -> tuple[str, dict[str, Any]]:
            async with gate:
                return order_id, await self.get_order(order_id)

        return dict(await asyncio.gather(*(one(order_id) for order_id in order_ids)))

    async def live(self) -> tuple[LiveCounts, dict[str, Any]]:
        stats = await self.stats()
        await self._check_deliveries(stats)
        by_status = stats.get("orders_by_status") or {}
        counts = LiveCounts(
            created=len(self.order_ids),
            handed_over=len(await self.handovers()),
            started=sum(1 for n in (stats.get("start_handling") or {}).values() if n > 0),
            invoiced=int(by_status.get("invoiced", 0)),
            delivered=len(self.delivered),
            canceled=int(by_status.get("canceled", 0)),
            parked=await self.erp_rejections(),
            feed_depth=int(stats.get("feed_depth", 0)),
        )
        return counts, stats

    async def _check_deliveries(self, stats: dict[str, Any]) -> None:
        """Get order for a few invoiced-but-not-yet-delivered orders (round robin, bounded per tick)."""
        invoices = stats.get("invoices") or {}
        candidates = [
            oid
            for oid in self.order_ids
            if oid not in self.delivered and (invoices.get(oid) or {}).get("packages", 0) > 0
        ]
        if not candidates:
            return
        start = self._rotation % len(candidates)
        batch = (candidates[start:] + candidates[:start])[:DELIVERY_CHECKS_PER_TICK]
        self._rotation += len(batch)
        for order_id, order in (await self.get_orders(batch)).items():
            if is_delivered(order):
                self.delivered.add(order_id)
