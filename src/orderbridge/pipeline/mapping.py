"""VTEX's order document → the normalized `core.OrderSnapshot` that decisions and validation read."""

from __future__ import annotations

from typing import Any

from orderbridge.core.orders import InvoiceKind, InvoicePackage, OrderItem, OrderSnapshot, PackageItem
from orderbridge.vtex import Order
from orderbridge.vtex.models.order import CancellationRequest, ChangeData, ChangeItem, Package
from orderbridge.vtex.models.order import OrderItem as VtexItem


def order_to_snapshot(order: Order) -> OrderSnapshot:
    return OrderSnapshot(
        order_id=order.order_id,
        status=order.status or None,
        value_cents=order.value,
        # The exact strings VTEX sent: they order changes and key dedupe without rounding.
        last_change=_exact_text(order, order.last_change_text, "lastChange"),
        creation_date=_exact_text(order, order.creation_date_text, "creationDate"),
        sequence=order.sequence or "",
        items=_items(order),
        packages=tuple(_package(p) for p in order.packages if p.invoice_number),
        open_cancellation_request_id=_open_request_id(order.cancellation_requests),
        extra=_extra(order),
        # Only an explicit false holds the order back: documents older than the field lack it.
        is_completed=order.is_completed is not False,
    )


def _exact_text(order: Order, text: Any, key: str) -> str:
    if text is None:  # absent from the document, or a model built in code (whose dump has it)
        text = order.raw.get(key)
    return str(text or "")


def _items(order: Order) -> tuple[OrderItem, ...]:
    units = [_selling(item) for item in order.items]
    units = _net_of_order_discounts(order, units)
    return tuple(
        OrderItem(
            index=index,
            sku_id=item.id,
            name=item.name or "",
            quantity=item.quantity,
            unit_price_cents=unit,
            unique_id=item.unique_id or "",
        )
        for index, (item, unit) in enumerate(zip(order.items, units, strict=True))
    )


def _selling(item: VtexItem) -> int:
    unit = item.selling_price if item.selling_price is not None else item.price
    return unit or 0


def _net_of_order_discounts(order: Order, units: list[int]) -> list[int]:
    """Unit prices the shopper actually pays.

    VTEX normally folds discounts into each item's `sellingPrice` (then Σ sellingPrice × quantity equals
    the Items total plus the (negative) Discounts total). When a document carries an order-level discount
    that the selling prices do not reflect, the discount is spread over the items in proportion, rounded
    down — so an invoice of every remaining line at these prices never exceeds the order's value.
    """
    totals = {t.id: t.value for t in order.totals}
    if "Items" not in totals or not totals.get("Discounts"):
        return units
    paid = totals["Items"] + totals["Discounts"]
    selling = sum(unit * item.quantity for unit, item in zip(units, order.items, strict=True))
    if selling <= paid or selling <= 0 or paid < 0:
        return units
    return [unit * paid // selling for unit in units]


def _package(package: Package) -> InvoicePackage:
    kind: InvoiceKind = "Input" if package.type == "Input" else "Output"
    status = package.courier_status
    return InvoicePackage(
        invoice_number=package.invoice_number or "",
        kind=kind,
        value_cents=package.invoice_value or 0,
        items=tuple(
            PackageItem(item_index=i.item_index or 0, quantity=i.quantity, unit_price_cents=i.price or 0)
            for i in package.items
        ),
        tracking_number=package.tracking_number or None,
        delivered=bool(status and status.finished),
    )


def _open_request_id(requests: list[CancellationRequest]) -> str | None:
    """The newest request the seller has not denied yet (VTEX keeps denied ones in the list)."""
    open_ones = [r for r in requests if not r.denied_by_seller]
    return open_ones[-1].id if open_ones else None


def _extra(order: Order) -> dict[str, Any]:
    data = order.cancellation_data
    reason = order.cancel_reason or (data.reason if data else None)
    changes = order.changes_attachment.changes_data if order.changes_attachment else []
    extra: dict[str, Any] = {"cancel_reason": reason, "changes": len(changes)}
    if changes:  # what each change did, so an ERP can find its own by content (`applied_changes`)
        extra["change_log"] = [_change_entry(change) for change in changes]
    return extra


def _change_entry(change: ChangeData) -> dict[str, Any]:
    return {
        "reason": change.reason or "",
        "removed": _per_sku(change.items_removed),
        "added": _per_sku(change.items_added),
    }


def _per_sku(items: list[ChangeItem]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for item in items:
        if item.id:
            totals[item.id] = totals.get(item.id, 0) + item.quantity
    return totals
