"""The shared ERP input parser: what becomes a command, and how every shape problem is named."""

from __future__ import annotations

from typing import Any

import pytest

from orderbridge.core.commands import (
    ChangeCommand,
    InvoiceCommand,
    TrackingEventsCommand,
    TrackingNumberCommand,
)
from orderbridge.erp.parsing import (
    ParseError,
    allow_http_urls,
    load_json,
    parse_acceptance,
    parse_command,
    parse_invoices_csv,
    parse_tracking_csv,
)

INVOICE: dict[str, Any] = {
    "invoiceNumber": "NF-1",
    "invoiceValue": 12000,
    "issuanceDate": "2026-11-27T10:00:00Z",
    "items": [{"id": "1", "quantity": 2, "price": 5000}],
}


def test_a_valid_invoice_becomes_an_invoice_command_in_cents() -> None:
    command = parse_command("invoice", INVOICE, default_request_id="x")
    assert isinstance(command, InvoiceCommand)
    assert command.value_cents == 12000
    assert command.invoice_kind == "Output"
    assert command.lines[0].sku_id == "1" and command.lines[0].unit_price_cents == 5000


def test_a_change_without_request_id_takes_the_channel_default() -> None:
    command = parse_command(
        "change",
        {"reason": "out of stock", "itemsRemoved": [{"id": "1", "quantity": 1, "price": 5}]},
        default_request_id="file:x.json",
    )
    assert isinstance(command, ChangeCommand)
    assert command.request_id == "file:x.json"
    assert command.remove[0].quantity == 1


def test_tracking_kinds_take_the_invoice_number_from_the_data() -> None:
    number = parse_command(
        "tracking-number",
        {"invoiceNumber": "NF-1", "trackingNumber": "T1", "courier": "C"},
        default_request_id="",
    )
    events = parse_command(
        "tracking-events", {"invoiceNumber": "NF-1", "isDelivered": True, "events": []}, default_request_id=""
    )
    assert isinstance(number, TrackingNumberCommand) and number.invoice_number == "NF-1"
    assert isinstance(events, TrackingEventsCommand) and events.is_delivered


@pytest.mark.parametrize(
    ("kind", "data", "field", "rule"),
    [
        ("invoice", {**INVOICE, "invoiceValue": "12000"}, "invoiceValue", "int_type"),
        ("invoice", {**INVOICE, "invoiceValue": 120.5}, "invoiceValue", "int_type"),
        ("invoice", {**INVOICE, "invoiceValue": 0}, "invoiceValue", "greater_than"),
        ("invoice", {k: v for k, v in INVOICE.items() if k != "invoiceNumber"}, "invoiceNumber", "missing"),
        (
            "invoice",
            {**INVOICE, "items": [{"id": "1", "quantity": 0, "price": 1}]},
            "items[0].quantity",
            "greater_than",
        ),
        (
            "invoice",
            {**INVOICE, "items": [{"id": "1", "quantity": -2, "price": 1}]},
            "items[0].quantity",
            "greater_than",
        ),
        (
            "invoice",
            {**INVOICE, "items": [{"id": "1", "quantity": 1, "price": -1}]},
            "items[0].price",
            "greater_than_equal",
        ),
        ("invoice", {**INVOICE, "items": []}, "items", "too_short"),
        ("invoice", {**INVOICE, "issuanceDate": "yesterday"}, "issuanceDate", "value_error"),
        # Python reads these ISO 8601 forms; VTEX documents neither, so they are refused up front.
        ("invoice", {**INVOICE, "issuanceDate": "2026-W48-5"}, "issuanceDate", "value_error"),
        ("invoice", {**INVOICE, "issuanceDate": "20261127"}, "issuanceDate", "value_error"),
        ("invoice", {**INVOICE, "type": "Refund"}, "type", "literal_error"),
        ("invoice", {**INVOICE, "invoiceNumbr": "x"}, "invoiceNumbr", "extra_forbidden"),
        ("invoice", [INVOICE], "body", "object_type"),
        ("tracking-number", {"trackingNumber": "T", "courier": "C"}, "invoiceNumber", "missing"),
        ("tracking-number", {"invoiceNumber": "NF-1", "courier": "C"}, "trackingNumber", "missing"),
        ("tracking-events", {"invoiceNumber": "NF-1", "isDelivered": "yes"}, "isDelivered", "bool_type"),
        ("change", {"reason": ""}, "reason", "string_too_short"),
        ("change", {"reason": "r", "discountValue": -1}, "discountValue", "greater_than_equal"),
        ("cancellation", {}, "reason", "missing"),
        ("cancellation", {"reason": "a\x00b"}, "reason", "nul_character"),  # PostgreSQL cannot store it
        ("invoice", {**INVOICE, "invoiceNumber": "NF\x001"}, "invoiceNumber", "nul_character"),
        ("refund", {}, "command", "unknown_command"),
    ],
)
def test_a_malformed_command_names_the_field_and_the_rule(
    kind: str, data: Any, field: str, rule: str
) -> None:
    with pytest.raises(ParseError) as caught:
        parse_command(kind, data, default_request_id="r")
    assert (field, rule) in {(p.field, p.rule) for p in caught.value.problems}
    assert all(
        p.message.startswith(f"{p.field}: ") and p.message.endswith(f"[{p.rule}]")
        for p in caught.value.problems
    )


