"""Cancel: cancellations that start at VTEX reach the ERP once; a shopper's request is put to the ERP,
whose answer (cancel or deny) travels the ordinary command path."""

from __future__ import annotations

from orderbridge.erp.warehouse import WarehouseSettings

from .conftest import ACCOUNT, IDLE_WAREHOUSE, Harness, HarnessFactory, sandbox_config


async def customer_cancel(harness: Harness, order_id: str) -> None:
    response = await harness.admin.post(
        f"/_sandbox/orders/{order_id}/customer-cancel", json={"reason": "changed my mind"}
    )
    assert response.status_code == 200, response.text


async def started(harness: Harness) -> str:
    (order_id,) = await harness.create_orders(1)
    await harness.wait_for(lambda: harness.in_state(order_id, "handling"), what="order in handling")
    return order_id


async def test_a_shoppers_request_the_erp_accepts_cancels_the_order_and_the_erp_hears_of_it_once(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(warehouse=IDLE_WAREHOUSE)
    order_id = await started(harness)

    await customer_cancel(harness, order_id)
    await harness.wait_for(lambda: harness.in_state(order_id, "canceled"), what="order canceled")

    stats = await harness.stats()
    assert stats["cancels"] == {order_id: 1}
    summary = harness.warehouse.summary()
    assert (summary.cancellation_requests, summary.cancellation_notices) == (1, 1)


async def test_a_shoppers_request_the_erp_denies_returns_the_order_to_handling(
    make_harness: HarnessFactory,
) -> None:
    denying = WarehouseSettings(**{**IDLE_WAREHOUSE.model_dump(), "deny_cancellation_ratio": 1.0})
    harness = await make_harness(warehouse=denying)
    order_id = await started(harness)

    await customer_cancel(harness, order_id)

    async def denied() -> bool:
        order = await harness.vtex_order(order_id)
        requests = order.get("cancellationRequests") or []
        return order["status"] == "handling" and any(r.get("deniedBySeller") for r in requests)

    await harness.wait_for(denied, what="cancellation denied")
    await harness.wait_for(lambda: harness.in_state(order_id, "handling"), what="pipeline back to handling")
    assert (await harness.stats())["cancels"] == {}
    assert harness.warehouse.summary().cancellations_denied == 1


async def test_an_order_canceled_before_the_erp_saw_it_is_recorded_without_a_handover(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(sandbox=sandbox_config(grace_period_s=1800), warehouse=IDLE_WAREHOUSE)
    (order_id,) = await harness.create_orders(1)

    await customer_cancel(harness, order_id)
    await harness.wait_for(lambda: harness.in_state(order_id, "canceled"), what="cancellation recorded")

    assert harness.warehouse.handover_counts() == {}
    assert harness.warehouse.summary().cancellation_notices == 0
    assert (await harness.stats())["start_handling"] == {}


async def test_an_order_leaving_the_grace_period_is_handed_over(make_harness: HarnessFactory) -> None:
    harness = await make_harness(sandbox=sandbox_config(grace_period_s=1800), warehouse=IDLE_WAREHOUSE)
    (order_id,) = await harness.create_orders(1)

    await harness.advance(1801)

    await harness.wait_for(
        lambda: harness.in_state(order_id, "handling"), what="order handed over and started"
    )
    assert harness.warehouse.handover_counts() == {(ACCOUNT, order_id): 1}
