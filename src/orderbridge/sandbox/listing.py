"""List orders: an index with `f_status`, `f_creationDate`, paging (15 per page, ≤ 100) and
VTEX's 30-page cap. Like VTEX's, it has no `items` and may lag (`list_index_delay_s`)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from orderbridge.sandbox.clock import parse_iso
from orderbridge.sandbox.responses import OmsError
from orderbridge.sandbox.state import OmsState

_RANGE = re.compile(r"^\s*(\w+):\[(.+?) TO (.+?)\]\s*$")


def _int_param(params: dict[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise OmsError(400, "1", f"Invalid value for {name}") from exc


def _date_range(raw: str | None) -> tuple[float, float] | None:
    """`creationDate:[A TO B]` (Solr syntax, as VTEX's index); `*` is an open end."""
    if not raw:
        return None
    match = _RANGE.match(raw)
    start = _bound(match.group(2), float("-inf")) if match else None
    end = _bound(match.group(3), float("inf")) if match else None
    if start is None or end is None:
        raise OmsError(
            400, "1", "f_creationDate must look like creationDate:[2024-01-01T00:00:00.000Z TO ...]"
        )
    return start, end


def _bound(text: str, open_end: float) -> float | None:
    return open_end if text.strip() == "*" else parse_iso(text)


def _safe_row(order: dict[str, Any]) -> dict[str, Any]:
    """An imported document of odd shape still lists, with what can be read from it."""
    try:
        return _row(order)
    except (AttributeError, TypeError, ValueError):
        return {"orderId": order["orderId"], "status": order.get("status"), "items": None, "totalValue": 0}


def _row(order: dict[str, Any]) -> dict[str, Any]:
    profile = order.get("clientProfileData") or {}
    payments = [
        p.get("paymentSystemName") or ""
        for t in (order.get("paymentData") or {}).get("transactions", [])
        for p in t.get("payments", [])
    ]
    return {
        "orderId": order["orderId"],
        "creationDate": order.get("creationDate"),
        "clientName": f"{profile.get('firstName', '')} {profile.get('lastName', '')}".strip(),
        "items": None,
        "totalValue": _value(order),
        "paymentNames": ", ".join(payments),
        "status": order.get("status"),
        "statusDescription": order.get("statusDescription") or "",
        "marketPlaceOrderId": order.get("marketplaceOrderId") or None,
        "sequence": str(order.get("sequence", "")),
        "salesChannel": order.get("salesChannel", "1"),
        "affiliateId": order.get("affiliateId") or "",
        "origin": order.get("origin", "Marketplace"),
        "workflowInErrorState": bool(order.get("workflowIsInError")),
        "workflowInRetry": False,
        "lastMessageUnread": None,
        "ShippingEstimatedDate": None,
        "ShippingEstimatedDateMax": None,
        "ShippingEstimatedDateMin": None,
        "orderIsComplete": True,
        "listId": None,
        "listType": None,
        "authorizedDate": order.get("authorizedDate"),
        "callCenterOperatorName": None,
        "totalItems": _item_count(order),
        "currencyCode": (order.get("storePreferencesData") or {}).get("currencyCode", "BRL"),
        "hostname": order.get("hostname"),
        "invoiceOutput": None,
        "invoiceInput": None,
        "lastChange": order.get("lastChange"),
        "isAllDelivered": False,
        "isAnyDelivered": False,
        "giftCardProviders": None,
        "orderFormId": order.get("orderFormId"),
        "paymentApprovedDate": None,
        "readyForHandlingDate": None,
        "deliveryDates": None,
    }


def list_orders(oms: OmsState, params: dict[str, str]) -> dict[str, Any]:
    per_page = _int_param(params, "per_page", 15)
    page = _int_param(params, "page", 1)
    if not 1 <= per_page <= 100:
        raise OmsError(400, "1", "per_page must be between 1 and 100")
    if page < 1 or page > oms.config.list_max_pages:
        raise OmsError(400, "1", f"page must be between 1 and {oms.config.list_max_pages}")
    statuses = {s for s in (params.get("f_status") or "").split(",") if s}
    created = _date_range(params.get("f_creationDate"))
    visible_before = oms.clock.now() - oms.config.list_index_delay_s
    ids = oms.by_creation.ids(created)
    if (params.get("orderBy") or "creationDate,desc").lower().endswith(",desc"):
        ids.reverse()
    rows = [
        order
        for order in map(oms.orders.__getitem__, ids)
        if oms.created_at[order["orderId"]] <= visible_before
        and (not statuses or order.get("status") in statuses)
    ]
    total = len(rows)
    start = (page - 1) * per_page
    listed = [_safe_row(o) for o in rows[start : start + per_page]]
    return {
        "list": listed,
        "facets": [],
        "paging": {
            "total": total,
            "pages": min(math.ceil(total / per_page), oms.config.list_max_pages),
            "currentPage": page,
            "perPage": per_page,
        },
        "stats": {
            "stats": {
                "totalValue": _faceted(rows, _value),
                "totalItems": _faceted(rows, _item_count),
            }
        },
    }


def _faceted(rows: list[dict[str, Any]], measure: Callable[[dict[str, Any]], int]) -> dict[str, Any]:
    """Solr-like stats with the facets the spec requires (origin, currencyCode); each row measured once."""
    measured = [
        (measure(o), o.get("origin"), (o.get("storePreferencesData") or {}).get("currencyCode", "BRL"))
        for o in rows
    ]
    overall = _stat([value for value, _, _ in measured])
    currencies = {code for _, _, code in measured} | {"BRL"}
    overall["Facets"] = {
        "origin": {
            origin: _stat([value for value, of, _ in measured if of == origin])
            for origin in ("Fulfillment", "Marketplace")
        },
        "currencyCode": {
            code: _stat([value for value, _, of in measured if of == code]) for code in sorted(currencies)
        },
    }
    return overall


def _stat(values: list[int]) -> dict[str, Any]:
    count = len(values)
    mean = sum(values) / count if count else 0.0
    variance = sum((v - mean) ** 2 for v in values) / count if count else 0.0
    return {
        "Count": count,
        "Max": max(values, default=0),
        "Mean": _num(mean),
        "Min": min(values, default=0),
        "Missing": 0,
        "StdDev": _num(variance**0.5),
        "Sum": sum(values),
        "SumOfSquares": sum(v * v for v in values),
        "Facets": None,
    }


def _num(value: float) -> float | int:
    """Integral numbers as integers (the spec types some facet means as integers)."""
    return int(value) if float(value).is_integer() else value


def _item_count(order: dict[str, Any]) -> int:
    items = order.get("items")
    if not isinstance(items, list):
        return 0
    return sum(i["quantity"] for i in items if isinstance(i, dict) and isinstance(i.get("quantity"), int))


def _value(order: dict[str, Any]) -> int:
    value = order.get("value")
    return value if isinstance(value, int) else 0
