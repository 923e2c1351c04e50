"""Order changes: Change v1 (`POST .../changes`, synchronous, requestId-idempotent, 50 per order,
switchable to "deactivated") and Change v2 (`PATCH /api/order-system/orders/{id}/changes`, 202,
asynchronous). Both update items, totals, `value` and `changesAttachment`."""

from __future__ import annotations

import random
import uuid
from typing import Any

from orderbridge.sandbox.clock import iso_offset, iso_z
from orderbridge.sandbox.invoices import begin_invoicing
from orderbridge.sandbox.orders_gen import catalog_item, totals_for
from orderbridge.sandbox.responses import OmsError, new_receipt
from orderbridge.sandbox.state import OmsState
from orderbridge.sandbox.workflow import get_order, output_invoiced_cents

CHANGEABLE = ("handling", "waiting-for-fulfillment", "ready-for-invoicing")
MAX_CHANGES = 50


def _bad(code: str, message: str, status: int = 400) -> OmsError:
    return OmsError(status, code, message)


def _lines(raw: Any, field: str) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(
        isinstance(i, dict)
        and isinstance(i.get("id"), str)
        and isinstance(i.get("quantity"), int)
        and i["quantity"] > 0
        and (i.get("price") is None or isinstance(i.get("price"), int))
        for i in raw
    ):
        raise _bad("OMS030", f"Invalid modification for order: {field} needs id, price and quantity > 0")
    return raw


def apply_change(
    oms: OmsState,
    order: dict[str, Any],
    added: list[dict[str, Any]],
    removed: list[dict[str, Any]],
    discount: int,
    increment: int,
) -> None:
    """Validate and apply one change to items, totals and value (raises before touching anything)."""
    items = [dict(i) for i in order["items"]]
    for line in removed:
        item = next((i for i in items if i["id"] == line["id"]), None)
        if item is None:
            raise _bad("OMS031", f"Invalid id for item {line['id']}", 404)
        if line["quantity"] > item["quantity"]:
            raise _bad("OMS032", f"Invalid quantity to remove from item {line['id']}")
        item["quantity"] -= line["quantity"]
    items = [i for i in items if i["quantity"] > 0]
    for line in added:
        item = next((i for i in items if i["id"] == line["id"]), None)
        if item is not None:
            item["quantity"] += line["quantity"]
            continue
        new = catalog_item(
            line["id"],
            line["quantity"],
            line.get("price"),
            "1",
            order["orderGroup"],
            random.Random(f"{order['orderId']}:{line['id']}"),
        )
        if new is None:
            raise _bad("OMS031", f"Invalid id for item {line['id']}", 404)
        items.append(new)
    totals = {t["id"]: t["value"] for t in order["totals"]}
    change = totals.get("Change", 0) + increment - discount
    new_totals = totals_for(items, -totals.get("Discounts", 0), totals.get("Shipping", 0), change)
    new_value = sum(t["value"] for t in new_totals)
    if new_value < 0 or new_value < output_invoiced_cents(order):
        raise _bad("OMS033", "The value of the modification exceeds the order's price")
    for item in items:
        item["priceDefinition"] = {
            **(item.get("priceDefinition") or {}),
            "sellingPrices": [{"value": item["price"], "quantity": item["quantity"]}],
            "total": item["price"] * item["quantity"],
        }
    order["items"], order["totals"], order["value"] = items, new_totals, new_value
    for payment in order["paymentData"]["transactions"][0]["payments"][:1]:
        payment["value"] = payment["referenceValue"] = new_value


def _after_change(oms: OmsState, oid: str) -> None:
    oms.touched(oid)
    order = oms.orders[oid]
    if 0 < output_invoiced_cents(order) == order["value"] and order["status"] in CHANGEABLE:
        begin_invoicing(oms, oid)  # a change that removes the un-invoiced rest completes invoicing


