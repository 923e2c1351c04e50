"""Invoices, tracking numbers and tracking events (§6.1–6.2 of the reference).

`invoiced` only when Output invoices reach the order value; partial invoices add packages;
`Input` (return) only after full invoicing; a repeated invoiceNumber is the same package with a
new receipt; over-invoicing is refused. Remaining = value - ΣOutput (Inputs never count, KI 930491).
"""

from __future__ import annotations

from typing import Any

from orderbridge.sandbox.clock import iso_offset, parse_iso
from orderbridge.sandbox.responses import OmsError, new_receipt
from orderbridge.sandbox.state import OmsState
from orderbridge.sandbox.workflow import get_order, output_invoiced_cents

INVOICEABLE = ("handling", "waiting-for-fulfillment", "ready-for-invoicing")


def _bad(message: str, code: str = "OMS020") -> OmsError:
    return OmsError(400, code, message)


def _cents(raw: Any) -> int:
    """`invoiceValue` is a string of cents in the spec; integers are accepted too."""
    if isinstance(raw, bool):
        raise _bad("invoiceValue must be an amount in cents")
    try:
        value = int(raw) if isinstance(raw, int) else int(str(raw).strip())
    except ValueError as exc:
        raise _bad("invoiceValue must be an amount in cents") from exc
    if value <= 0:
        raise _bad("invoiceValue must be greater than zero")
    return value


