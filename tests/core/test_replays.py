"""Natural keys: an ERP's repeat of a command is recognised without an idempotency key (`core.replays`)."""

from __future__ import annotations

from dataclasses import replace

from validation_fixtures import ORDER, full_invoice

from orderbridge.core.commands import (
    CancelCommand,
    ChangeCommand,
    ChangeLine,
    DenyCancellationCommand,
    TrackingEvent,
    TrackingEventsCommand,
    TrackingNumberCommand,
)
from orderbridge.core.replays import Earlier, find_replay

ASKED = replace(ORDER, status="cancellation-requested", open_cancellation_request_id="R2")


def test_an_invoice_is_keyed_by_its_number_and_every_differing_field_is_named() -> None:
    earlier = [Earlier("c1", full_invoice("NF1"), in_flight=True)]

    same = find_replay(full_invoice("NF1"), earlier, ORDER)
    other = find_replay(replace(full_invoice("NF1", 9000), issuance_date="2026-11-28"), earlier, ORDER)

    assert same is not None and same.earlier_id == "c1" and same.conflicts == ()
    assert find_replay(full_invoice("NF2"), earlier, ORDER) is None
    assert other is not None and all(v.conflict for v in other.conflicts)
    assert [(v.field, v.rule) for v in other.conflicts] == [
        ("invoiceValue", "invoice_number_reused"),
        ("issuanceDate", "invoice_number_reused"),
    ]


def test_a_new_tracking_number_for_an_invoice_is_new_and_the_same_one_is_a_repeat() -> None:
    earlier = [Earlier("t1", TrackingNumberCommand("NF1", "TRK1", "Correios"), in_flight=False)]

    assert find_replay(TrackingNumberCommand("NF1", "TRK2", "Correios"), earlier, ORDER) is None
    assert find_replay(TrackingNumberCommand("NF1", "TRK1", "Correios"), earlier, ORDER) is not None


def test_tracking_events_are_keyed_by_their_content() -> None:
    collected = TrackingEventsCommand("NF1", False, (TrackingEvent("Rio", "RJ", "Collected", "2026-11-27"),))
    delivered = TrackingEventsCommand("NF1", True, ())
    earlier = [Earlier("e1", collected, in_flight=False)]

    assert find_replay(delivered, earlier, ORDER) is None
    repeat = find_replay(collected, earlier, ORDER)
    assert repeat is not None and repeat.conflicts == ()


def test_a_change_is_keyed_by_its_request_id_and_another_content_under_it_is_refused() -> None:
    remove_one = ChangeCommand("req-1", "out of stock", remove=(ChangeLine("A", 1, 4000),))
    earlier = [Earlier("x1", remove_one, in_flight=True)]

    repeat = find_replay(remove_one, earlier, ORDER)
    other = find_replay(replace(remove_one, remove=(ChangeLine("A", 2, 4000),)), earlier, ORDER)

    assert repeat is not None and repeat.earlier_id == "x1" and repeat.conflicts == ()
    assert other is not None and [v.rule for v in other.conflicts] == ["request_id_reused"]
    assert find_replay(replace(remove_one, request_id="req-2"), earlier, ORDER) is None


def test_an_order_is_canceled_once_whatever_the_reason_says() -> None:
    earlier = [Earlier("k1", CancelCommand("out of stock"), in_flight=True)]

    other = find_replay(CancelCommand("customer called"), earlier, ORDER)

    assert other is not None and [v.rule for v in other.conflicts] == ["cancel_already_accepted"]


def test_a_denial_without_a_request_id_answers_the_request_open_when_it_was_sent() -> None:
    deny = DenyCancellationCommand("shipped")
    in_flight = [Earlier("d1", deny, in_flight=True)]
    done = [Earlier("d1", deny, in_flight=False)]

    assert find_replay(deny, in_flight, ASKED) is not None  # still on its way: the same request
    assert find_replay(deny, done, ORDER) is not None  # no request open: the one it closed
    assert find_replay(deny, done, ASKED) is None  # the shopper asked again: a new request
    explicit = [Earlier("d1", DenyCancellationCommand("shipped", "R1"), in_flight=False)]
    assert find_replay(DenyCancellationCommand("shipped", "R2"), explicit, ASKED) is None
    assert find_replay(DenyCancellationCommand("shipped", "R1"), explicit, ASKED) is not None
