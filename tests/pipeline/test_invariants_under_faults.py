"""The reliability contract under VTEX's bad days: 429s, 5xx, duplicate and reordered feed deliveries,
and redelivery after the visibility timeout. Ground truth comes from the sandbox's stats and the
warehouse's handover log, never from the pipeline's own belief."""

from __future__ import annotations

from typing import Any

import pytest

from orderbridge.erp.warehouse import WarehouseSettings
from orderbridge.pipeline import intake_feed

from .conftest import QUIET_WAREHOUSE, Harness, HarnessFactory, sandbox_config

BUSY_WAREHOUSE = WarehouseSettings(
    **{
        **QUIET_WAREHOUSE.model_dump(),
        "self_cancel_ratio": 0.15,
        "out_of_stock_ratio": 0.3,
        "partial_invoice_ratio": 0.3,
    }
)


async def assert_exactly_once(harness: Harness, order_ids: list[str]) -> None:
    stats = await harness.stats()
    counts = harness.warehouse.handover_counts()
    assert {oid for _, oid in counts} == set(order_ids)
    assert set(counts.values()) == {1}, "an order reached the ERP more than once"
    assert set(stats["start_handling"].values()) == {1}, "an order was started more than once"
    for order_id, invoices in stats["invoices"].items():
        assert invoices["posts"] == invoices["packages"], f"invoice of {order_id} posted twice"
    assert stats["feed_depth"] == 0
    assert harness.warehouse.summary().gave_up == ()


async def test_every_order_completes_exactly_once_with_changes_partial_invoices_and_cancels(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(warehouse=BUSY_WAREHOUSE)
    order_ids = await harness.create_orders(12)

    await harness.wait_for(lambda: harness.all_final(order_ids), what="every order final")

    await assert_exactly_once(harness, order_ids)
    stats = await harness.stats()
    assert stats["orders_by_status"].get("invoiced", 0) + stats["orders_by_status"].get("canceled", 0) == 12


async def test_under_the_flaky_profile_nothing_is_lost_or_doubled(make_harness: HarnessFactory) -> None:
    harness = await make_harness(sandbox=sandbox_config(faults="flaky", seed=7), warehouse=BUSY_WAREHOUSE)
    order_ids = await harness.create_orders(12)

    await harness.wait_for(lambda: harness.all_final(order_ids), timeout_s=45, what="every order final")

    await assert_exactly_once(harness, order_ids)
    calls = (await harness.stats())["calls"]
    assert any("429" in codes for codes in calls.values()), "the flaky profile should have throttled"
    assert any(code.startswith("5") for codes in calls.values() for code in codes)


async def test_feed_events_redelivered_after_the_visibility_timeout_are_dropped_as_duplicates(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(warehouse=QUIET_WAREHOUSE)
    # Commits fail: the events are stored and handled, but stay in flight at VTEX.
    await harness.faults({"endpoints": {"feed_commit": {"ratio_5xx": 1.0}}})
    order_ids = await harness.create_orders(4)
    await harness.wait_for(lambda: _all_handled(harness, order_ids), what="orders handled without commits")
    assert (await harness.stats())["feed_depth"] > 0

    await harness.faults({})
    await harness.advance(300)  # past the 240 s visibility timeout: VTEX redelivers every event

    await harness.wait_for(lambda: harness.all_final(order_ids), what="redelivered events committed")
    await assert_exactly_once(harness, order_ids)


async def _all_handled(harness: Harness, order_ids: list[str]) -> bool:
    started = (await harness.stats())["start_handling"]
    return all(started.get(oid) == 1 for oid in order_ids)


async def test_a_feed_batch_that_could_not_be_stored_is_not_acknowledged_and_comes_back(
    make_harness: HarnessFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = await make_harness(warehouse=QUIET_WAREHOUSE, start=False)
    real_store = intake_feed.store_events
    failures = 0

    async def disk_full_once(*args: Any, **kwargs: Any) -> int:
        nonlocal failures
        if failures == 0:
            failures += 1
            raise OSError("database or disk is full")
        return await real_store(*args, **kwargs)

    async def store_failed() -> bool:
        return failures > 0

    monkeypatch.setattr(intake_feed, "store_events", disk_full_once)
    await harness.pipeline.prepare()
    order_ids = await harness.create_orders(2)
    await harness.start()

    # Advance VTEX's clock only once the store has failed: advanced between another poller's read and
    # its store, the events would be redelivered to a poller whose store is the one that fails, while
    # the first commits handles VTEX no longer honours (the events then return 240 s later, past the test).
    await harness.wait_for(store_failed, what="the batch's store failing")
    assert await _in_flight(harness), "the unstored batch must be left uncommitted"
    await harness.advance(300)
    await harness.wait_for(lambda: harness.all_final(order_ids), what="the batch redelivered and handled")
    await assert_exactly_once(harness, order_ids)


async def _in_flight(harness: Harness) -> bool:
    feed = (await harness.stats())["feed"]
    return any(queue["in_flight"] > 0 for queue in feed.values())
