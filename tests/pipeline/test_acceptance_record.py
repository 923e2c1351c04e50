"""The ERP's acceptance, when the ERP can be asked about it (`SupportsLookup`), is recorded with the
next step's write: one write less per order, and still recorded when that next step fails."""

from __future__ import annotations

from orderbridge.store import repo

from .conftest import ACCOUNT, IDLE_WAREHOUSE, Harness, HarnessFactory


async def _attempts(harness: Harness, order_id: str) -> list[tuple[str, str]]:
    with harness.db.connect() as session:
        return [(a.action, a.outcome) for a in repo.list_attempts(session, ACCOUNT, order_id)]


async def test_acceptance_and_start_are_recorded_in_one_write_with_both_attempts_in_order(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(warehouse=IDLE_WAREHOUSE)
    (order_id,) = await harness.create_orders(1)
    await harness.wait_for(lambda: harness.in_state(order_id, "handling"), what="order started")

    row = await harness.order_row(order_id)
    assert row.handed_over_at is not None and row.erp_reference and row.started_at is not None
    assert row.version == 2, "the stored read, then acceptance and start together"
    assert await _attempts(harness, order_id) == [("hand_over", "accepted"), ("start_handling", "ok")]


async def test_an_acceptance_is_recorded_even_while_start_handling_keeps_failing(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(warehouse=IDLE_WAREHOUSE)
    await harness.faults({"endpoints": {"start_handling": {"ratio_5xx": 1.0}}})
    (order_id,) = await harness.create_orders(1)

    await harness.wait_for(lambda: harness.in_state(order_id, "accepted"), what="acceptance recorded")
    row = await harness.order_row(order_id)
    assert row.handed_over_at is not None and row.started_at is None
    assert (await _attempts(harness, order_id))[:2] == [
        ("hand_over", "accepted"),
        ("start_handling", "unknown"),
    ]

    await harness.faults({})
    await harness.wait_for(lambda: harness.in_state(order_id, "handling"), what="order started at last")
    assert harness.warehouse.handover_counts() == {(ACCOUNT, order_id): 1}
    assert (await harness.stats())["start_handling"] == {order_id: 1}
