"""Moments 2–4: ERP commands are validated before they are accepted, then relayed under the order's lock;
an invoice is never posted twice; VTEX's refusals are visible and parked for an operator."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import Any

from orderbridge.core.commands import (
    CancelCommand,
    ChangeCommand,
    ChangeLine,
    InvoiceCommand,
    InvoiceLine,
    TrackingEvent,
    TrackingEventsCommand,
    TrackingNumberCommand,
)
from orderbridge.core.orders import OrderSnapshot
from orderbridge.pipeline import operators
from orderbridge.pipeline.deps import AccountPolicy

from .conftest import ACCOUNT, IDLE_WAREHOUSE, Harness, HarnessFactory, sandbox_config

ISSUED = "2026-11-27T10:00:00Z"


async def handling_order(harness: Harness) -> OrderSnapshot:
    (order_id,) = await harness.create_orders(1)
    await harness.wait_for(lambda: harness.in_state(order_id, "handling"), what="order in handling")
    snapshot = await harness.pipeline.sink.current_order(ACCOUNT, order_id)
    assert snapshot is not None
    return snapshot


def full_invoice(snapshot: OrderSnapshot, number: str = "NF100") -> InvoiceCommand:
    lines = tuple(InvoiceLine(i.sku_id, i.quantity, i.unit_price_cents) for i in snapshot.items)
    return InvoiceCommand(number, snapshot.remaining_to_invoice_cents, ISSUED, lines)


async def calls(harness: Harness, endpoint: str) -> dict[str, int]:
    found: dict[str, int] = (await harness.stats())["calls"].get(endpoint, {})
    return found


async def wait_command(harness: Harness, command_id: str | None, status: str) -> Any:
    assert command_id is not None

    async def reached() -> bool:
        row = await harness.command(command_id)
        return row is not None and row.status == status

    await harness.wait_for(reached, what=f"command {status}")
    return await harness.command(command_id)


async def test_an_over_invoice_is_refused_with_its_reason_and_nothing_reaches_vtex(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(warehouse=IDLE_WAREHOUSE)
    snapshot = await handling_order(harness)
    too_much = full_invoice(snapshot)
    too_much = InvoiceCommand("NF1", snapshot.value_cents + 1, ISSUED, too_much.lines)

    outcome = await harness.pipeline.sink.submit(ACCOUNT, snapshot.order_id, too_much, channel="test")

    assert not outcome.accepted and outcome.command_id is None
    assert any(problem.startswith("invoiceValue: ") for problem in outcome.problems)
    assert await calls(harness, "invoice") == {}


async def test_an_unroutable_invoice_number_is_refused_before_anything_is_sent(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(warehouse=IDLE_WAREHOUSE)
    snapshot = await handling_order(harness)

    outcome = await harness.pipeline.sink.submit(
        ACCOUNT, snapshot.order_id, full_invoice(snapshot, "NF/1"), channel="test"
    )

    assert not outcome.accepted
    assert any(problem.startswith("invoiceNumber: ") for problem in outcome.problems)
    assert await calls(harness, "invoice") == {}


async def test_a_full_invoice_is_posted_once_then_confirmed_and_a_later_cancel_is_refused(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(warehouse=IDLE_WAREHOUSE)
    snapshot = await handling_order(harness)

    outcome = await harness.pipeline.sink.submit(
        ACCOUNT, snapshot.order_id, full_invoice(snapshot), channel="test"
    )
    assert outcome.accepted
    await wait_command(harness, outcome.command_id, "confirmed")
    await harness.wait_for(lambda: harness.in_state(snapshot.order_id, "completed"), what="order completed")

    cancel = await harness.pipeline.sink.submit(
        ACCOUNT, snapshot.order_id, CancelCommand("late"), channel="test"
    )
    assert not cancel.accepted
    assert (await harness.stats())["invoices"][snapshot.order_id]["posts"] == 1
    assert await calls(harness, "cancel") == {}


async def test_the_same_command_submitted_twice_with_one_idempotency_key_is_one_command(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(warehouse=IDLE_WAREHOUSE)
    snapshot = await handling_order(harness)
    invoice = full_invoice(snapshot)

    first = await harness.pipeline.sink.submit(
        ACCOUNT, snapshot.order_id, invoice, channel="t", idempotency_key="k1"
    )
    second = await harness.pipeline.sink.submit(
        ACCOUNT, snapshot.order_id, invoice, channel="t", idempotency_key="k1"
    )

    assert first.accepted and second.accepted and first.command_id == second.command_id
    await wait_command(harness, first.command_id, "confirmed")
    assert (await harness.stats())["invoices"][snapshot.order_id]["posts"] == 1


class LoseInvoiceAnswers:
    """Lets the sandbox process invoice POSTs, then replaces VTEX's answer with a 500 — the case where
    the client cannot know whether the invoice landed."""

    def __init__(self, app: Any, times: int = 1) -> None:
        self.app = app
        self.left = times

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        lose = scope["type"] == "http" and scope["method"] == "POST" and scope["path"].endswith("/invoice")
        if not lose or self.left <= 0:
            await self.app(scope, receive, send)
            return
        self.left -= 1

        async def swallow(message: Any) -> None:
            return None

        await self.app(scope, receive, swallow)
        body = json.dumps({"error": {"code": "1", "message": "An error has occurred", "exception": None}})
        await send(
            {
                "type": "http.response.start",
                "status": 500,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body.encode()})


async def test_an_invoice_whose_answer_was_lost_is_found_on_the_order_and_never_posted_twice(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(warehouse=IDLE_WAREHOUSE, wrap_vtex=LoseInvoiceAnswers)
    snapshot = await handling_order(harness)

    outcome = await harness.pipeline.sink.submit(
        ACCOUNT, snapshot.order_id, full_invoice(snapshot), channel="test"
    )
    await wait_command(harness, outcome.command_id, "confirmed")

    async def outcomes() -> list[tuple[str, str]]:
        shown = await operators.show_order(harness.db, ACCOUNT, snapshot.order_id)
        assert shown is not None
        return [(a["action"], a["outcome"]) for a in shown["attempts"]]

    # The read that found the invoice confirms it as it stores the order; the check's attempt is
    # recorded right after, in a write of its own.
    await harness.wait_for(lambda: _has(outcomes(), ("check_invoice", "landed")), what="the check recorded")
    assert (await harness.stats())["invoices"][snapshot.order_id]["posts"] == 1
    assert ("send_invoice", "unknown") in await outcomes()


async def _has(found: Awaitable[list[tuple[str, str]]], item: tuple[str, str]) -> bool:
    return item in await found


async def test_a_command_vtex_refuses_is_marked_rejected_with_vtexs_message_and_parked(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(
        sandbox=sandbox_config(changes_v1_enabled=False),
        warehouse=IDLE_WAREHOUSE,
        policy=AccountPolicy(ACCOUNT, pollers=1, change_api="v1"),
    )
    snapshot = await handling_order(harness)
    item = snapshot.items[0]
    change = ChangeCommand(
        "req-1", "out of stock", remove=(ChangeLine(item.sku_id, 1, item.unit_price_cents),)
    )

    outcome = await harness.pipeline.sink.submit(ACCOUNT, snapshot.order_id, change, channel="test")
    row = await wait_command(harness, outcome.command_id, "rejected")

    assert row.error

    async def job_parked() -> bool:
        # The job's outcome is the queue's to record, in a transaction after the handler's own writes.
        status = await operators.status(harness.db)
        return bool(status["accounts"][ACCOUNT]["jobs_parked"] == 1)

    await harness.wait_for(job_parked, what="the relay job parked")


async def test_change_v1_is_used_when_the_account_says_so(make_harness: HarnessFactory) -> None:
    harness = await make_harness(
        warehouse=IDLE_WAREHOUSE, policy=AccountPolicy(ACCOUNT, pollers=1, change_api="v1")
    )
    snapshot = await handling_order(harness)
    item = snapshot.items[0]
    change = ChangeCommand(
        "req-1", "out of stock", remove=(ChangeLine(item.sku_id, 1, item.unit_price_cents),)
    )

    outcome = await harness.pipeline.sink.submit(ACCOUNT, snapshot.order_id, change, channel="test")
    await wait_command(harness, outcome.command_id, "confirmed")

    assert await calls(harness, "changes_v1") == {"200": 1}
    assert await calls(harness, "changes_v2") == {}


async def test_a_change_v2_blocks_invoices_until_vtex_says_it_is_done(make_harness: HarnessFactory) -> None:
    harness = await make_harness(warehouse=IDLE_WAREHOUSE)
    snapshot = await handling_order(harness)
    item = snapshot.items[0]
    change = ChangeCommand(
        "req-1", "out of stock", remove=(ChangeLine(item.sku_id, 1, item.unit_price_cents),)
    )

    changed = await harness.pipeline.sink.submit(ACCOUNT, snapshot.order_id, change, channel="test")
    early = await harness.pipeline.sink.submit(
        ACCOUNT, snapshot.order_id, full_invoice(snapshot), channel="test"
    )
    assert changed.accepted and not early.accepted
    await wait_command(harness, changed.command_id, "confirmed")

    fresh = await harness.pipeline.sink.current_order(ACCOUNT, snapshot.order_id)
    assert fresh is not None and fresh.value_cents < snapshot.value_cents
    later = await harness.pipeline.sink.submit(
        ACCOUNT, snapshot.order_id, full_invoice(fresh), channel="test"
    )
    assert later.accepted
    await wait_command(harness, later.command_id, "confirmed")


async def test_tracking_number_and_events_reach_the_invoice_until_delivered(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(warehouse=IDLE_WAREHOUSE)
    snapshot = await handling_order(harness)
    sink, order_id = harness.pipeline.sink, snapshot.order_id
    assert (await sink.submit(ACCOUNT, order_id, full_invoice(snapshot), channel="t")).accepted

    tracking = await sink.submit(
        ACCOUNT, order_id, TrackingNumberCommand("NF100", "TRK1", "Courier"), channel="t"
    )
    event = TrackingEvent("Rio", "RJ", "delivered", "2026-11-27")
    delivered = await sink.submit(
        ACCOUNT, order_id, TrackingEventsCommand("NF100", True, (event,), "2026-11-27"), channel="t"
    )
    assert tracking.accepted and delivered.accepted
    await wait_command(harness, delivered.command_id, "confirmed")

    package = (await harness.vtex_order(order_id))["packageAttachment"]["packages"][0]
    assert package["trackingNumber"] == "TRK1"
    assert package["courierStatus"]["finished"] is True
