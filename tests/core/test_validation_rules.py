"""Each rule of `validate_command`: a command breaking it is refused with that rule, a valid one passes."""

from __future__ import annotations

from dataclasses import replace

import pytest
from validation_fixtures import (
    FULLY_INVOICED,
    ORDER,
    full_invoice,
    invoice_of_a,
    package,
    remove_a,
    with_packages,
)

from orderbridge.core.commands import (
    CancelCommand,
    ChangeCommand,
    ChangeLine,
    Command,
    DenyCancellationCommand,
    InvoiceCommand,
    InvoiceLine,
    TrackingEvent,
    TrackingEventsCommand,
    TrackingNumberCommand,
)
from orderbridge.core.orders import OrderSnapshot, PackageItem
from orderbridge.core.validation import (
    PendingWork,
    Violation,
    is_repeat_of_known_invoice,
    routable_invoice_number_problem,
    validate_command,
)

NONE = PendingWork()
EVENT = TrackingEvent("Rio de Janeiro", "RJ", "left the warehouse", "2026-11-28T09:00:00Z")
RETURN_OF_A = InvoiceCommand(
    "RET1", 3000, "2026-11-29T10:00:00Z", (InvoiceLine("A", 1, 3000),), invoice_kind="Input"
)
PARTIAL = with_packages(package("NF0", 3000, tracking="TR0"))
CANCEL_REQUESTED = replace(ORDER, status="cancellation-requested", open_cancellation_request_id="cr-1")

