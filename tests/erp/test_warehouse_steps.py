"""The warehouse's plan engine: changes, invoices, tracking, delivery, retries, restarts, cancellations."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from warehouse_fakes import Clock, FakeSink, apply, make_snapshot

from orderbridge.core.commands import (
    CancelCommand,
    ChangeCommand,
    InvoiceCommand,
    TrackingEventsCommand,
    TrackingNumberCommand,
)
from orderbridge.erp.port import AcceptanceLater, Accepted, HandoverOrder
from orderbridge.erp.warehouse import SimulatedWarehouse, WarehouseSettings

# Everything off by default; each test turns on what it is about.
QUIET = WarehouseSettings(
    self_cancel_ratio=0.0,
    out_of_stock_ratio=0.0,
    partial_invoice_ratio=0.0,
    first_step_delay_s=5.0,
    step_delay_s=1.0,
    retry_delay_s=3.0,
    max_retry_delay_s=10.0,
    tracking_events=2,
)

Factory = Callable[..., SimulatedWarehouse]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sink() -> FakeSink:
    return FakeSink()


@pytest.fixture
async def make_warehouse(tmp_path: Path, clock: Clock, sink: FakeSink) -> AsyncIterator[Factory]:
    started: list[SimulatedWarehouse] = []

    def factory(**changes: object) -> SimulatedWarehouse:
        warehouse = SimulatedWarehouse(
            tmp_path / "wh.db", QUIET.model_copy(update=changes), clock=clock, autorun=False
        )
        started.append(warehouse)
        return warehouse

    yield factory
    for warehouse in started:
        await warehouse.stop()


async def accept(warehouse: SimulatedWarehouse, sink: FakeSink, *order_ids: str) -> None:
    await warehouse.start(sink)
    for order_id in order_ids:
        sink.add(make_snapshot(order_id))
        await warehouse.hand_over(HandoverOrder("shop", order_id, make_snapshot(order_id), {}))


async def run_turns(warehouse: SimulatedWarehouse, clock: Clock, turns: int, seconds: float = 5.0) -> None:
    """Let `seconds` pass, then run what is due, `turns` times."""
    for _ in range(turns):
        clock.advance(seconds)
        await warehouse.run_due_steps()


async def run_to_the_end(warehouse: SimulatedWarehouse, clock: Clock, turns: int = 100) -> None:
    await run_turns(warehouse, clock, turns)
    assert warehouse.summary().states.get("active", 0) == 0


async def test_nothing_happens_before_the_first_step_delay(
    make_warehouse: Factory, sink: FakeSink, clock: Clock
) -> None:
    warehouse = make_warehouse()
    await accept(warehouse, sink, "A-01")
    clock.advance(4.9)
    assert await warehouse.run_due_steps() == 0
    clock.advance(0.1)
    assert await warehouse.run_due_steps() == 1
    assert isinstance(sink.submitted[0].command, InvoiceCommand)
    assert sink.submitted[0].channel == "warehouse"


async def test_an_order_is_invoiced_tracked_and_delivered_with_is_delivered_last(
    make_warehouse: Factory, sink: FakeSink, clock: Clock
) -> None:
    warehouse = make_warehouse()
    await accept(warehouse, sink, "A-01")
    await run_to_the_end(warehouse, clock)

    commands = sink.commands("A-01")
    assert [type(c) for c in commands] == [
        InvoiceCommand,
        TrackingNumberCommand,
        TrackingEventsCommand,
        TrackingEventsCommand,
        TrackingEventsCommand,
    ]
    invoice = commands[0]
    assert isinstance(invoice, InvoiceCommand)
    assert invoice.value_cents == 2800
    assert sum(ln.quantity * ln.unit_price_cents for ln in invoice.lines) == 2500  # the rest is shipping
    events = [c for c in commands if isinstance(c, TrackingEventsCommand)]
    assert [e.is_delivered for e in events] == [False, False, True]
    assert [len(e.events) for e in events] == [1, 2, 3]
    assert events[-1].delivered_date is not None and events[-1].events[-1].description == "Delivered"
    assert warehouse.summary().states == {"delivered": 1}


async def test_partial_invoices_sum_to_the_order_value(
    make_warehouse: Factory, sink: FakeSink, clock: Clock
) -> None:
    warehouse = make_warehouse(partial_invoice_ratio=1.0)
    await accept(warehouse, sink, "A-01")
    await run_to_the_end(warehouse, clock)

    invoices = [c for c in sink.commands("A-01") if isinstance(c, InvoiceCommand)]
    assert len(invoices) == 2
    assert sum(i.value_cents for i in invoices) == 2800
    assert invoices[0].value_cents < 2800
    for invoice in invoices:
        assert sum(ln.quantity * ln.unit_price_cents for ln in invoice.lines) <= invoice.value_cents
    assert sum(ln.quantity for i in invoices for ln in i.lines) == 3
    delivered = [c for c in sink.commands("A-01") if isinstance(c, TrackingEventsCommand) and c.is_delivered]
    assert sorted(c.invoice_number for c in delivered) == sorted(i.invoice_number for i in invoices)
    assert all(p.delivered and p.tracking_number for p in sink.orders[("shop", "A-01")].packages)


async def test_an_out_of_stock_unit_is_removed_before_invoicing_the_remaining_value(
    make_warehouse: Factory, sink: FakeSink, clock: Clock
) -> None:
    warehouse = make_warehouse(out_of_stock_ratio=1.0)
    await accept(warehouse, sink, "A-01")
    await run_to_the_end(warehouse, clock)

    change, invoice = sink.commands("A-01")[:2]
    assert isinstance(change, ChangeCommand) and isinstance(invoice, InvoiceCommand)
    assert [(ln.sku_id, ln.quantity) for ln in change.remove] == [("sku-a", 1)]  # the item with two units
    assert invoice.value_cents == 1800
    assert [(ln.sku_id, ln.quantity) for ln in invoice.lines] == [("sku-a", 1), ("sku-b", 1)]


async def test_invoicing_waits_until_the_change_shows_on_the_order(
    make_warehouse: Factory, sink: FakeSink, clock: Clock
) -> None:
    warehouse = make_warehouse(out_of_stock_ratio=1.0)
    await accept(warehouse, sink, "A-01")
    sink.hold = {"change"}
    await run_turns(warehouse, clock, 4)
    assert [type(c) for c in sink.commands("A-01")] == [ChangeCommand]

    change = sink.commands("A-01")[0]
    assert isinstance(change, ChangeCommand)
    sink.orders[("shop", "A-01")] = apply(sink.orders[("shop", "A-01")], change)  # VTEX finished it
    await run_to_the_end(warehouse, clock)
    invoice = sink.commands("A-01")[1]
    assert isinstance(invoice, InvoiceCommand) and invoice.value_cents == 1800


async def test_shipping_waits_until_the_invoice_shows_on_the_order(
    make_warehouse: Factory, sink: FakeSink, clock: Clock
) -> None:
    warehouse = make_warehouse()
    await accept(warehouse, sink, "A-01")
    sink.hold = {"invoice"}  # accepted, but VTEX refused it (or has not shown it yet)
    await run_turns(warehouse, clock, 5)
    assert [type(c) for c in sink.commands("A-01")] == [InvoiceCommand]
    assert warehouse.summary().states == {"active": 1}

    invoice = sink.commands("A-01")[0]
    assert isinstance(invoice, InvoiceCommand)
    sink.orders[("shop", "A-01")] = apply(sink.orders[("shop", "A-01")], invoice)
    await run_to_the_end(warehouse, clock)
    assert warehouse.summary().states == {"delivered": 1}


async def test_an_invoice_that_never_shows_is_resubmitted_under_a_fresh_key(
    make_warehouse: Factory, sink: FakeSink, clock: Clock
) -> None:
    warehouse = make_warehouse(resubmit_after=3)
    await accept(warehouse, sink, "A-01")
    sink.hold = {"invoice"}  # the pipeline accepted it; VTEX then refused it
    await run_turns(warehouse, clock, 4, seconds=15.0)  # invoice, then the tracking step waits three times
    sink.hold = set()
    await run_to_the_end(warehouse, clock)

    invoices = [s for s in sink.submitted if isinstance(s.command, InvoiceCommand)]
    assert len(invoices) == 2
    first, again = (s.command for s in invoices)
    assert isinstance(first, InvoiceCommand) and isinstance(again, InvoiceCommand)
    # same number, same value: the pipeline sees the same invoice, VTEX gets it at most once
    assert (first.invoice_number, first.value_cents) == (again.invoice_number, again.value_cents)
    assert invoices[0].idempotency_key != invoices[1].idempotency_key
    assert warehouse.summary().states == {"delivered": 1}


async def test_a_change_that_never_shows_is_never_resubmitted_and_the_order_is_given_up(
    make_warehouse: Factory, sink: FakeSink, clock: Clock
) -> None:
    warehouse = make_warehouse(out_of_stock_ratio=1.0, resubmit_after=2, max_resubmits=1, max_step_attempts=4)
    await accept(warehouse, sink, "A-01")
    sink.hold = {"change"}  # accepted by the pipeline, never shown by VTEX
    await run_to_the_end(warehouse, clock, turns=30)

    assert [type(c) for c in sink.commands("A-01")] == [ChangeCommand]
    summary = warehouse.summary()
    assert summary.states == {"gave_up": 1}
    assert summary.gave_up[0].step_kind == "invoice" and "change of sku-a" in summary.gave_up[0].problem


async def test_a_change_vtex_applied_twice_is_recognized_by_content_and_never_sent_again(
    make_warehouse: Factory, sink: FakeSink, clock: Clock
) -> None:
    warehouse = make_warehouse(out_of_stock_ratio=1.0, resubmit_after=2)
    await accept(warehouse, sink, "A-01")
    sink.hold = {"change"}
    await run_turns(warehouse, clock, 1)
    [change] = sink.commands("A-01")
    assert isinstance(change, ChangeCommand)
    twice = apply(apply(sink.orders[("shop", "A-01")], change), change)  # the old doubled change
    sink.orders[("shop", "A-01")] = twice
    sink.hold = set()
    await run_to_the_end(warehouse, clock)

    assert [type(c) for c in sink.commands("A-01")][:2] == [ChangeCommand, InvoiceCommand]
    assert sum(isinstance(c, ChangeCommand) for c in sink.commands("A-01")) == 1
    assert warehouse.summary().states == {"delivered": 1}


async def test_a_change_keeps_its_request_id_and_key_and_names_the_request_in_its_reason(
    make_warehouse: Factory, sink: FakeSink, clock: Clock
) -> None:
    warehouse = make_warehouse(out_of_stock_ratio=1.0)
    await accept(warehouse, sink, "A-01")
    sink.refuse_next = 2  # refused twice, then accepted: three submits of the same change
    await run_to_the_end(warehouse, clock)

    changes = [s for s in sink.submitted if isinstance(s.command, ChangeCommand)]
    [accepted] = changes
    assert isinstance(accepted.command, ChangeCommand)
    assert accepted.command.request_id == "WH1-C"
    assert accepted.command.reason == "Out of stock at the warehouse (request WH1-C)"
    assert accepted.idempotency_key == "warehouse:shop:A-01:0"


@pytest.mark.parametrize(
    "waiting_status",
    [
        pytest.param("cancellation-requested", id="while_a_cancellation_request_is_being_decided"),
        pytest.param("ready-for-handling", id="while_the_order_is_not_yet_handling"),
    ],
)
async def test_nothing_moves_until_the_order_is_handling_again(
    make_warehouse: Factory, sink: FakeSink, clock: Clock, waiting_status: str
) -> None:
    warehouse = make_warehouse()
    await accept(warehouse, sink, "A-01")
    sink.add(make_snapshot("A-01", status=waiting_status))
    await run_turns(warehouse, clock, 3)
    assert sink.submitted == []
    sink.add(make_snapshot("A-01", status="handling"))  # denied / started handling
    await run_to_the_end(warehouse, clock)
    assert warehouse.summary().states == {"delivered": 1}


async def test_a_later_acceptance_is_reported_through_the_sink_then_handovers_answer_accepted(
    make_warehouse: Factory, sink: FakeSink, clock: Clock
) -> None:
    warehouse = make_warehouse(accept_later_ratio=1.0)
    await warehouse.start(sink)
    sink.add(make_snapshot("A-01"))
    order = HandoverOrder("shop", "A-01", make_snapshot("A-01"), {})
    assert isinstance(await warehouse.hand_over(order), AcceptanceLater)
    assert isinstance(await warehouse.hand_over(order), AcceptanceLater)  # a retry before the report
    clock.advance(5.0)
    await warehouse.run_due_steps()
    assert sink.acceptances == [("shop", "A-01", True)]
    assert await warehouse.hand_over(order) == Accepted(erp_reference="WH-ORDER-1")
    await run_to_the_end(warehouse, clock)
    assert warehouse.summary().states == {"delivered": 1}


async def test_without_fulfilment_orders_are_only_accepted(
    make_warehouse: Factory, sink: FakeSink, clock: Clock
) -> None:
    warehouse = make_warehouse(fulfil=False, out_of_stock_ratio=1.0, self_cancel_ratio=1.0)
    await accept(warehouse, sink, "A-01", "B-01")
    await run_to_the_end(warehouse, clock, turns=3)
    assert sink.submitted == []
    assert warehouse.summary().states == {"done": 2}


async def test_the_warehouse_cancels_some_orders_itself(
    make_warehouse: Factory, sink: FakeSink, clock: Clock
) -> None:
    warehouse = make_warehouse(self_cancel_ratio=1.0)
    await accept(warehouse, sink, "A-01")
    await run_to_the_end(warehouse, clock)

    assert [type(c) for c in sink.commands("A-01")] == [CancelCommand]
    assert warehouse.summary().states == {"self_canceled": 1}


async def test_a_refused_step_is_retried_with_a_doubling_delay_up_to_the_maximum(
    make_warehouse: Factory, sink: FakeSink, clock: Clock
) -> None:
    warehouse = make_warehouse()  # retry_delay_s=3, max_retry_delay_s=10
    await accept(warehouse, sink, "A-01")
    sink.refuse_next = 3
    clock.advance(5.0)
    assert await warehouse.run_due_steps() == 1  # refused (1st)
    for wait in (3.0, 6.0, 10.0):  # 3, then 6, then 12 capped at 10
        clock.advance(wait - 0.1)
        assert await warehouse.run_due_steps() == 0
        clock.advance(0.1)
        assert await warehouse.run_due_steps() == 1
    assert [type(s.command) for s in sink.submitted] == [InvoiceCommand]
    assert warehouse.summary().commands_refused == 3


async def test_a_failing_sink_is_retried_like_a_refusal(
    make_warehouse: Factory, sink: FakeSink, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = make_warehouse()
    await accept(warehouse, sink, "A-01")

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(sink, "current_order", broken)
    clock.advance(5.0)
    assert await warehouse.run_due_steps() == 1
    monkeypatch.undo()
    assert warehouse.summary().commands_refused == 0  # logged as an error, not a refusal
    await run_to_the_end(warehouse, clock)
    assert warehouse.summary().states == {"delivered": 1}
    assert isinstance(sink.commands("A-01")[0], InvoiceCommand)


async def test_a_step_refused_too_often_is_given_up_and_shown_in_the_summary(
    make_warehouse: Factory, sink: FakeSink, clock: Clock
) -> None:
    warehouse = make_warehouse(max_step_attempts=3)
    await accept(warehouse, sink, "A-01")
    sink.refuse_next = 10
    await run_to_the_end(warehouse, clock, turns=10)

    summary = warehouse.summary()
    assert summary.states == {"gave_up": 1}
    assert [(g.order_id, g.step_kind, g.problem) for g in summary.gave_up] == [
        ("A-01", "invoice", "refused by the test")
    ]
    assert summary.commands_refused == 3
    assert sink.refuse_next == 7


async def test_a_restarted_warehouse_carries_on_with_the_stored_plan(
    make_warehouse: Factory, sink: FakeSink, clock: Clock
) -> None:
    first = make_warehouse(partial_invoice_ratio=1.0)
    await accept(first, sink, "A-01")
    await run_turns(first, clock, 3)  # invoice 1, tracking number 1, invoice 2
    await first.stop()
    assert len(sink.submitted) == 3

    second = make_warehouse(partial_invoice_ratio=0.0)  # settings changed: the stored plan still rules
    await second.start(sink)
    await run_to_the_end(second, clock)

    commands = sink.commands("A-01")
    assert [type(c).__name__ for c in commands].count("InvoiceCommand") == 2
    assert len({s.idempotency_key for s in sink.submitted}) == len(sink.submitted) == 2 + 2 + 3 * 2
    assert second.summary().states == {"delivered": 1}


async def test_a_step_whose_effect_vtex_already_shows_is_not_submitted_again(
    make_warehouse: Factory, sink: FakeSink, clock: Clock
) -> None:
    warehouse = make_warehouse()
    await accept(warehouse, sink, "A-01")
    clock.advance(5.0)
    await warehouse.run_due_steps()
    invoice = sink.submitted[0].command
    assert isinstance(invoice, InvoiceCommand)

    # A crash lost the warehouse's record of that step: rewind the pointer and run it again.
    with sqlite3.connect(warehouse.path) as conn:
        conn.execute("UPDATE orders SET next_step = 0")
    clock.advance(5.0)
    await warehouse.run_due_steps()
    assert [type(s.command) for s in sink.submitted] == [InvoiceCommand]


async def test_a_cancellation_request_is_accepted_and_stops_the_plan(
    make_warehouse: Factory, sink: FakeSink, clock: Clock
) -> None:
    warehouse = make_warehouse()
    await accept(warehouse, sink, "A-01")
    decision = await warehouse.request_cancellation("shop", "A-01", "req-1", "changed my mind")
    again = await warehouse.request_cancellation("shop", "A-01", "req-1", "changed my mind")
    await run_to_the_end(warehouse, clock)

    assert decision is not None and decision.accept and decision == again
    assert sink.submitted == []
    summary = warehouse.summary()
    assert summary.states == {"canceled": 1}
    assert (summary.cancellation_requests, summary.cancellations_denied) == (2, 0)


async def test_a_cancellation_request_is_denied_after_an_invoice_or_when_the_draw_says_so(
    make_warehouse: Factory, sink: FakeSink, clock: Clock
) -> None:
    warehouse = make_warehouse()
    await accept(warehouse, sink, "A-01", "B-01")
    clock.advance(5.0)
    await warehouse.run_due_steps()  # both invoiced
    late = await warehouse.request_cancellation("shop", "A-01", "req-1", None)
    assert late is not None and not late.accept and "invoiced" in late.reason
    await warehouse.stop()

    denying = make_warehouse(deny_cancellation_ratio=1.0)
    await accept(denying, sink, "C-01")
    denied = await denying.request_cancellation("shop", "C-01", None, None)
    assert denied is not None and not denied.accept and denied.reason
    assert denying.summary().cancellations_denied == 2


async def test_a_cancellation_notice_is_recorded_and_ends_the_plan(
    make_warehouse: Factory, sink: FakeSink, clock: Clock
) -> None:
    warehouse = make_warehouse()
    await accept(warehouse, sink, "A-01", "B-01")
    await warehouse.notify_canceled("shop", "A-01", "shopper canceled")
    sink.add(make_snapshot("B-01", status="canceled"))  # VTEX canceled B; the notice has not come yet
    await run_to_the_end(warehouse, clock)

    assert sink.submitted == []
    summary = warehouse.summary()
    assert summary.states == {"canceled": 2}
    assert summary.cancellation_notices == 1


async def test_the_background_loop_drives_many_orders_to_delivery(tmp_path: Path) -> None:
    ids = [f"{n:04d}-01" for n in range(100)]
    sink = FakeSink(expect_delivered=len(ids))
    fast = {"first_step_delay_s": 0.0, "step_delay_s": 0.0, "retry_delay_s": 0.01}
    warehouse = SimulatedWarehouse(tmp_path / "wh.db", QUIET.model_copy(update=fast))
    await accept(warehouse, sink, *ids)
    try:
        async with asyncio.timeout(20):
            await sink.all_delivered.wait()
    finally:
        await warehouse.stop()

    assert warehouse.summary().states == {"delivered": len(ids)}
    assert all(sink.orders[("shop", i)].status == "invoiced" for i in ids)
