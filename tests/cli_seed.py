"""A small migrated SQLite database with a few orders, commands and attempts, for the CLI's tests."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from orderbridge.pipeline.vtex_health import DEGRADED_AFTER, VtexHealth
from orderbridge.store import tables
from orderbridge.store.db import Database

NOW = datetime.now(UTC)
LONG_REASON = (
    "the ERP refused the order: item 1234567 out of stock at every warehouse of the region (code E-4711)"
)
ORDERS: list[dict[str, Any]] = [
    {
        "account": "sandboxaccount",
        "order_id": "1428120565211-01",
        "vtex_status": "waiting-ffmt-authorization",
        "pipeline_state": "cancellation_asked",
        "value_cents": 123456789,
    },
    {
        "account": "another-long-store-name",
        "order_id": "SLR-1428120565212-01",
        "vtex_status": "ready-for-handling",
        "pipeline_state": "parked",
        "value_cents": 1999,
        "park_reason": LONG_REASON,
    },
    {
        "account": "sandboxaccount",
        "order_id": "1428120565213-01",
        "vtex_status": "invoiced",
        "pipeline_state": "completed",
        "value_cents": 5000,
    },
]


def seed_database(directory: Path, vtex_unreachable: str | None = None) -> str:
    """A config file pointing at a fresh database holding `ORDERS` (and, for `vtex_unreachable`, that
    account's VTEX as the service records an outage); its path."""
    url = f"sqlite:///{directory / 'ob.db'}"
    asyncio.run(_seed(url, vtex_unreachable))
    config = directory / "orderbridge.toml"
    config.write_text(f'database_url = "{url}"\n')
    return str(config)


async def _seed(url: str, vtex_unreachable: str | None) -> None:
    db = Database(url)
    await db.migrate()
    try:
        with db.begin() as conn:
            for n, order in enumerate(ORDERS):
                conn.execute(
                    tables.orders.insert().values(
                        last_change="", snapshot={}, created_at=NOW - timedelta(hours=3),
                        updated_at=NOW - timedelta(minutes=7 * n), version=1, **order,
                    )
                )  # fmt: skip
            first = ORDERS[0]["order_id"]
            conn.execute(
                tables.commands.insert().values(
                    id="c0ffee00-0000-4000-8000-000000000001", account="sandboxaccount", order_id=first,
                    kind="invoice", payload={"invoiceNumber": "NF-000123456"}, status="sent",
                    channel="rest", invoice_number="NF-000123456", created_at=NOW, updated_at=NOW,
                )
            )  # fmt: skip
            conn.execute(
                tables.attempts.insert().values(
                    account="sandboxaccount", order_id=first, action="vtex.invoice", outcome="retry",
                    http_status=503, detail="Service Unavailable", at=NOW,
                )
            )  # fmt: skip
        if vtex_unreachable is not None:
            health = VtexHealth(db)
            for _ in range(DEGRADED_AFTER):
                await health.read_failed(vtex_unreachable, "GET /api/orders/feed: ConnectError", NOW)
    finally:
        await db.dispose()
