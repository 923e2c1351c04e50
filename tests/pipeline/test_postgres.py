"""The same pipeline on PostgreSQL (the scale-out database): its own statements — the batched intake
insert, the row lock that serializes submits, the confirm update — must behave as on SQLite."""

from __future__ import annotations

import asyncio

import pytest

from orderbridge.core.commands import InvoiceCommand, InvoiceLine

from .conftest import ACCOUNT, IDLE_WAREHOUSE, HarnessFactory
from .test_invariants_under_faults import BUSY_WAREHOUSE, assert_exactly_once

pytestmark = pytest.mark.postgres


async def test_on_postgresql_every_order_completes_exactly_once(make_harness: HarnessFactory) -> None:
    harness = await make_harness(database="postgres", warehouse=BUSY_WAREHOUSE)
    order_ids = await harness.create_orders(8)

    await harness.wait_for(lambda: harness.all_final(order_ids), timeout_s=40, what="every order final")

    await assert_exactly_once(harness, order_ids)


async def test_on_postgresql_two_racing_invoices_for_the_remaining_value_accept_only_one(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(database="postgres", warehouse=IDLE_WAREHOUSE)
    (order_id,) = await harness.create_orders(1)
    await harness.wait_for(lambda: harness.in_state(order_id, "handling"), what="order in handling")
    snapshot = await harness.pipeline.sink.current_order(ACCOUNT, order_id)
    assert snapshot is not None
    lines = tuple(InvoiceLine(i.sku_id, i.quantity, i.unit_price_cents) for i in snapshot.items)

    def invoice(number: str) -> InvoiceCommand:
        return InvoiceCommand(number, snapshot.value_cents, "2026-11-27T10:00:00Z", lines)

    outcomes = await asyncio.gather(
        harness.pipeline.sink.submit(ACCOUNT, order_id, invoice("NF1"), channel="a"),
        harness.pipeline.sink.submit(ACCOUNT, order_id, invoice("NF2"), channel="b"),
    )

    assert sorted(o.accepted for o in outcomes) == [False, True]
