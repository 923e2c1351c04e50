"""Invoice numbers VTEX cannot route are refused before any request, saying why."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from vtex_stub import StubVtex

from orderbridge.vtex import (
    InvalidInvoiceNumber,
    Invoice,
    InvoiceItem,
    TrackingEvents,
    TrackingNumberPatch,
    VtexClient,
    VtexError,
    check_invoice_number,
    invoice_number_problem,
    is_routable_invoice_number,
)


@pytest.mark.parametrize(
    ("number", "why"),
    [
        ("123/456", "'/'"),
        ("#123", "'#'"),
        ("12?3", "'?'"),
        ("NF%2F1", "'%'"),
        (" 123", "leading or trailing spaces"),
        ("123 ", "leading or trailing spaces"),
        ("12 3", "spaces inside"),
        ("12\t3", "spaces inside"),
        ("", "empty"),
        ("12\x003", "control characters"),
    ],
)
def test_unroutable_invoice_numbers_are_refused_with_the_reason(number: str, why: str) -> None:
    assert not is_routable_invoice_number(number)
    with pytest.raises(InvalidInvoiceNumber) as caught:
        check_invoice_number(number)
    assert why in str(caught.value)
    assert caught.value.reason == invoice_number_problem(number)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, VtexError)


@pytest.mark.parametrize("number", ["500617", "NF-1001", "DFG-v7731485plzv-01", "A_1.2"])
def test_plain_invoice_numbers_pass_unchanged(number: str) -> None:
    assert check_invoice_number(number) == number


async def test_the_client_refuses_a_bad_number_before_sending_anything(
    client: VtexClient, stub: StubVtex
) -> None:
    invoice = Invoice(
        issuance_date=datetime(2026, 11, 27, tzinfo=UTC),
        invoice_number="123/456",
        invoice_value=100,
        items=[InvoiceItem(id="1", price=100, quantity=1)],
    )

    with pytest.raises(InvalidInvoiceNumber):
        await client.send_invoice("1001-01", invoice)
    with pytest.raises(InvalidInvoiceNumber):
        await client.patch_tracking_number("1001-01", "12 3", TrackingNumberPatch(tracking_number="T"))
    with pytest.raises(InvalidInvoiceNumber):
        await client.send_tracking_events("1001-01", "#9", TrackingEvents())

    assert stub.seen == []
