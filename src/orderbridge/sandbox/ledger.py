"""`GET /_sandbox/ledger`: per order, every effect VTEX applied — the VTEX side of the invariant checker
(`orderbridge.audit`). One call answers for thousands of orders, so a checker never needs a Get order
per order.

Per order: `status`, `delivered` (invoiced and every package's courier status finished),
`start_handling` (times VTEX started it), `cancels` (times a cancellation began: the store's or ERP's
POST /cancel, or the shopper's inside the grace period), `invoices` (invoice number -> POSTs VTEX
accepted for it; 1 is the package, more are repeats), `changes` (every item change applied, in order:
`api`, `request_id`, `added` and `removed` as SKU -> units), `cancellation_requests` (the shoppers'),
`ready_at` (when the order first became ready-for-handling) and `started_at` (when VTEX first accepted its
start-handling): seconds since the epoch on the sandbox clock (real time plus the offset
`/_sandbox/clock/advance` added), null when it has not happened.
"""

from __future__ import annotations

from typing import Any

from orderbridge.sandbox.state import OmsState


def order_ledger(oms: OmsState, order_id: str) -> dict[str, Any]:
    order = oms.orders[order_id]
    stats = oms.stats
    packages = (order.get("packageAttachment") or {}).get("packages") or []
    return {
        "status": order.get("status"),
        "delivered": order.get("status") == "invoiced"
        and bool(packages)
        and all((p.get("courierStatus") or {}).get("finished") is True for p in packages),
        "start_handling": stats.start_handling.get(order_id, 0),
        "cancels": stats.cancels.get(order_id, 0),
        "invoices": dict(stats.invoice_numbers.get(order_id) or {}),
        "changes": list(stats.changes.get(order_id) or []),
        "cancellation_requests": len(order.get("cancellationRequests") or []),
        "ready_at": stats.ready_at.get(order_id),
        "started_at": stats.started_at.get(order_id),
    }


def ledger(oms: OmsState) -> dict[str, Any]:
    now = oms.clock.now()
    depth = 0
    for feed in oms.feeds.values():
        feed.purge(now)
        visible, in_flight = feed.counts(now)
        depth += visible + in_flight
    return {
        "orders": {order_id: order_ledger(oms, order_id) for order_id in oms.orders},
        "feed_depth": depth,
    }
