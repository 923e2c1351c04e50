"""Models read every VTEX example as documented, keep what they do not type, and write VTEX's shapes."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orderbridge.vtex import (
    ChangeV1Request,
    FeedConfig,
    FeedItem,
    HookConfig,
    HookNotification,
    HookPing,
    Invoice,
    Order,
    OrderPage,
    Receipt,
    TrackingEvents,
    TrackingNumberPatch,
    parse_hook_body,
)

Load = Callable[[str], Any]
ORDER_EXAMPLES = ["get-order.openapi-example.json", "get-order.real-2015-fastshop-sandbox-invoiced.json"]
PAYLOADS = "feed-hook-and-action-payloads.spec-examples.json"


def test_every_get_order_example_in_shared_is_covered(examples_dir: Path) -> None:
    found = sorted(p.name for p in examples_dir.glob("get-order*.json"))
    assert found == sorted(ORDER_EXAMPLES), "a new example appeared: add it to ORDER_EXAMPLES"


@pytest.mark.parametrize("name", ORDER_EXAMPLES)
def test_order_examples_round_trip_with_the_raw_document_unchanged(load_example: Load, name: str) -> None:
    doc = load_example(name)
    pristine = copy.deepcopy(doc)

    order = Order.model_validate(doc)

    assert order.raw is doc
    assert order.raw == pristine, "validation must not alter the stored document"
    dumped = order.model_dump(mode="json", by_alias=True)
    assert set(pristine) <= set(dumped), "unknown fields are kept, not dropped"
    again = Order.model_validate(dumped)
    assert again.model_dump(mode="json", by_alias=True) == dumped


def test_the_real_invoiced_order_reads_as_integer_cents(load_example: Load) -> None:
    order = Order.from_raw(load_example("get-order.real-2015-fastshop-sandbox-invoiced.json"))

    assert (order.order_id, order.sequence, order.status) == ("566880726117-01", "500001", "invoiced")
    assert order.value == 80500 == sum(t.value for t in order.totals)
    assert order.items[0].price == 80000 and order.items[0].quantity == 1
    assert order.invoiced_cents() == 80500
    package = order.packages[0]
    assert (
        package.invoice_number,
        package.type,
        package.courier_status and package.courier_status.status,
    ) == (
        "500617",
        "Output",
        "unknown",
    )
    assert order.changes_attachment is None
    assert order.creation_date is not None and order.creation_date.microsecond == 893889


def test_the_openapi_example_exposes_the_typed_fields_the_pipeline_needs(load_example: Load) -> None:
    order = Order.from_raw(load_example("get-order.openapi-example.json"))

    assert order.is_completed is True and order.workflow_is_in_error is False
    assert order.items[0].unique_id == "94913BB553334977BFD669A24E678C69"
    assert order.items[0].selling_price == order.raw["items"][0]["sellingPrice"]
    assert order.cancellation_data is not None
    assert order.cancellation_data.requested_by_user is True
    assert order.cancellation_data.reason == "Item size was too large."
    assert order.changes_attachment is not None
    assert order.changes_attachment.changes_data[0].discount_value == 3290
    assert order.model_extra is not None and "storePreferencesData" in order.model_extra


@pytest.mark.parametrize(
    "cancellation",
    [
        {
            "cancellationData": {
                "Reason": "r",
                "RequestedByUser": True,
                "CancellationDate": "2024-02-11T09:14:41Z",
            }
        },
        {
            "cancellationData": {
                "reason": "r",
                "requestedByUser": True,
                "cancellationDate": "2024-02-11T09:14:41Z",
            }
        },
        {
            "CancellationData": {
                "Reason": "r",
                "RequestedByUser": True,
                "CancellationDate": "2024-02-11T09:14:41Z",
            }
        },
    ],
)
def test_camel_and_pascal_cancellation_data_read_alike(cancellation: dict[str, Any]) -> None:
    order = Order.model_validate({"orderId": "1-01", **cancellation})

    assert order.cancellation_data is not None
    assert (order.cancellation_data.reason, order.cancellation_data.requested_by_user) == ("r", True)
    assert order.cancellation_data.cancellation_date is not None


@pytest.mark.parametrize("status", ["", None])
def test_an_incomplete_order_with_empty_or_null_status_is_accepted(status: str | None) -> None:
    order = Order.model_validate({"orderId": "1-01", "status": status, "items": None, "totals": None})

    assert order.status == status
    assert order.items == [] and order.totals == []


def test_odd_values_do_not_make_an_order_unreadable() -> None:
    order = Order.model_validate(
        {
            "orderId": "1-01",
            "creationDate": "not a date",
            "value": 1999.0,
            "items": [{"id": 42, "quantity": 1}],
        }
    )

    assert order.creation_date is None
    assert order.value == 1999
    assert order.items[0].id == "42"
    assert order.raw["creationDate"] == "not a date"


def test_feed_items_from_the_spec_example_are_typed(load_example: Load) -> None:
    example = load_example(PAYLOADS)["GET /api/orders/feed 200 (spec example)"]

    items = [FeedItem.model_validate(item) for item in example]

    assert items[0].order_id == "953712004126-01"
    assert items[0].last_state == "window-to-cancel"
    assert items[0].current_change_at is not None
    assert items[0].model_dump(by_alias=True, exclude_none=True) == example[0]


def test_hook_notifications_from_the_spec_example_are_typed(load_example: Load) -> None:
    example = load_example(PAYLOADS)[
        "POST /api/orders/hook/config 200 (spec example; same shape as a hook notification)"
    ]

    note = parse_hook_body(example)

    assert isinstance(note, HookNotification)
    assert (note.order_id, note.state, note.last_state) == (
        "v52277740atmc-01",
        "ready-for-handling",
        "window-to-cancel",
    )
    assert note.origin is not None and note.origin.account == "automacaoqa"
    assert note.model_dump(by_alias=True) == example


def test_the_guide_shaped_hook_notification_without_last_state_is_accepted() -> None:
    note = HookNotification.model_validate(
        {
            "Domain": "Marketplace",
            "OrderId": "v40484048naf-01",
            "State": "payment-approved",
            "LastChange": "2019-07-29T23:17:30.0617185Z",
            "Origin": {"Account": "accountABC", "Key": "vtexappkey-keyEDF"},
        }
    )
    assert note.last_state is None and note.current_change_at is not None


def test_a_hook_ping_is_told_apart_from_a_notification() -> None:
    assert isinstance(parse_hook_body({"hookConfig": "ping"}), HookPing)


def test_feed_config_examples_read_both_key_casings(load_example: Load) -> None:
    payloads = load_example(PAYLOADS)
    read = FeedConfig.model_validate(payloads["GET /api/orders/feed/config 200 (spec example)"])
    request = payloads["POST /api/orders/feed/config request (spec example)"]

    assert read.filter.expression == 'status = "payment-pending"'
    assert read.queue.message_retention_period_in_seconds == 345600
    assert read.quantity == 127
    assert FeedConfig.model_validate(request).to_vtex() == request


def test_hook_config_examples_validate_and_serialize_back(load_example: Load) -> None:
    payloads = load_example(PAYLOADS)
    for key in (
        "POST /api/orders/hook/config request (spec example, FromOrders)",
        "POST /api/orders/hook/config request (spec schema example, FromWorkflow)",
    ):
        assert HookConfig.model_validate(payloads[key]).to_vtex() == payloads[key]


def test_request_examples_from_the_spec_are_produced_exactly(load_example: Load) -> None:
    payloads = load_example(PAYLOADS)
    for model, key in (
        (ChangeV1Request, "POST /api/oms/pvt/orders/{orderId}/changes request (spec example)"),
        (
            TrackingNumberPatch,
            "PATCH /api/oms/pvt/orders/{orderId}/invoice/{invoiceNumber} request (spec example)",
        ),
        (
            TrackingEvents,
            "PUT /api/oms/pvt/orders/{orderId}/invoice/{invoiceNumber}/tracking request (spec example)",
        ),
    ):
        example = payloads[key]
        body = json.loads(json.dumps(model.model_validate(example).to_vtex()))
        # Dates are re-emitted in ISO form with microseconds (VTEX sends 7 fractional digits).
        if "dispatchedDate" in example:
            assert body.pop("dispatchedDate").startswith(example["dispatchedDate"][:26])
            example = {k: v for k, v in example.items() if k != "dispatchedDate"}
        assert body == example, key


def test_the_invoice_example_round_trips_with_value_as_a_string_of_cents(load_example: Load) -> None:
    example = load_example(PAYLOADS)["POST /api/oms/pvt/orders/{orderId}/invoice request (spec example)"]

    invoice = Invoice.model_validate(example)
    body = invoice.to_vtex()

    assert invoice.invoice_value == 2499
    assert body["invoiceValue"] == "2499"
    assert body["items"] == example["items"]
    assert {k: v for k, v in body.items() if k not in ("issuanceDate", "dispatchedDate")} == {
        k: v for k, v in example.items() if k not in ("issuanceDate", "dispatchedDate")
    }


def test_invoices_refuse_unknown_fields_and_non_positive_values() -> None:
    base = {
        "issuanceDate": "2026-11-27T10:00:00Z",
        "invoiceNumber": "1",
        "items": [{"id": "1", "price": 1, "quantity": 1}],
    }
    with pytest.raises(ValueError, match="invoiceValue"):
        Invoice.model_validate({**base, "invoiceValue": 0})
    with pytest.raises(ValueError, match="typo"):
        Invoice.model_validate({**base, "invoiceValue": 1, "typo": True})


def test_receipts_from_the_spec_examples_are_typed(load_example: Load) -> None:
    payloads = load_example(PAYLOADS)
    receipt = Receipt.model_validate(payloads["POST /api/oms/pvt/orders/{orderId}/cancel 200 (spec example)"])

    assert (receipt.order_id, receipt.receipt) == ("123543123", "38e0e47da2934847b489216d208cfd91")


def test_the_list_orders_example_from_the_spec_reads_as_summaries(examples_dir: Path) -> None:
    spec = json.loads((examples_dir / "VTEX - Orders API.json").read_text(encoding="utf-8"))
    content = spec["paths"]["/api/oms/pvt/orders"]["get"]["responses"]["200"]["content"]
    example = next(iter(content.values()))["example"]

    page = OrderPage.model_validate(example)

    assert len(page.orders) == len(example["list"]) > 0
    assert page.orders[0].order_id == "1306331686122-01"
    assert page.orders[0].total_value == 7453


@pytest.mark.parametrize("name", ORDER_EXAMPLES)
def test_an_order_read_from_its_json_text_types_the_same_fields_and_keeps_the_text_as_is(
    load_example: Load, name: str
) -> None:
    doc = load_example(name)
    text = json.dumps(doc).encode()

    order = Order.from_json(text)

    assert order.raw_json is text
    assert order.raw == doc
    typed = Order.from_raw(doc).model_dump(mode="json", by_alias=True, exclude_unset=True)
    assert order.model_dump(mode="json", by_alias=True, exclude_unset=True) == {
        key: value for key, value in typed.items() if key not in (Order.from_raw(doc).model_extra or {})
    }
    assert order.last_change_text == doc.get("lastChange")


def test_an_order_whose_json_text_is_not_json_is_refused() -> None:
    with pytest.raises(ValueError):
        Order.from_json(b'{"orderId": "1-01", ')


def test_a_handover_given_the_document_as_json_text_decodes_it_on_first_use_only() -> None:
    from orderbridge.core.orders import OrderSnapshot
    from orderbridge.erp.port import HandoverOrder

    handover = HandoverOrder(
        "shop", "1-01", OrderSnapshot("1-01", "ready-for-handling", 100), b'{"orderId": "1-01"}'
    )

    assert handover.document == b'{"orderId": "1-01"}'
    assert handover.raw == {"orderId": "1-01"}
    assert handover.raw is handover.raw and handover.document == {"orderId": "1-01"}
