"""Operators' tools: parked orders with the ERP's reason, status per account, retry, list and show."""

from __future__ import annotations

from typing import Any

from orderbridge.erp.errors import ErpUnavailable
from orderbridge.erp.port import HandoverOrder, HandoverResult
from orderbridge.erp.warehouse import WarehouseSettings
from orderbridge.pipeline import operators
from orderbridge.pipeline.intake import enqueue_sync

from .conftest import ACCOUNT, IDLE_WAREHOUSE, QUIET_WAREHOUSE, Harness, HarnessFactory

REJECTING = WarehouseSettings(**{**IDLE_WAREHOUSE.model_dump(), "reject_ratio": 1.0})


async def test_an_order_the_erp_rejects_is_parked_with_the_erps_reason_and_never_started(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(warehouse=REJECTING)
    (order_id,) = await harness.create_orders(1)

    await harness.wait_for(lambda: harness.in_state(order_id, "parked"), what="order parked")

    row = await harness.order_row(order_id)
    assert row.park_reason.startswith("ERP rejected the order: ")
    assert len(row.park_reason) > len("ERP rejected the order: ")
    assert (await harness.stats())["start_handling"] == {}
    status = await operators.status(harness.db)
    assert status["accounts"][ACCOUNT]["orders"] == {"parked": 1}


async def test_retrying_a_parked_order_hands_it_over_again(make_harness: HarnessFactory) -> None:
    harness = await make_harness(warehouse=REJECTING)
    (order_id,) = await harness.create_orders(1)
    await harness.wait_for(lambda: harness.in_state(order_id, "parked"), what="order parked")

    result = await operators.retry_order(harness.db, harness.pipeline.queue, ACCOUNT, order_id)

    assert result["park_cleared"] is True
    await harness.wait_for(
        lambda: _handovers(harness, order_id, 2), what="a second handover after the operator's retry"
    )
    await harness.wait_for(lambda: harness.in_state(order_id, "parked"), what="parked again by the ERP")


async def _handovers(harness: Harness, order_id: str, expected: int) -> bool:
    counts = harness.warehouse.handover_counts()
    return bool(counts.get((ACCOUNT, order_id)) == expected)


async def test_list_and_show_describe_orders_with_their_attempts_and_jobs(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(warehouse=IDLE_WAREHOUSE)
    (order_id,) = await harness.create_orders(1)
    await harness.wait_for(lambda: harness.in_state(order_id, "handling"), what="order in handling")

    listed = await operators.list_orders(harness.db, account=ACCOUNT)
    shown = await operators.show_order(harness.db, ACCOUNT, order_id)

    assert [(o["order_id"], o["pipeline_state"]) for o in listed] == [(order_id, "handling")]
    assert shown is not None
    assert [a["action"] for a in shown["attempts"]] == ["hand_over", "start_handling"], shown
    assert {j["kind"] for j in shown["jobs"]} == {"sync_order"}
    assert await operators.find_accounts(harness.db, order_id) == [ACCOUNT]
    assert await operators.show_order(harness.db, ACCOUNT, "nope-01") is None


async def test_an_erp_that_accepts_later_gets_the_order_started_once_it_reports_acceptance(
    make_harness: HarnessFactory,
) -> None:
    later = WarehouseSettings(**{**QUIET_WAREHOUSE.model_dump(), "accept_later_ratio": 1.0, "fulfil": False})
    harness = await make_harness(warehouse=later)
    (order_id,) = await harness.create_orders(1)

    await harness.wait_for(lambda: harness.in_state(order_id, "handling"), what="started when accepted")

    shown = await operators.show_order(harness.db, ACCOUNT, order_id)
    assert shown is not None
    outcomes = [(a["action"], a["outcome"]) for a in shown["attempts"]]
    assert outcomes[:2] == [("hand_over", "later"), ("report_acceptance", "accepted")]
    assert harness.warehouse.handover_counts() == {(ACCOUNT, order_id): 1}
    assert (await harness.stats())["start_handling"] == {order_id: 1}


class LostAnswerOnce:
    """The ERP decides, then its answer is lost once (a crash or a cut connection before the record)."""

    def __init__(self, warehouse: Any) -> None:
        self.hand_over = warehouse.hand_over
        self.lost = False

    async def __call__(self, order: HandoverOrder) -> HandoverResult:
        result = await self.hand_over(order)
        if not self.lost:
            self.lost = True
            raise ErpUnavailable("the answer was lost after the ERP decided")
        return result


async def test_a_refusal_found_by_lookup_after_a_lost_answer_is_recorded_not_handed_over_again(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(warehouse=REJECTING, start=False)
    harness.warehouse.hand_over = LostAnswerOnce(harness.warehouse)  # type: ignore[method-assign]
    await harness.start()
    (order_id,) = await harness.create_orders(1)

    await harness.wait_for(lambda: harness.in_state(order_id, "parked"), what="order parked")

    assert harness.warehouse.handover_counts() == {(ACCOUNT, order_id): 1}
    assert (await harness.order_row(order_id)).park_reason.startswith("ERP rejected the order: ")


async def test_each_operator_retry_offers_a_refused_order_once_more_and_no_more(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(warehouse=REJECTING)
    (order_id,) = await harness.create_orders(1)
    await harness.wait_for(lambda: harness.in_state(order_id, "parked"), what="order parked")

    for offers in (2, 3):
        await operators.retry_order(harness.db, harness.pipeline.queue, ACCOUNT, order_id)
        await harness.wait_for(lambda n=offers: _handovers(harness, order_id, n), what=f"offer {offers}")
        await harness.wait_for(lambda: harness.in_state(order_id, "parked"), what="parked again")
        # Syncs without a retry (an event, a sweep) find the refusal and leave it standing.
        await _sync(harness, order_id)
        assert harness.warehouse.handover_counts() == {(ACCOUNT, order_id): offers}


async def _sync(harness: Harness, order_id: str) -> None:
    with harness.db.begin() as session:
        enqueue_sync(harness.pipeline.queue, session, ACCOUNT, order_id)
    await harness.wait_for(lambda: _no_pending_jobs(harness), what="the sync ran")


async def _no_pending_jobs(harness: Harness) -> bool:
    status = await operators.status(harness.db)
    return bool(status["accounts"][ACCOUNT]["jobs_pending"] == 0)
