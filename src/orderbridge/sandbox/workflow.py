"""The order workflow (complete flow, §3.1 of the reference): start-handling, cancel, the shopper's
cancellation and its denial. Transient statuses (`start-handling`, `cancel`) are real statuses with
their own events; `cancel` -> `canceled` settles asynchronously."""

from __future__ import annotations

import uuid
from typing import Any

from orderbridge.sandbox.clock import iso_offset
from orderbridge.sandbox.responses import OmsError, ProblemError, new_receipt
from orderbridge.sandbox.state import OmsState

FINAL = ("invoiced", "canceled")
NOT_CANCELABLE_BY_STORE = ("invoice", "invoiced", "canceled", "cancel", "replaced", None)


def get_order(oms: OmsState, order_id: str) -> dict[str, Any]:
    order = oms.find(order_id)
    if order is None:
        raise OmsError(404, "OMS007", "Order Not Found")
    return order


def start_handling(oms: OmsState, order_id: str) -> None:
    order = get_order(oms, order_id)
    if order["status"] != "ready-for-handling":
        raise OmsError(409, "OMS003", "Order status should be ready-for-handling to perform this action")
    oms.set_status(order["orderId"], "start-handling")
    oms.set_status(order["orderId"], "handling")
    oms.stats.start_handling[order["orderId"]] += 1
    oms.stats.started_at.setdefault(order["orderId"], oms.clock.now())


def output_invoiced_cents(order: dict[str, Any]) -> int:
    packages = (order.get("packageAttachment") or {}).get("packages") or []
    return sum(int(p.get("invoiceValue") or 0) for p in packages if p.get("type", "Output") == "Output")


def cancel(oms: OmsState, order_id: str, reason: str | None, requested_by_user: bool) -> dict[str, Any]:
    """The store/ERP's POST /cancel. Refused once anything was invoiced (400)."""
    order = get_order(oms, order_id)
    oid, meta = order["orderId"], oms.meta[order["orderId"]]
    if order["status"] in ("cancel", "canceled") and meta.cancel_receipt is not None:
        return meta.cancel_receipt  # repeated cancel: same receipt, nothing new happens
    if output_invoiced_cents(order) > 0 or order["status"] in ("invoice", "invoiced"):
        raise OmsError(400, "OMS011", "Order cannot be canceled because it has invoices")
    if order["status"] in NOT_CANCELABLE_BY_STORE:
        raise OmsError(400, "OMS012", f"Order in status {order['status']} cannot be canceled")
    receipt = {"date": iso_offset(oms.clock.now()), "orderId": oid, "receipt": new_receipt()}
    if oms.config.seller_cancel_mode == "request" and order["status"] in ("ready-for-handling", "handling"):
        _request_cancellation(oms, order, reason or "", requested_by_user=False)
        return receipt
    meta.cancel_receipt = receipt
    _begin_cancel(oms, order, reason, requested_by_user=requested_by_user)
    oms.stats.cancels[oid] += 1
    return receipt


def _begin_cancel(oms: OmsState, order: dict[str, Any], reason: str | None, requested_by_user: bool) -> None:
    oid = order["orderId"]
    now = iso_offset(oms.clock.now())
    order["cancelReason"] = reason
    order["cancellationData"] = {
        "RequestedByUser": requested_by_user,
        "RequestedBySystem": False,
        "RequestedBySellerNotification": not requested_by_user,
        "RequestedByPaymentNotification": False,
        "Reason": reason,
        "CancellationDate": now,
    }
    order["allowCancellation"] = False
    oms.set_status(oid, "cancel")

    def settle() -> None:
        if oms.orders[oid]["status"] == "cancel":
            oms.set_status(oid, "canceled")

    oms.schedule(oms.config.cancel_settle_s, settle)


def _request_cancellation(oms: OmsState, order: dict[str, Any], reason: str, requested_by_user: bool) -> None:
    oid = order["orderId"]
    requests = order.get("cancellationRequests") or []
    requests.append(
        {
            "id": str(uuid.uuid4()),
            "reason": reason,
            "cancellationRequestDate": iso_offset(oms.clock.now()),
            "requestedByUser": requested_by_user,
            "deniedBySeller": False,
            "deniedBySellerReason": None,
            "cancellationRequestDenyDate": None,
        }
    )
    order["cancellationRequests"] = requests
    oms.meta[oid].status_before_request = order["status"]
    oms.set_status(oid, "cancellation-requested")


def customer_cancel(oms: OmsState, order_id: str, reason: str) -> dict[str, Any]:
    """A shopper cancels in My Account: inside the grace period it cancels; after it, it asks."""
    order = get_order(oms, order_id)
    status = order["status"]
    if status == "window-to-cancel":
        _begin_cancel(oms, order, reason, requested_by_user=True)
        oms.stats.cancels[order["orderId"]] += 1
    elif status in ("ready-for-handling", "handling") and output_invoiced_cents(order) == 0:
        _request_cancellation(oms, order, reason, requested_by_user=True)
    else:
        raise ProblemError(409, f"A shopper cannot cancel an order in status {status}")
    return {
        "orderId": order["orderId"],
        "status": order["status"],
        "cancellationRequests": order.get("cancellationRequests"),
    }


def deny_cancellation(oms: OmsState, order_id: str, body: Any) -> None:
    """`deny-cancellation-request`: back to the status the order had before the request."""
    order = oms.find(order_id)
    if order is None:
        raise ProblemError(404, "Order not found")
    if not isinstance(body, dict) or not isinstance(body.get("cancellationRequestId"), str):
        raise ProblemError(
            400,
            "One or more validation errors occurred.",
            {"CancellationRequestId": ["The CancellationRequestId field is required."]},
        )
    requests = order.get("cancellationRequests") or []
    match = next((r for r in requests if r["id"] == body["cancellationRequestId"]), None)
    if match is None:
        raise ProblemError(400, "Cancellation request not found")
    if order["status"] != "cancellation-requested" or match["deniedBySeller"]:
        raise ProblemError(400, f"Cancellation request cannot be denied in status {order['status']}")
    match.update(
        deniedBySeller=True,
        deniedBySellerReason=body.get("denyReason"),
        cancellationRequestDenyDate=iso_offset(oms.clock.now()),
    )
    previous = oms.meta[order["orderId"]].status_before_request or "ready-for-handling"
    oms.set_status(order["orderId"], previous)
