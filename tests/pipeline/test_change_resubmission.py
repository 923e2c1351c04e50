"""Issue 10, defect 1: an ERP that resubmits its item change (it has not seen the first one land yet)
gets the first command back, whatever idempotency key it uses; VTEX applies the change once.

The ERP here behaves like the warehouse did: it builds its change from the order as it first saw it,
submits it, then — VTEX's Change v2 being slow — resubmits the same change (same `requestId`) under a
fresh idempotency key while the first is in flight, and once more right after the sync that confirmed
the first one.
"""

from __future__ import annotations

from typing import Any

import pytest

from orderbridge.core.commands import ChangeCommand, ChangeLine
from orderbridge.core.orders import AppliedChange
from orderbridge.store import repo

from .conftest import ACCOUNT, IDLE_WAREHOUSE, Harness, HarnessFactory
from .test_commands import handling_order, wait_command

DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


async def vtex_changes(harness: Harness, order_id: str) -> list[Any]:
    order = await harness.vtex_order(order_id)
    changes: list[Any] = (order.get("changesAttachment") or {}).get("changesData") or []
    return changes


async def nothing_in_flight(harness: Harness, order_id: str) -> bool:
    with harness.db.connect() as session:
        return not repo.list_commands(session, ACCOUNT, order_id, repo.IN_FLIGHT_STATUSES)


@pytest.mark.parametrize("database", DATABASES)
async def test_a_change_resubmitted_under_new_keys_before_and_after_it_lands_is_applied_once(
    make_harness: HarnessFactory, database: str
) -> None:
    harness = await make_harness(warehouse=IDLE_WAREHOUSE, database=database)
    snapshot = await handling_order(harness)
    await harness.faults({"endpoints": {"changes_v2": {"latency_ms": 300}}})
    item = snapshot.items[0]
    change = ChangeCommand(
        "erp-change-1", "out of stock", remove=(ChangeLine(item.sku_id, 1, item.unit_price_cents),)
    )
    sink, order_id = harness.pipeline.sink, snapshot.order_id

    first = await sink.submit(ACCOUNT, order_id, change, channel="erp", idempotency_key="k1")
    in_flight = await sink.submit(ACCOUNT, order_id, change, channel="erp", idempotency_key="k2")
    await wait_command(harness, first.command_id, "confirmed")
    # Built from the order the ERP read before the change landed, sent after the sync that confirmed it.
    after = await sink.submit(ACCOUNT, order_id, change, channel="erp", idempotency_key="k3")
    await harness.wait_for(lambda: nothing_in_flight(harness, order_id), what="no command in flight")

    assert len(await vtex_changes(harness, order_id)) == 1
    assert first.accepted and in_flight.accepted and after.accepted
    assert in_flight.command_id == first.command_id == after.command_id
    fresh = await sink.current_order(ACCOUNT, order_id)
    assert fresh is not None
    assert sum(i.quantity for i in fresh.items if i.sku_id == item.sku_id) == item.quantity - 1
    # What the ERP finds its change by: the order's change log, by content.
    assert fresh.applied_changes() == (AppliedChange("out of stock", {item.sku_id: 1}, {}),)
