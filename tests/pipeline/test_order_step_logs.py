"""Logs people can read: one info line per step of an order, with its account, order id, step and outcome."""

from __future__ import annotations

from structlog.testing import capture_logs

from .conftest import ACCOUNT, IDLE_WAREHOUSE, HarnessFactory


async def test_each_step_of_an_order_is_one_info_line_with_account_order_step_and_outcome(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(warehouse=IDLE_WAREHOUSE)
    with capture_logs() as logs:
        (order_id,) = await harness.create_orders(1)
        await harness.wait_for(lambda: harness.in_state(order_id, "handling"), what="handling")

    steps = [
        (entry["step"], entry["outcome"])
        for entry in logs
        if entry["event"] == "order_step" and entry.get("order_id") == order_id
    ]
    assert steps == [("hand_over", "accepted"), ("start_handling", "ok")]
    lines = [entry for entry in logs if entry["event"] == "order_step"]
    assert all(entry["log_level"] == "info" and entry["account"] == ACCOUNT for entry in lines)
