"""A catalog of invalid ERP commands, each with the words its rejection must contain.

Bodies are built from the real orders of the test (`Orders`): A is in handling with nothing invoiced,
B is in handling with one partial invoice (`B_INVOICE`, no tracking number). Each case lists the
channels it applies to: a CSV cannot carry a JSON type error, a typed staging column cannot hold text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orderbridge.core.orders import OrderSnapshot

REST, FILES, STAGING = "rest", "files", "staging"
ALL = frozenset({REST, FILES, STAGING})
JSON_ONLY = frozenset({REST, FILES})
B_INVOICE = "NF-B1"
DATE = "2026-11-27T10:00:00Z"


@dataclass(frozen=True)
class Orders:
    a: OrderSnapshot
    b: OrderSnapshot

    def of(self, which: str) -> OrderSnapshot:
        return self.a if which == "A" else self.b


@dataclass(frozen=True)
class Case:
    id: str
    kind: str  # a command kind of orderbridge.erp.parsing, or "acceptance"
    order: str  # "A", "B" or "unknown"
    body: Callable[[OrderSnapshot], Any]  # the wire body; a str is sent as raw (malformed) text
    expect: str  # a fragment the rejection must contain (the field, and the rule in words)
    channels: frozenset[str] = ALL


def invoice(o: OrderSnapshot, **changes: Any) -> dict[str, Any]:
    item = o.items[0]
    body: dict[str, Any] = {
        "invoiceNumber": "NF-OK-1",
        "invoiceValue": item.unit_price_cents,
        "issuanceDate": DATE,
        "items": [{"id": item.sku_id, "quantity": 1, "price": item.unit_price_cents}],
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


def line(o: OrderSnapshot, **changes: Any) -> dict[str, Any]:
    item = o.items[0]
    return {"id": item.sku_id, "quantity": 1, "price": item.unit_price_cents, **changes}


def change(o: OrderSnapshot, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "reason": "out of stock",
        "itemsRemoved": [{"id": o.items[0].sku_id, "quantity": 1, "price": o.items[0].unit_price_cents}],
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


CASES: tuple[Case, ...] = (
    # --- shape: the shared parser ---
    Case(
        "invoice-missing-number",
        "invoice",
        "A",
        lambda o: invoice(o, invoiceNumber=...),
        "invoiceNumber: is required",
    ),
    Case(
        "invoice-value-as-string",
        "invoice",
        "A",
        lambda o: invoice(o, invoiceValue="100"),
        "invoiceValue",
        JSON_ONLY,
    ),
    Case(
        "invoice-value-as-float",
        "invoice",
        "A",
        lambda o: invoice(o, invoiceValue=10.5),
        "invoiceValue",
        JSON_ONLY,
    ),
    Case(
        "invoice-value-zero",
        "invoice",
        "A",
        lambda o: invoice(o, invoiceValue=0),
        "invoiceValue: Input should be greater than 0",
    ),
    Case("invoice-value-negative", "invoice", "A", lambda o: invoice(o, invoiceValue=-100), "invoiceValue"),
    Case("invoice-without-items", "invoice", "A", lambda o: invoice(o, items=[]), "items"),
    Case(
        "invoice-zero-quantity", "invoice", "A", lambda o: invoice(o, items=[line(o, quantity=0)]), "quantity"
    ),
    Case(
        "invoice-negative-quantity",
        "invoice",
        "A",
        lambda o: invoice(o, items=[line(o, quantity=-1)]),
        "quantity",
    ),
    Case("invoice-negative-price", "invoice", "A", lambda o: invoice(o, items=[line(o, price=-1)]), "price"),
    Case(
        "invoice-unknown-field",
        "invoice",
        "A",
        lambda o: invoice(o, invoiceNumbr="x"),
        "invoiceNumbr: unknown field",
        JSON_ONLY,
    ),
    Case("invoice-bad-date", "invoice", "A", lambda o: invoice(o, issuanceDate="yesterday"), "issuanceDate"),
    Case("invoice-unknown-type", "invoice", "A", lambda o: invoice(o, type="Refund"), "type"),
    Case(
        "invoice-malformed-json",
        "invoice",
        "A",
        lambda o: '{"invoiceNumber": "NF-1", ',
        "malformed JSON",
        JSON_ONLY,
    ),
    Case("invoice-body-not-an-object", "invoice", "A", lambda o: ["NF-1"], "object", JSON_ONLY),
    Case(
        "tracking-missing-courier",
        "tracking-number",
        "B",
        lambda o: {"invoiceNumber": B_INVOICE, "trackingNumber": "T1"},
        "courier",
    ),
    Case(
        "tracking-events-delivered-as-text",
        "tracking-events",
        "B",
        lambda o: {"invoiceNumber": B_INVOICE, "isDelivered": "yes", "events": []},
        "isDelivered",
        JSON_ONLY,
    ),
    Case("change-empty-reason", "change", "A", lambda o: change(o, reason=""), "reason"),
    Case("change-negative-discount", "change", "A", lambda o: change(o, discountValue=-5), "discountValue"),
    Case("cancel-without-reason", "cancellation", "A", lambda o: {}, "reason"),
    Case(
        "acceptance-rejected-without-reason",
        "acceptance",
        "A",
        lambda o: {"accepted": False},
        "reason: is required when accepted is false",
    ),
    # --- what must never reach VTEX (issue 14, item 10): other URL schemes, control characters, length ---
    Case(
        "invoice-url-javascript",
        "invoice",
        "A",
        lambda o: invoice(o, invoiceUrl="javascript:alert(document.cookie)"),
        "invoiceUrl: must be an https:// URL",
    ),
    Case(
        "invoice-url-plain-http",
        "invoice",
        "A",
        lambda o: invoice(o, invoiceUrl="http://erp.example.com/nf/1.pdf"),
        "invoiceUrl: must be an https:// URL",
    ),
    Case(
        "invoice-url-too-long",
        "invoice",
        "A",
        lambda o: invoice(o, invoiceUrl="https://erp.example.com/" + "a" * 2100),
        "invoiceUrl: String should have at most",
    ),
    Case(
        "invoice-courier-with-crlf",
        "invoice",
        "A",
        lambda o: invoice(o, courier="Correios\r\nX-Injected: 1", trackingNumber="T1"),
        "courier: must not contain control characters",
    ),
    Case(
        "tracking-url-javascript",
        "tracking-number",
        "B",
        lambda o: {
            "invoiceNumber": B_INVOICE,
            "trackingNumber": "T1",
            "courier": "C",
            "trackingUrl": "javascript:alert(1)",
        },
        "trackingUrl: must be an https:// URL",
    ),
    Case(
        "tracking-number-with-crlf",
        "tracking-number",
        "B",
        lambda o: {"invoiceNumber": B_INVOICE, "trackingNumber": "T1\r\nX-Injected: 1", "courier": "C"},
        "trackingNumber: must not contain control characters",
    ),
    Case(
        "cancel-reason-with-escape",
        "cancellation",
        "A",
        lambda o: {"reason": "no stock\x1b[2J"},
        "reason: must not contain control characters",
    ),
    # --- business rules: core.validation against the stored order and the work in flight ---
    Case(
        "over-invoicing",
        "invoice",
        "A",
        lambda o: invoice(o, invoiceValue=o.value_cents + 1),
        "invoiceValue: ",
    ),
    Case(
        "over-invoicing-after-a-partial-invoice",
        "invoice",
        "B",
        lambda o: invoice(o, invoiceValue=o.remaining_to_invoice_cents + 1),
        "invoiceValue: ",
    ),
    Case(
        "unknown-sku",
        "invoice",
        "A",
        lambda o: invoice(o, items=[line(o, id="no-such-sku")]),
        "items[0].id: SKU 'no-such-sku' is not on the order",
    ),
    Case(
        "more-than-ordered",
        "invoice",
        "A",
        lambda o: invoice(o, invoiceValue=o.value_cents, items=[line(o, quantity=o.items[0].quantity + 1)]),
        "items: SKU",
    ),
    Case(
        "slash-in-invoice-number",
        "invoice",
        "A",
        lambda o: invoice(o, invoiceNumber="NF/1"),
        "invoiceNumber: ",
    ),
    Case(
        "trailing-space-in-invoice-number",
        "invoice",
        "A",
        lambda o: invoice(o, invoiceNumber="NF-1 "),
        "invoiceNumber: ",
    ),
    Case(
        "hash-in-invoice-number",
        "invoice",
        "A",
        lambda o: invoice(o, invoiceNumber="NF#1"),
        "invoiceNumber: ",
    ),
    Case(
        "too-long-invoice-number",
        "invoice",
        "A",
        lambda o: invoice(o, invoiceNumber="N" * 60),
        "invoiceNumber: ",
    ),
    Case(
        "lines-worth-more-than-the-invoice",
        "invoice",
        "A",
        lambda o: invoice(o, invoiceValue=1, items=[line(o)]),
        "items: the lines add up to",
    ),
    Case(
        "return-before-full-invoice",
        "invoice",
        "B",
        lambda o: invoice(o, type="Input"),
        "type: an Input (return) invoice needs the order fully invoiced first",
    ),
    Case(
        "repeated-invoice-number-other-value",
        "invoice",
        "B",
        lambda o: invoice(o, invoiceNumber=B_INVOICE, invoiceValue=o.remaining_to_invoice_cents),
        "invoice_number_reused",
    ),
    Case(
        "cancel-after-invoice",
        "cancellation",
        "B",
        lambda o: {"reason": "changed mind"},
        "has Output invoices",
    ),
    Case(
        "tracking-for-unknown-invoice",
        "tracking-number",
        "A",
        lambda o: {"invoiceNumber": "NF-NONE", "trackingNumber": "T1", "courier": "C"},
        "invoiceNumber: 'NF-NONE' is not an invoice of this order",
    ),
    Case(
        "tracking-events-without-tracking-number",
        "tracking-events",
        "B",
        lambda o: {
            "invoiceNumber": B_INVOICE,
            "isDelivered": False,
            "events": [{"city": "Rio", "state": "RJ", "description": "On its way", "date": DATE}],
        },
        "invoiceNumber: invoice 'NF-B1' has no tracking number yet",
    ),
    Case(
        "change-removes-unknown-sku",
        "change",
        "A",
        lambda o: change(o, itemsRemoved=[{"id": "no-such-sku", "quantity": 1, "price": 1}]),
        "itemsRemoved: SKU 'no-such-sku' is not on the order",
    ),
    Case(
        "change-removes-more-than-ordered",
        "change",
        "A",
        lambda o: change(o, itemsRemoved=[line(o, quantity=o.items[0].quantity + 5)]),
        "itemsRemoved: SKU",
    ),
    Case("change-that-changes-nothing", "change", "A", lambda o: {"reason": "nothing"}, "changes nothing"),
    Case(
        "deny-without-a-cancellation-request",
        "cancellation-denial",
        "A",
        lambda o: {"reason": "shipped"},
        "no cancellation request to deny",
    ),
    Case("unknown-order", "cancellation", "unknown", lambda o: {"reason": "x"}, "not known to orderbridge"),
)