# (case id, command, order, pending, field, rule)
REJECTIONS: list[tuple[str, Command, OrderSnapshot, PendingWork, str, str]] = [
    # invoices: status, races, value
    (
        "invoice_before_handling",
        full_invoice(),
        replace(ORDER, status="ready-for-handling"),
        NONE,
        "order.status",
        "not_invoiceable",
    ),
    (
        "invoice_on_canceled_order",
        full_invoice(),
        replace(ORDER, status="canceled"),
        NONE,
        "order.status",
        "canceled",
    ),
    (
        "invoice_while_change_in_progress",
        full_invoice(),
        ORDER,
        PendingWork(change_in_progress=True),
        "",
        "change_in_progress",
    ),
    (
        "invoice_while_vtex_change_in_progress",
        full_invoice(),
        replace(ORDER, extra={"change_in_progress": True}),
        NONE,
        "",
        "change_in_progress",
    ),
    (
        "invoice_racing_a_cancel",
        full_invoice(),
        ORDER,
        PendingWork(cancel_in_flight=True),
        "",
        "cancel_in_flight",
    ),
    (
        "invoice_above_order_value",
        full_invoice(value=12000),
        ORDER,
        NONE,
        "invoiceValue",
        "exceeds_remaining",
    ),
    (
        "invoice_above_what_remains_after_a_partial",
        full_invoice("NF2", 8000),
        PARTIAL,
        NONE,
        "invoiceValue",
        "exceeds_remaining",
    ),
    (
        "invoice_above_what_remains_with_one_in_flight",
        invoice_of_a("NF2", 1, 8000),
        ORDER,
        PendingWork(
            invoice_cents_in_flight=3000, invoice_numbers=frozenset({"NF1"}), invoice_values={"NF1": 3000}
        ),
        "invoiceValue",
        "exceeds_remaining",
    ),
    ("invoice_of_zero", invoice_of_a(value=0), ORDER, NONE, "invoiceValue", "not_positive"),
    ("invoice_of_negative_value", invoice_of_a(value=-5), ORDER, NONE, "invoiceValue", "not_positive"),
    (
        "invoice_number_repeated_with_other_value",
        invoice_of_a("NF0", 1, 2500),
        PARTIAL,
        NONE,
        "invoiceNumber",
        "repeated_other_value",
    ),
    (
        "invoice_number_in_flight_with_other_value",
        invoice_of_a("NF1", 1, 2500),
        ORDER,
        PendingWork(
            invoice_cents_in_flight=3000, invoice_numbers=frozenset({"NF1"}), invoice_values={"NF1": 3000}
        ),
        "invoiceNumber",
        "repeated_other_value",
    ),
    (
        "invoice_number_of_a_return_reused_for_a_sale",
        invoice_of_a("RET0", 1, 3000),
        with_packages(package("RET0", 3000, kind="Input")),
        NONE,
        "invoiceNumber",
        "repeated_other_kind",
    ),
    ("invoice_number_with_slash", full_invoice("NF/1"), ORDER, NONE, "invoiceNumber", "unroutable"),
    ("invoice_number_with_space", full_invoice("NF 1"), ORDER, NONE, "invoiceNumber", "unroutable"),
    ("invoice_number_with_hash", full_invoice("#1"), ORDER, NONE, "invoiceNumber", "unroutable"),
    ("invoice_number_empty", full_invoice(""), ORDER, NONE, "invoiceNumber", "unroutable"),
    (
        "invoice_without_issuance_date",
        replace(full_invoice(), issuance_date=" "),
        ORDER,
        NONE,
        "issuanceDate",
        "required",
    ),
    (
        "invoice_with_blank_tracking_number",
        replace(full_invoice(), tracking_number=" "),
        ORDER,
        NONE,
        "trackingNumber",
        "blank",
    ),
    # invoice lines
    ("invoice_without_lines", replace(full_invoice(), lines=()), ORDER, NONE, "items", "required"),
    (
        "invoice_line_with_unknown_sku",
        replace(invoice_of_a(), lines=(InvoiceLine("Z", 1, 3000),)),
        ORDER,
        NONE,
        "items[0].id",
        "unknown_sku",
    ),
    (
        "invoice_line_with_zero_quantity",
        replace(invoice_of_a(), lines=(InvoiceLine("A", 0, 3000),)),
        ORDER,
        NONE,
        "items[0].quantity",
        "not_positive",
    ),
    (
        "invoice_line_with_negative_price",
        replace(invoice_of_a(), lines=(InvoiceLine("A", 1, -1),)),
        ORDER,
        NONE,
        "items[0].price",
        "negative",
    ),
    (
        "invoice_line_above_ordered_quantity",
        invoice_of_a("NF1", 3, 9000),
        ORDER,
        NONE,
        "items",
        "quantity_exceeds",
    ),
    (
        "invoice_line_for_an_item_already_invoiced",
        InvoiceCommand("NF2", 3000, "2026-11-27", (InvoiceLine("A", 2, 1500),)),
        PARTIAL,
        NONE,
        "items",
        "quantity_exceeds",
    ),
    (
        "invoice_lines_above_invoice_value",
        invoice_of_a("NF1", 2, 5000),
        ORDER,
        NONE,
        "items",
        "exceeds_value",
    ),
    (
        "invoice_line_for_an_item_in_an_invoice_in_flight",
        invoice_of_a("NF2", 2, 6000),
        ORDER,
        PendingWork(
            invoice_cents_in_flight=3000,
            invoice_numbers=frozenset({"NF1"}),
            invoice_values={"NF1": 3000},
            output_lines_in_flight={"NF1": {"A": 1}},
        ),
        "items",
        "quantity_exceeds",
    ),
    # returns (Input)
    (
        "return_before_full_invoice",
        RETURN_OF_A,
        PARTIAL,
        NONE,
        "type",
        "return_before_full_invoice",
    ),
    (
        "return_above_invoiced",
        replace(RETURN_OF_A, value_cents=11000),
        FULLY_INVOICED,
        NONE,
        "invoiceValue",
        "exceeds_returnable",
    ),
    (
        "return_of_more_than_was_invoiced",
        replace(RETURN_OF_A, lines=(InvoiceLine("A", 3, 1000),)),
        FULLY_INVOICED,
        NONE,
        "items",
        "quantity_exceeds",
    ),
    (
        "return_with_a_sku_split_over_lines",
        replace(RETURN_OF_A, value_cents=6000, lines=(InvoiceLine("A", 1, 3000), InvoiceLine("A", 1, 3000))),
        FULLY_INVOICED,
        NONE,
        "items",
        "repeated_sku",
    ),
    (
        "return_on_a_canceled_order",
        RETURN_OF_A,
        replace(FULLY_INVOICED, status="canceled"),
        NONE,
        "order.status",
        "canceled",
    ),
    # tracking number
    (
        "tracking_for_unknown_invoice",
        TrackingNumberCommand("NF9", "TR1", "Correios"),
        PARTIAL,
        NONE,
        "invoiceNumber",
        "unknown_invoice",
    ),
    (
        "tracking_for_a_return_invoice",
        TrackingNumberCommand("RET0", "TR1", "Correios"),
        with_packages(package("RET0", 3000, kind="Input")),
        NONE,
        "invoiceNumber",
        "return_invoice",
    ),
    (
        "tracking_without_number",
        TrackingNumberCommand("NF0", " ", "Correios"),
        PARTIAL,
        NONE,
        "trackingNumber",
        "required",
    ),
    (
        "tracking_without_courier",
        TrackingNumberCommand("NF0", "TR1", ""),
        PARTIAL,
        NONE,
        "courier",
        "required",
    ),
    (
        "tracking_with_unroutable_invoice_number",
        TrackingNumberCommand("NF 0", "TR1", "Correios"),
        PARTIAL,
        NONE,
        "invoiceNumber",
        "unroutable",
    ),
    (
        "tracking_on_canceled_order",
        TrackingNumberCommand("NF0", "TR1", "Correios"),
        replace(PARTIAL, status="canceled"),
        NONE,
        "order.status",
        "canceled",
    ),
    # tracking events
    (
        "events_before_a_tracking_number",
        TrackingEventsCommand("NF0", False, (EVENT,)),
        with_packages(package("NF0", 3000)),
        NONE,
        "invoiceNumber",
        "no_tracking_number",
    ),
    (
        "events_for_unknown_invoice",
        TrackingEventsCommand("NF9", False, (EVENT,)),
        PARTIAL,
        NONE,
        "invoiceNumber",
        "unknown_invoice",
    ),
    (
        "events_after_delivery",
        TrackingEventsCommand("NF0", True, (EVENT,)),
        with_packages(package("NF0", 3000, tracking="TR0", delivered=True)),
        NONE,
        "",
        "already_delivered",
    ),
    (
        "events_empty_and_not_delivered",
        TrackingEventsCommand("NF0", False, ()),
        PARTIAL,
        NONE,
        "events",
        "required",
    ),
    (
        "event_without_description",
        TrackingEventsCommand("NF0", False, (replace(EVENT, description=""),)),
        PARTIAL,
        NONE,
        "events[0].description",
        "required",
    ),
    # changes
    (
        "change_before_handling",
        remove_a(),
        replace(ORDER, status="ready-for-handling"),
        NONE,
        "order.status",
        "not_changeable",
    ),
    ("change_without_reason", replace(remove_a(), reason=""), ORDER, NONE, "reason", "required"),
    (
        "change_without_request_id",
        replace(remove_a(), request_id=""),
        ORDER,
        NONE,
        "requestId",
        "required",
    ),
    (
        "change_while_another_is_in_progress",
        remove_a(),
        ORDER,
        PendingWork(change_in_progress=True),
        "",
        "change_in_progress",
    ),
    (
        "change_while_an_invoice_is_in_flight",
        remove_a(),
        ORDER,
        PendingWork(
            invoice_cents_in_flight=3000, invoice_numbers=frozenset({"NF1"}), invoice_values={"NF1": 3000}
        ),
        "",
        "invoice_in_flight",
    ),
    (
        "change_racing_a_cancel",
        remove_a(),
        ORDER,
        PendingWork(cancel_in_flight=True),
        "",
        "cancel_in_flight",
    ),
    ("change_that_changes_nothing", ChangeCommand("req-1", "nothing"), ORDER, NONE, "", "empty"),
    (
        "change_removing_unknown_sku",
        ChangeCommand("r", "x", remove=(ChangeLine("Z", 1, 100),)),
        ORDER,
        NONE,
        "itemsRemoved",
        "unknown_sku",
    ),
    ("change_removing_more_than_ordered", remove_a(3), ORDER, NONE, "itemsRemoved", "quantity_exceeds"),
    ("change_removing_an_invoiced_item", remove_a(2), PARTIAL, NONE, "itemsRemoved", "already_invoiced"),
    ("change_with_zero_quantity", remove_a(0), ORDER, NONE, "itemsRemoved[0].quantity", "not_positive"),
    (
        "change_adding_with_negative_price",
        ChangeCommand("r", "x", add=(ChangeLine("C", 1, -100),)),
        ORDER,
        NONE,
        "itemsAdded[0].price",
        "negative",
    ),
    (
        "change_with_negative_discount",
        ChangeCommand("r", "x", discount_cents=-1),
        ORDER,
        NONE,
        "discountValue",
        "negative",
    ),
    (
        "change_bringing_value_below_zero",
        ChangeCommand("r", "x", discount_cents=10001),
        ORDER,
        NONE,
        "",
        "negative_value",
    ),
    (
        "change_bringing_value_below_invoiced",
        ChangeCommand("r", "x", discount_cents=8000),
        PARTIAL,
        NONE,
        "",
        "below_invoiced",
    ),
    # cancel
    ("cancel_after_a_partial_invoice", CancelCommand("customer"), PARTIAL, NONE, "", "after_invoice"),
    (
        "cancel_of_an_invoiced_order",
        CancelCommand("customer"),
        FULLY_INVOICED,
        NONE,
        "order.status",
        "not_cancelable",
    ),
    (
        "cancel_racing_an_invoice",
        CancelCommand("customer"),
        ORDER,
        PendingWork(
            invoice_cents_in_flight=10000, invoice_numbers=frozenset({"NF1"}), invoice_values={"NF1": 10000}
        ),
        "",
        "invoice_in_flight",
    ),
    (
        "cancel_of_a_canceled_order",
        CancelCommand("customer"),
        replace(ORDER, status="canceled"),
        NONE,
        "order.status",
        "not_cancelable",
    ),
    (
        "cancel_of_an_incomplete_order",
        CancelCommand("customer"),
        replace(ORDER, status=None),
        NONE,
        "order.status",
        "incomplete",
    ),
    (
        "cancel_twice",
        CancelCommand("customer"),
        ORDER,
        PendingWork(cancel_in_flight=True),
        "",
        "cancel_in_flight",
    ),
    ("cancel_without_reason", CancelCommand(""), ORDER, NONE, "reason", "required"),
    # deny cancellation
    (
        "deny_without_a_request",
        DenyCancellationCommand("in transit"),
        ORDER,
        NONE,
        "order.status",
        "no_cancellation_request",
    ),
    (
        "deny_another_request",
        DenyCancellationCommand("in transit", "cr-9"),
        CANCEL_REQUESTED,
        NONE,
        "cancellationRequestId",
        "not_open",
    ),
    (
        "deny_after_accepting_a_cancel",
        DenyCancellationCommand("in transit"),
        CANCEL_REQUESTED,
        PendingWork(cancel_in_flight=True),
        "",
        "cancel_in_flight",
    ),
    (
        "deny_twice",
        DenyCancellationCommand("in transit"),
        CANCEL_REQUESTED,
        PendingWork(deny_in_flight=True),
        "",
        "deny_in_flight",
    ),
    (
        "deny_without_reason",
        DenyCancellationCommand(" "),
        CANCEL_REQUESTED,
        NONE,
        "reason",
        "required",
    ),
]


