"""A crash between two steps resumes at the right one: each step is recorded as it completes, and the
next run decides from those records and VTEX's current status (never from memory)."""

from __future__ import annotations

from datetime import UTC, datetime

from orderbridge.core.commands import InvoiceCommand, InvoiceLine, command_to_dict
from orderbridge.erp.port import HandoverOrder
from orderbridge.pipeline.deps import RELAY_COMMAND, lock_of
from orderbridge.pipeline.mapping import order_to_snapshot
from orderbridge.pipeline.outbound import invoice_request
from orderbridge.store import repo

from .conftest import ACCOUNT, IDLE_WAREHOUSE, Harness, HarnessFactory


async def remember_accepted(harness: Harness, order_id: str) -> None:
    """What a process that died right after the ERP accepted the order left behind."""
    order = await harness.client.get_order(order_id)
    snapshot = order_to_snapshot(order)
    await harness.warehouse.start(harness.pipeline.sink)
    await harness.warehouse.hand_over(HandoverOrder(ACCOUNT, order_id, snapshot, order.raw))
    with harness.db.begin() as session:
        repo.upsert_order(
            session, ACCOUNT, order_id, snapshot.status, order.raw, snapshot.to_dict(), snapshot.last_change
        )
        repo.set_pipeline_state(session, ACCOUNT, order_id, "accepted", handed_over_at=datetime.now(UTC))


async def test_after_a_crash_between_acceptance_and_start_the_order_is_started_once_not_handed_over_again(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(warehouse=IDLE_WAREHOUSE, start=False)
    await harness.pipeline.prepare()
    (order_id,) = await harness.create_orders(1)
    await remember_accepted(harness, order_id)

    await harness.start()
    await harness.wait_for(lambda: harness.in_state(order_id, "handling"), what="order started")

    assert harness.warehouse.handover_counts() == {(ACCOUNT, order_id): 1}
    assert (await harness.stats())["start_handling"] == {order_id: 1}


async def test_a_start_that_landed_before_the_crash_is_recorded_without_calling_vtex_again(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(warehouse=IDLE_WAREHOUSE, start=False)
    await harness.pipeline.prepare()
    (order_id,) = await harness.create_orders(1)
    await remember_accepted(harness, order_id)
    await harness.client.start_handling(order_id)  # landed; the process died before recording it

    await harness.start()
    await harness.wait_for(lambda: harness.in_state(order_id, "handling"), what="start recorded")

    assert (await harness.stats())["calls"]["start_handling"] == {"204": 1}
    assert harness.warehouse.handover_counts() == {(ACCOUNT, order_id): 1}


async def test_an_invoice_posted_just_before_a_crash_is_found_on_the_order_and_not_posted_again(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(warehouse=IDLE_WAREHOUSE)
    (order_id,) = await harness.create_orders(1)
    await harness.wait_for(lambda: harness.in_state(order_id, "handling"), what="order in handling")
    snapshot = await harness.pipeline.sink.current_order(ACCOUNT, order_id)
    assert snapshot is not None
    lines = tuple(InvoiceLine(i.sku_id, i.quantity, i.unit_price_cents) for i in snapshot.items)
    invoice = InvoiceCommand("NF7", snapshot.value_cents, "2026-11-27T10:00:00Z", lines)
    with harness.db.begin() as session:
        command_id = repo.add_command(session, ACCOUNT, order_id, command_to_dict(invoice), "test")
        repo.set_command_status(session, command_id, "sending")
    await harness.client.send_invoice(order_id, invoice_request(invoice))  # landed, then the crash

    with harness.db.begin() as session:
        harness.pipeline.queue.enqueue(
            session,
            kind=RELAY_COMMAND,
            lock=lock_of(ACCOUNT, order_id),
            payload={"account": ACCOUNT, "order_id": order_id, "command_id": command_id},
        )

    async def confirmed() -> bool:
        row = await harness.command(command_id)
        return row is not None and row.status == "confirmed"

    await harness.wait_for(confirmed, what="the landed invoice confirmed")
    assert (await harness.stats())["invoices"][order_id]["posts"] == 1