def change_v1(oms: OmsState, order_id: str, body: Any) -> dict[str, Any]:
    if not oms.config.changes_v1_enabled:
        raise _bad(
            "OMS040",
            "Register modifications on order (Change v1) is deactivated since 2026-03-01; "
            "use Order modifications (PATCH /api/order-system/orders/{orderId}/changes)",
            403,
        )
    order = get_order(oms, order_id)
    oid, meta = order["orderId"], oms.meta[order["orderId"]]
    if not isinstance(body, dict) or not isinstance(body.get("requestId"), str) or not body["requestId"]:
        raise _bad("OMS034", "Field requestId not set")
    if body["requestId"] in meta.v1_requests:
        return meta.v1_requests[body["requestId"]]  # idempotency: only the first request counts
    if not isinstance(body.get("reason"), str) or not body["reason"].strip():
        raise _bad("OMS035", "Field reason not set")
    discount, increment = body.get("discountValue"), body.get("incrementValue")
    if not isinstance(discount, int) or not isinstance(increment, int) or discount < 0 or increment < 0:
        raise _bad("OMS036", "The modification value needs to be greater or equal than zero")
    if order["status"] not in CHANGEABLE:
        raise _bad(
            "OMS037",
            "It is only allowed to register an order modification when the order is in "
            "handling, waiting-for-fulfillment or ready-for-invoicing",
        )
    if meta.change_api == "v2":
        raise _bad("SalesOrderSystem015", "Change v1 and v2 cannot be mixed on one order")
    changes = (order.get("changesAttachment") or {}).get("changesData") or []
    if len(changes) >= MAX_CHANGES:
        raise _bad("OMS038", f"Max allowed modifications for order exceeded: {MAX_CHANGES}")
    added, removed = (
        _lines(body.get("itemsAdded"), "itemsAdded"),
        _lines(body.get("itemsRemoved"), "itemsRemoved"),
    )
    apply_change(oms, order, added, removed, discount, increment)
    receipt = {"date": iso_offset(oms.clock.now()), "orderId": oid, "receipt": str(uuid.uuid4())}
    changes.append(
        {
            "reason": body["reason"],
            "discountValue": discount,
            "incrementValue": increment,
            "itemsAdded": added,
            "itemsRemoved": removed,
            "receipt": receipt,
        }
    )
    order["changesAttachment"] = {"id": "changeAttachment", "changesData": changes}
    meta.v1_requests[body["requestId"]], meta.change_api = receipt, "v1"
    oms.stats.change_applied(oid, "v1", body["requestId"], added, removed)
    _after_change(oms, oid)
    return receipt


# --- Change v2 -----------------------------------------------------------------------------------