@pytest.mark.parametrize(
    ("command", "order", "pending", "field", "rule"),
    [pytest.param(*case[1:], id=case[0]) for case in REJECTIONS],
)
def test_command_breaking_a_rule_is_refused_naming_field_and_rule(
    command: Command, order: OrderSnapshot, pending: PendingWork, field: str, rule: str
) -> None:
    violations = validate_command(command, order, pending)
    assert (field, rule) in {(v.field, v.rule) for v in violations}, violations
    for violation in violations:  # a problem of the command as a whole names no field
        assert violation.message.startswith(f"{violation.field}: ") or not violation.field


def test_there_are_at_least_thirty_distinct_rejection_cases() -> None:
    assert len({(case[4], case[5]) for case in REJECTIONS}) >= 30


ACCEPTED: list[tuple[str, Command, OrderSnapshot, PendingWork]] = [
    ("full_invoice", full_invoice(), ORDER, NONE),
    (
        "full_invoice_in_waiting_for_fulfillment",
        full_invoice(),
        replace(ORDER, status="waiting-for-fulfillment"),
        NONE,
    ),
    (
        "full_invoice_with_shipping_beyond_the_lines",
        full_invoice(value=10000),
        replace(ORDER, value_cents=10500),
        NONE,
    ),
    ("partial_invoice", invoice_of_a(), ORDER, NONE),
    (
        "rest_after_a_partial",
        InvoiceCommand("NF2", 7000, "2026-11-27", (InvoiceLine("A", 1, 3000), InvoiceLine("B", 1, 4000))),
        PARTIAL,
        NONE,
    ),
    (
        "rest_after_a_partial_in_payment_approved",
        InvoiceCommand("NF2", 7000, "2026-11-27", (InvoiceLine("B", 1, 4000),)),
        replace(PARTIAL, status="payment-approved"),
        NONE,
    ),
    (
        "invoice_after_an_in_flight_one_that_landed",
        invoice_of_a("NF2", 1, 3000),
        PARTIAL,
        PendingWork(
            invoice_cents_in_flight=3000, invoice_numbers=frozenset({"NF0"}), invoice_values={"NF0": 3000}
        ),
    ),
    ("return_after_full_invoice", RETURN_OF_A, FULLY_INVOICED, NONE),
    ("tracking_for_an_invoice_on_the_order", TrackingNumberCommand("NF0", "TR1", "Correios"), PARTIAL, NONE),
    (
        "tracking_for_an_invoice_in_flight",
        TrackingNumberCommand("NF1", "TR1", "Correios"),
        ORDER,
        PendingWork(
            invoice_cents_in_flight=3000, invoice_numbers=frozenset({"NF1"}), invoice_values={"NF1": 3000}
        ),
    ),
    ("events_after_a_tracking_number", TrackingEventsCommand("NF0", False, (EVENT,)), PARTIAL, NONE),
    (
        "events_after_a_tracking_number_in_flight",
        TrackingEventsCommand("NF0", True, (EVENT,), "2026-11-29"),
        with_packages(package("NF0", 3000)),
        PendingWork(tracking_numbers_in_flight=frozenset({"NF0"})),
    ),
    ("events_on_an_invoiced_order", TrackingEventsCommand("NF0", True, (EVENT,)), FULLY_INVOICED, NONE),
    ("remove_an_item", remove_a(), ORDER, NONE),
    ("remove_the_uninvoiced_rest", remove_a(1), PARTIAL, NONE),
    (
        "add_an_item_and_a_discount",
        ChangeCommand("r", "x", add=(ChangeLine("C", 1, 500),), discount_cents=200),
        ORDER,
        NONE,
    ),
    ("cancel_in_handling", CancelCommand("customer"), ORDER, NONE),
    ("cancel_accepting_a_cancellation_request", CancelCommand("customer"), CANCEL_REQUESTED, NONE),
    ("deny_the_open_request", DenyCancellationCommand("in transit", "cr-1"), CANCEL_REQUESTED, NONE),
]