def test_malformed_json_says_where_it_broke() -> None:
    with pytest.raises(ParseError) as caught:
        load_json('{"reason": ')
    assert caught.value.problems[0].rule == "json_invalid"
    assert "line 1" in caught.value.problems[0].message


def test_a_rejection_without_reason_is_refused() -> None:
    with pytest.raises(ParseError) as caught:
        parse_acceptance({"accepted": False})
    assert caught.value.problems[0].field == "reason"
    assert parse_acceptance({"accepted": True, "erpReference": "E1"}).erp_reference == "E1"


INVOICE_CSV = (
    "order_id,invoice_number,invoice_value,issuance_date,sku_id,quantity,unit_price\n"
    "o-1,NF-1,12000,2026-11-27T10:00:00Z,1,1,5000\n"
    "o-1,NF-1,12000,2026-11-27T10:00:00Z,2,1,5000\n"
    "o-2,NF-2,300,2026-11-27T10:00:00Z,9,3,100\n"
)


def test_invoice_csv_rows_sharing_an_invoice_number_make_one_invoice() -> None:
    commands = parse_invoices_csv(INVOICE_CSV)
    assert [(c.order_id, c.rows) for c in commands] == [("o-1", (2, 3)), ("o-2", (4,))]
    first = commands[0].command
    assert isinstance(first, InvoiceCommand) and len(first.lines) == 2


def test_invoice_csv_keeps_a_trailing_space_in_the_invoice_number_for_validation_to_refuse() -> None:
    text = INVOICE_CSV.replace("o-2,NF-2,", "o-2,NF-2 ,")
    commands = parse_invoices_csv(text)
    assert commands[1].command.invoice_number == "NF-2 "  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "field", "rule"),
    [
        ("order_id,invoice_number\no-1,NF-1\n", "csv.invoice_value", "missing_column"),
        (
            INVOICE_CSV.replace("12000,2026-11-27T10:00:00Z,2", "12001,2026-11-27T10:00:00Z,2"),
            "row 3.invoice_value",
            "inconsistent",
        ),
        (INVOICE_CSV.replace(",3,100", ",three,100"), "row 4.quantity", "int_parsing"),
        (INVOICE_CSV.replace(",3,100", ",3,100,extra"), "row 4", "column_count"),
        (INVOICE_CSV.splitlines()[0] + "\n", "csv", "empty"),
        (INVOICE_CSV.replace(",3,100", ",0,100"), "row 4.quantity", "greater_than"),
        ('order_id,invoice_number\n"o-1,NF-1\n', "csv", "csv_invalid"),
    ],
)
def test_a_malformed_invoice_csv_names_the_row_and_the_rule(text: str, field: str, rule: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_invoices_csv(text)
    assert (field, rule) in {(p.field, p.rule) for p in caught.value.problems}


def test_tracking_csv_gives_one_tracking_number_per_row() -> None:
    commands = parse_tracking_csv(
        "order_id,invoice_number,tracking_number,courier\no-1,NF-1,T1,Correios\no-2,NF-2,T2,DHL\n"
    )
    assert [c.order_id for c in commands] == ["o-1", "o-2"]
    with pytest.raises(ParseError) as caught:
        parse_tracking_csv("order_id,invoice_number,tracking_number,courier\no-1,NF-1,,Correios\n")
    assert caught.value.problems[0].field == "row 2.tracking_number"


def test_plain_http_urls_are_taken_only_where_the_setting_allows_them() -> None:
    body = {**INVOICE, "invoiceUrl": "http://erp.lan/nf/1.pdf", "trackingUrl": "http://carrier.lan/T1"}
    with pytest.raises(ParseError) as refused:
        parse_command("invoice", body, default_request_id="r")
    assert {p.field for p in refused.value.problems} == {"invoiceUrl", "trackingUrl"}
    allow_http_urls(True)
    try:
        command = parse_command("invoice", body, default_request_id="r")
        with pytest.raises(ParseError):  # still no other scheme
            parse_command("invoice", {**body, "invoiceUrl": "ftp://erp.lan/nf"}, default_request_id="r")
    finally:
        allow_http_urls(False)
    assert isinstance(command, InvoiceCommand)
    assert command.invoice_url == "http://erp.lan/nf/1.pdf"
