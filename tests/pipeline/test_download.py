"""Moment 1 end to end: feed → store → Get order → ERP → start-handling, and on to delivery."""

from __future__ import annotations

from .conftest import HarnessFactory


async def test_feed_orders_are_handed_over_and_started_exactly_once(make_harness: HarnessFactory) -> None:
    harness = await make_harness()
    order_ids = await harness.create_orders(5)

    await harness.wait_for(lambda: harness.all_final(order_ids), what="every order delivered")

    stats = await harness.stats()
    assert harness.warehouse.handover_counts() == {("shop", oid): 1 for oid in order_ids}
    assert stats["start_handling"] == {oid: 1 for oid in order_ids}
    assert all(stats["invoices"][oid]["posts"] == stats["invoices"][oid]["packages"] for oid in order_ids)
    assert stats["feed_depth"] == 0