@pytest.mark.parametrize(
    ("command", "order", "pending"), [pytest.param(*case[1:], id=case[0]) for case in ACCEPTED]
)
def test_valid_command_is_accepted(command: Command, order: OrderSnapshot, pending: PendingWork) -> None:
    assert validate_command(command, order, pending) == []


def test_over_invoicing_message_names_the_field_the_value_and_what_remains() -> None:
    violations = validate_command(full_invoice(value=12000), ORDER, NONE)
    assert (
        Violation(
            "invoiceValue",
            "exceeds_remaining",
            "invoiceValue: 12000 exceeds what remains to invoice (10000)",
        )
        in violations
    )


def test_every_problem_of_a_command_is_reported_at_once() -> None:
    bad = InvoiceCommand("NF/1", 0, "", (InvoiceLine("Z", 0, -1),))
    rules = {v.rule for v in validate_command(bad, replace(ORDER, status="ready-for-handling"), NONE)}
    assert {"unroutable", "required", "not_invoiceable", "not_positive", "unknown_sku", "negative"} <= rules


def test_a_repeated_invoice_with_the_same_value_is_a_valid_duplicate_not_new_work() -> None:
    repeat = invoice_of_a("NF0", 1, 3000)
    assert validate_command(repeat, PARTIAL, NONE) == []
    assert is_repeat_of_known_invoice(repeat, PARTIAL, NONE)
    in_flight = PendingWork(
        invoice_cents_in_flight=3000, invoice_numbers=frozenset({"NF1"}), invoice_values={"NF1": 3000}
    )
    assert is_repeat_of_known_invoice(invoice_of_a("NF1", 1, 3000), ORDER, in_flight)
    assert not is_repeat_of_known_invoice(invoice_of_a("NF2", 1, 3000), ORDER, in_flight)