def _validate(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _bad("A JSON body is required")
    for key in ("type", "issuanceDate", "invoiceNumber", "invoiceValue", "items"):
        if key not in body:
            raise _bad(f"Field {key} is required")
    if body["type"] not in ("Output", "Input"):
        raise _bad("type must be Output or Input")
    number = body["invoiceNumber"]
    if not isinstance(number, str) or not number.strip():
        raise _bad("invoiceNumber is required")
    if not isinstance(body["issuanceDate"], str) or parse_iso(body["issuanceDate"]) is None:
        raise _bad("issuanceDate must be an ISO 8601 date")
    if not isinstance(body["items"], list) or not body["items"]:
        raise _bad("items must list the invoiced items")
    for item in body["items"]:
        if not (
            isinstance(item, dict)
            and isinstance(item.get("id"), str)
            and isinstance(item.get("quantity"), int)
            and item["quantity"] > 0
            and isinstance(item.get("price"), int)
            and item["price"] >= 0
        ):
            raise _bad("each item needs id (string), price (int cents) and quantity (int > 0)")
    return body


def _package_items(order: dict[str, Any], items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    index = {line["id"]: i for i, line in enumerate(order["items"])}
    out = []
    for item in items:
        if item["id"] not in index:
            raise _bad(f"Item {item['id']} is not in the order", "OMS021")
        out.append(
            {
                "itemIndex": index[item["id"]],
                "quantity": item["quantity"],
                "price": item["price"],
                "description": item.get("description"),
                "unitMultiplier": 1,
            }
        )
    return out


def post_invoice(oms: OmsState, order_id: str, body: Any) -> dict[str, Any]:
    order = get_order(oms, order_id)
    oid = order["orderId"]
    body = _validate(body)
    value = _cents(body["invoiceValue"])
    packages = order.setdefault("packageAttachment", {"packages": []}).setdefault("packages", [])
    existing = next((p for p in packages if p["invoiceNumber"] == body["invoiceNumber"]), None)
    receipt = {"date": iso_offset(oms.clock.now()), "orderId": oid, "receipt": new_receipt()}
    oms.stats.invoices[oid]["posts"] += 1
    if existing is not None:  # same number again: same package, only a new receipt
        oms.stats.invoices[oid]["repeats"] += 1
        oms.stats.invoice_numbers[oid][body["invoiceNumber"]] += 1
        oms.meta[oid].invoice_receipts[body["invoiceNumber"]] = receipt["receipt"]
        return receipt
    if body["type"] == "Output":
        _check_output(order, value)
    else:
        _check_input(order)
    packages.append(_package(order, body, value))
    oms.meta[oid].invoice_receipts[body["invoiceNumber"]] = receipt["receipt"]
    oms.stats.invoices[oid]["packages"] += 1
    oms.stats.invoice_numbers[oid][body["invoiceNumber"]] += 1
    if body["type"] == "Output":
        oms.stats.invoices[oid]["output_cents"] += value
    order["allowCancellation"] = False
    oms.touched(oid)
    if body["type"] == "Output" and output_invoiced_cents(order) == order["value"]:
        begin_invoicing(oms, oid)
    return receipt


def _check_output(order: dict[str, Any], value: int) -> None:
    if order["status"] not in INVOICEABLE:
        raise _bad(f"Order in status {order['status']} cannot receive an Output invoice", "OMS022")
    remaining = order["value"] - output_invoiced_cents(order)
    if value > remaining:
        raise _bad(f"Invoice value {value} exceeds the value left to invoice ({remaining})", "OMS023")


def _check_input(order: dict[str, Any]) -> None:
    if order["status"] not in ("invoice", "invoiced") or output_invoiced_cents(order) < order["value"]:
        raise _bad("A return (Input) invoice needs a fully invoiced order", "OMS024")


def _package(order: dict[str, Any], body: dict[str, Any], value: int) -> dict[str, Any]:
    package = {
        "items": _package_items(order, body["items"]),
        "courier": body.get("courier"),
        "invoiceNumber": body["invoiceNumber"],
        "invoiceValue": value,
        "invoiceUrl": body.get("invoiceUrl"),
        "issuanceDate": body["issuanceDate"],
        "trackingNumber": body.get("trackingNumber") or None,
        "invoiceKey": body.get("invoiceKey"),
        "trackingUrl": body.get("trackingUrl") or None,
        "embeddedInvoice": body.get("embeddedInvoice") or "",
        "type": body["type"],
        "courierStatus": {"status": "unknown", "finished": False, "deliveredDate": None, "data": []},
        "cfop": None,
        "restitutions": {},
        "volumes": 1,
        "EnableInferItems": None,
        "dispatchedDate": body.get("dispatchedDate") or None,
    }
    if body["type"] == "Input":
        package["restitutions"] = {
            "Refund": {
                "value": value,
                "giftCardData": None,
                "items": [
                    {
                        "useFreight": False,
                        "isCompensation": False,
                        "compensationValue": 0,
                        "id": i["id"],
                        "quantity": i["quantity"],
                        "price": i["price"],
                        "description": i.get("description"),
                    }
                    for i in body["items"]
                ],
            }
        }
    return package


def begin_invoicing(oms: OmsState, oid: str) -> None:
    """Verifying invoice (`invoice`) first; `invoiced` once payments settle."""
    oms.set_status(oid, "invoice")

    def settle() -> None:
        order = oms.orders[oid]
        if order["status"] == "invoice":
            order["invoicedDate"] = iso_offset(oms.clock.now())
            oms.set_status(oid, "invoiced")

    oms.schedule(oms.config.invoice_settle_s, settle)


def _find_package(order: dict[str, Any], invoice_number: str) -> dict[str, Any]:
    packages = (order.get("packageAttachment") or {}).get("packages") or []
    package: dict[str, Any] | None = next((p for p in packages if p["invoiceNumber"] == invoice_number), None)
    if package is None:
        raise OmsError(404, "OMS025", "Invoice Not Found")
    return package


def patch_invoice(oms: OmsState, order_id: str, invoice_number: str, body: Any) -> dict[str, Any]:
    """Add a tracking number (and URL, courier, dispatch date) to an existing invoice."""
    order = get_order(oms, order_id)
    package = _find_package(order, invoice_number)
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("trackingNumber"), str)
        or not body["trackingNumber"].strip()
    ):
        raise _bad("trackingNumber is required")
    package.update(
        trackingNumber=body["trackingNumber"],
        trackingUrl=body.get("trackingUrl"),
        courier=body.get("courier"),
        dispatchedDate=body.get("dispatchedDate"),
    )
    oms.touched(order["orderId"])
    return {"date": iso_offset(oms.clock.now()), "orderId": order["orderId"], "receipt": new_receipt()}


def put_tracking(oms: OmsState, order_id: str, invoice_number: str, body: Any) -> dict[str, Any]:
    """Tracking events, only for invoices that have a tracking number; isDelivered -> courierStatus."""
    order = get_order(oms, order_id)
    package = _find_package(order, invoice_number)
    if not package.get("trackingNumber"):
        raise _bad("Invoice has no tracking number; PATCH the invoice with one first", "OMS026")
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("isDelivered"), bool)
        or not isinstance(body.get("events"), list)
    ):
        raise _bad("isDelivered (bool), deliveredDate and events (list) are required")
    now = iso_offset(oms.clock.now())
    data = [
        {
            "lastChange": now,
            "city": e.get("city"),
            "state": e.get("state"),
            "description": e.get("description"),
            "createDate": e.get("date"),
        }
        for e in body["events"]
        if isinstance(e, dict)
    ]
    delivered = body["isDelivered"]
    package["courierStatus"] = {
        "status": "delivered" if delivered else "ok",
        "finished": delivered,
        "deliveredDate": (body.get("deliveredDate") or now) if delivered else None,
        "data": data,
    }
    oms.touched(order["orderId"])
    return {"date": now, "orderId": order["orderId"], "receipt": new_receipt()}
