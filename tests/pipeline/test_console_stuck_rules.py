"""The dashboard's stuck rules and money: `incomplete` is the pipeline's own state, a park an operator
marked resolved no longer needs a person, and values carry the VTEX document's currency."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from orderbridge.pipeline import oversight
from orderbridge.store import tables
from orderbridge.store.db import Database

ACCOUNT = "shop"
NOW = datetime.now(UTC)
LONG_AGO = NOW - timedelta(hours=5)


async def _order(db: Database, order_id: str, state: str, vtex_status: str, **extra: Any) -> None:
    with db.begin() as session:
        session.execute(
            tables.orders.insert().values(
                **{
                    "account": ACCOUNT, "order_id": order_id, "vtex_status": vtex_status,
                    "pipeline_state": state, "value_cents": 12345, "last_change": "", "snapshot": {},
                    "created_at": LONG_AGO, "updated_at": LONG_AGO, "version": 1, **extra,
                }
            )
        )  # fmt: skip


async def test_the_incomplete_rule_counts_orders_the_pipeline_holds_as_incomplete(db: Database) -> None:
    await _order(db, "1-01", "incomplete", "payment-pending")  # isCompleted false, unpaid
    await _order(db, "2-01", "waiting", "order-created")  # complete, just early in VTEX's workflow
    await _order(db, "3-01", "incomplete", "payment-pending", created_at=NOW)  # not for long yet

    counts = await oversight.stuck_counts(db, oversight.StuckThresholds(incomplete_min=120))

    assert counts[ACCOUNT]["incomplete"] == 1
    rows, _ = await oversight.search_orders(db, oversight.OrderFilter(stuck="incomplete"))
    assert [r["order_id"] for r in rows] == ["1-01"]


async def test_a_park_marked_resolved_is_no_longer_stuck_until_the_order_is_parked_again(
    db: Database,
) -> None:
    await _order(db, "1-01", "parked", "ready-for-handling", park_reason="ERP refused")
    await _order(db, "2-01", "parked", "ready-for-handling", park_reason="ERP refused")
    thresholds = oversight.StuckThresholds()

    assert await oversight.mark_resolved(db, ACCOUNT, "1-01", who="bob", note="refunded by phone")

    assert (await oversight.stuck_counts(db, thresholds))[ACCOUNT]["parked"] == 1
    with db.begin() as session:  # parked again later (e.g. after a retry)
        session.execute(
            tables.orders.update()
            .where(tables.orders.c.order_id == "1-01")
            .values(updated_at=datetime.now(UTC) + timedelta(seconds=1))
        )
    assert (await oversight.stuck_counts(db, thresholds))[ACCOUNT]["parked"] == 2


async def test_the_orders_list_gives_each_value_the_currency_of_its_vtex_document(db: Database) -> None:
    await _order(db, "1-01", "handling", "handling", raw={"storePreferencesData": {"currencyCode": "BRL"}})
    await _order(db, "2-01", "handling", "handling", raw={"orderId": "2-01"})

    rows, _ = await oversight.search_orders(db, oversight.OrderFilter())

    assert {r["order_id"]: r["currency"] for r in rows} == {"1-01": "BRL", "2-01": None}