def test_returns_count_only_output_invoices_toward_what_remains() -> None:
    returned = with_packages(
        package("NF0", 10000, items=(PackageItem(0, 2, 3000), PackageItem(1, 1, 4000))),
        package("RET0", 3000, kind="Input"),
    )
    rules = {v.rule for v in validate_command(invoice_of_a("NF2", 1, 3000), returned, NONE)}
    assert "exceeds_remaining" in rules  # nothing remains: the Input does not give value back (KI 930491)


@pytest.mark.parametrize(
    "number",
    ["NF/1", "NF#1", "NF?1", "NF%2F1", "NF\\1", " NF1", "NF1 ", "NF 1", "NF\t1", "", "N" * 51, "NF\x001"],
)
def test_invoice_numbers_vtex_cannot_route_are_refused(number: str) -> None:
    assert routable_invoice_number_problem(number) is not None


@pytest.mark.parametrize("number", ["NF1", "000123-A", "2026.11.27_1", "N" * 50, "NFé1"])
def test_plain_invoice_numbers_are_routable(number: str) -> None:
    assert routable_invoice_number_problem(number) is None


@pytest.mark.parametrize(
    "command",
    [
        full_invoice(),
        TrackingNumberCommand("NF0", "TRK1", "Correios"),
        remove_a(),
    ],
    ids=["invoice", "tracking", "change"],
)
def test_fulfilment_of_an_order_vtex_has_not_completed_is_refused_with_the_reason(command: Command) -> None:
    incomplete = replace(with_packages(package()), is_completed=False)

    problems = validate_command(command, incomplete, NONE)

    assert problems[0].rule == "incomplete" and problems[0].field == "order.isCompleted"
    assert "isCompleted" in problems[0].message
    assert not [
        p
        for p in validate_command(command, replace(incomplete, is_completed=True), NONE)
        if p.rule == "incomplete"
    ]