def _v2_lines(body: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Flatten add{items} / remove{items} / replace[{from{items}, to{items}}] into added and removed lines."""
    added = _lines(_items_of(body.get("add"), "add"), "add")
    removed = _lines(_items_of(body.get("remove"), "remove"), "remove")
    replace = body.get("replace") or []
    if not isinstance(replace, list):
        raise _bad("CHK0096", "replace must be a list of {from, to}")
    for op in replace:
        if not isinstance(op, dict):
            raise _bad("CHK0096", "Invalid replace operation")
        removed += _lines(_items_of(op.get("from"), "replace.from"), "replace.from")
        added += _lines(_items_of(op.get("to"), "replace.to"), "replace.to")
    return added, removed


def _items_of(part: Any, name: str) -> Any:
    if part is None:
        return None
    if not isinstance(part, dict):
        raise _bad("CHK0096", f"{name} must be an object with items")
    return part.get("items")


def change_v2(oms: OmsState, order_id: str, body: Any) -> dict[str, Any]:
    """Accept (202) and apply after `change_v2_settle_s`; the request shows `done` or `canceled`."""
    order = get_order(oms, order_id)
    oid, meta = order["orderId"], oms.meta[order["orderId"]]
    if not isinstance(body, dict) or not isinstance(body.get("reason"), str) or not body["reason"].strip():
        raise _bad("CHK0095", "Field reason is required")
    if order["status"] not in CHANGEABLE:
        raise _bad("SalesOrderSystem008", f"Order in status {order['status']} cannot be changed")
    if meta.change_api == "v1":
        raise _bad("SalesOrderSystem015", "Change v1 and v2 cannot be mixed on one order")
    requests = oms.changes_v2.setdefault(oid, [])
    if any(r["inProgress"] for r in requests):
        raise _bad("SalesOrderSystem014", "There is already a change in progress for this order", 409)
    if output_invoiced_cents(order) > 0:
        raise _bad("SalesOrderSystem046", "Items were already invoiced; the order cannot be changed")
    added, removed = _v2_lines(body)
    discount, increment = body.get("manualDiscountValue") or 0, body.get("manualIncrementValue") or 0
    if not isinstance(discount, int) or not isinstance(increment, int) or discount < 0 or increment < 0:
        raise _bad("CHK0095", "manualDiscountValue and manualIncrementValue must be integer cents >= 0")
    request = _v2_request(oms, oid, body["reason"], discount, increment)
    request["_ops"] = {"added": added, "removed": removed}
    requests.append(request)
    meta.change_api = "v2"
    oms.schedule(oms.config.change_v2_settle_s, lambda: _settle_v2(oms, oid, request))
    return public_v2(request)


def _v2_request(oms: OmsState, oid: str, reason: str, discount: int, increment: int) -> dict[str, Any]:
    return {
        "requestId": str(uuid.uuid4()),
        "workflowId": str(uuid.uuid4()),
        "status": "waiting-acknowledgement",
        "inProgress": True,
        "reason": reason,
        "manualDiscountValue": discount,
        "manualIncrementValue": increment,
        "totalChangeValue": increment - discount,
        "totals": [],
        "add": None,
        "remove": None,
        "replace": [],
        "date": iso_z(oms.clock.now()),
        "origin": {"account": oms.account_name, "orderId": oid, "component": "SellerComponent"},
        "settings": {"customPaymentSystemsAllowed": []},
        "logs": [],
    }


def _settle_v2(oms: OmsState, oid: str, request: dict[str, Any]) -> None:
    order = oms.orders.get(oid)
    ops = request["_ops"]
    if order is None or order["status"] not in CHANGEABLE:
        request.update(status="canceled", inProgress=False)
        return
    before = order["value"]
    try:
        apply_change(
            oms,
            order,
            ops["added"],
            ops["removed"],
            request["manualDiscountValue"],
            request["manualIncrementValue"],
        )
    except OmsError as exc:
        request.update(status="canceled", inProgress=False)
        request["logs"].append({"date": iso_z(oms.clock.now()), "message": exc.message})
        return
    request.update(
        status="done",
        inProgress=False,
        totalChangeValue=order["value"] - before,
        totals=[{"id": "ChangeTotal", "name": "Change total", "value": order["value"] - before}],
    )
    changes = (order.get("changesAttachment") or {}).get("changesData") or []
    changes.append(
        {
            "reason": request["reason"],
            "discountValue": max(0, before - order["value"]),
            "incrementValue": max(0, order["value"] - before),
            "itemsAdded": ops["added"],
            "itemsRemoved": ops["removed"],
            "receipt": {"date": iso_offset(oms.clock.now()), "orderId": oid, "receipt": new_receipt()},
        }
    )
    order["changesAttachment"] = {"id": "changeAttachment", "changesData": changes}
    oms.stats.change_applied(oid, "v2", request["requestId"], ops["added"], ops["removed"])
    _after_change(oms, oid)


def public_v2(request: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in request.items() if not k.startswith("_")}


def get_v2(oms: OmsState, order_id: str, request_id: str | None) -> dict[str, Any]:
    order = get_order(oms, order_id)
    requests = oms.changes_v2.get(order["orderId"], [])
    if request_id is None:
        listed = [
            {k: v for k, v in public_v2(r).items() if k not in ("status", "inProgress", "logs")}
            for r in requests
        ]
        for item in listed:
            item["add"] = item["remove"] = None
        return {"requests": listed, "actions": []}
    match = next((r for r in requests if r["requestId"] == request_id), None)
    if match is None:
        raise _bad("SalesOrderSystem004", "Change request not found", 404)
    return public_v2(match)
