"""The demo's verdict, computed from ground truth only: what the sandbox (VTEX) and the warehouse (ERP)
recorded — never what the pipeline believes about itself. The definitions are in docs/demo.md.

Pure functions over three inputs, so they are tested without any server:
- `stats`: the sandbox's `GET /_sandbox/stats` body (start-handling and invoice counters, feed depth);
- `handovers`: the warehouse's handover log, `(account, order_id) -> times received`;
- `orders`: the final Get-order document of every created order (status, packages, courier status).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from orderbridge.audit import InvariantReport

# A status an order holds while VTEX's grace period still lets the shopper cancel it outright:
# the pipeline does not take it yet, so not having it is not a loss.
BEFORE_HANDOVER = frozenset({"window-to-cancel", "payment-pending", "payment-approved", "order-created"})


@dataclass(frozen=True)
class DemoSummary:
    """The figures `orderbridge demo` prints; `to_json()` is the `--json` object (issue 4's keys first)."""

    created: int
    handed_over_distinct: int
    handed_over_total: int
    started: int
    invoiced: int
    delivered: int
    canceled: int
    parked: int
    lost: int
    duplicated: int
    feed_depth: int
    elapsed_s: float
    orders_per_s: float
    unfinished: int = 0
    stranded: int = 0
    invoice_posts: int = 0
    invoice_packages: int = 0
    invoice_repeats: int = 0
    lost_ids: tuple[str, ...] = ()
    duplicated_ids: tuple[str, ...] = ()
    unfinished_ids: tuple[str, ...] = ()
    stranded_ids: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """The demo's exit status: nothing lost, doubled or stranded."""
        return self.lost == 0 and self.duplicated == 0 and self.stranded == 0

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        extra = body.pop("extra")
        for key in ("lost_ids", "duplicated_ids", "unfinished_ids", "stranded_ids"):
            body[key] = list(body[key])
        return {**body, **extra}


def is_delivered(order: Mapping[str, Any]) -> bool:
    """Invoiced, and every package's courier status says the delivery finished."""
    packages = (order.get("packageAttachment") or {}).get("packages") or []
    return (
        order.get("status") == "invoiced"
        and bool(packages)
        and all((p.get("courierStatus") or {}).get("finished") is True for p in packages)
    )


def duplicated_ids(
    order_ids: Iterable[str], stats: Mapping[str, Any], handovers: Mapping[str, int]
) -> list[str]:
    """Orders the ERP received twice, VTEX started twice, or whose invoice was posted twice."""
    started = stats.get("start_handling") or {}
    invoices = stats.get("invoices") or {}
    doubled = []
    for order_id in order_ids:
        invoice_doubled = invoice_repeats(invoices.get(order_id) or {}) > 0
        if handovers.get(order_id, 0) > 1 or started.get(order_id, 0) > 1 or invoice_doubled:
            doubled.append(order_id)
    return doubled


def invoice_repeats(row: Mapping[str, int]) -> int:
    """POSTs of an invoice the order already had. A sandbox without the `repeats` counter only tells
    posts from packages, which also counts POSTs VTEX refused: then err on the side of alarm."""
    if "repeats" in row:
        return int(row["repeats"])
    return max(int(row.get("posts", 0)) - int(row.get("packages", 0)), 0)


def is_lost(order: Mapping[str, Any], handed_over: bool) -> bool:
    """Past VTEX's grace period, not canceled, and the ERP never received it."""
    status = order.get("status")
    return not handed_over and status != "canceled" and status not in BEFORE_HANDOVER


def is_parked(order: Mapping[str, Any], handed_over: bool, started: bool) -> bool:
    """The ERP has it but VTEX never started it and it is not canceled: waiting for a person."""
    return handed_over and not started and order.get("status") != "canceled"


def with_invariants(summary: DemoSummary, report: InvariantReport) -> DemoSummary:
    """The verdict with the invariant checker's (`orderbridge.audit`): doubled item changes, cancels and
    invoices beyond the ERP's plan count as duplicated too; orders stranded are counted apart."""
    doubled = sorted({*summary.duplicated_ids, *report.doubled_ids})
    judged = replace(
        summary,
        duplicated=len(doubled),
        duplicated_ids=tuple(doubled),
        stranded=len(report.stranded_ids),
        stranded_ids=tuple(report.stranded_ids),
    )
    judged.extra["invariants"] = {
        kind: [v.to_json() for v in found] for kind, found in report.violations.items()
    }
    return judged


def summarize(
    order_ids: Iterable[str],
    stats: Mapping[str, Any],
    handovers: Mapping[str, int],
    orders: Mapping[str, Mapping[str, Any]],
    elapsed_s: float,
) -> DemoSummary:
    """The verdict over the created orders (`handovers` keyed by order id, one account)."""
    ids = list(order_ids)
    started_counts = stats.get("start_handling") or {}
    invoices = stats.get("invoices") or {}
    lost, unfinished = [], []
    counts = {"invoiced": 0, "delivered": 0, "canceled": 0, "parked": 0}
    for order_id in ids:
        order = orders.get(order_id) or {}
        handed_over = handovers.get(order_id, 0) > 0
        started = started_counts.get(order_id, 0) > 0
        status = order.get("status")
        counts["invoiced"] += status == "invoiced"
        counts["canceled"] += status == "canceled"
        delivered = is_delivered(order)
        counts["delivered"] += delivered
        parked = is_parked(order, handed_over, started)
        counts["parked"] += parked
        if is_lost(order, handed_over):
            lost.append(order_id)
        if not (delivered or parked or status == "canceled"):
            unfinished.append(order_id)
    doubled = duplicated_ids(ids, stats, handovers)
    mine = set(ids)
    return DemoSummary(
        created=len(ids),
        handed_over_distinct=sum(1 for oid, n in handovers.items() if n > 0 and oid in mine),
        handed_over_total=sum(n for oid, n in handovers.items() if oid in mine),
        started=sum(1 for oid, n in started_counts.items() if n > 0 and oid in mine),
        invoiced=counts["invoiced"],
        delivered=counts["delivered"],
        canceled=counts["canceled"],
        parked=counts["parked"],
        lost=len(lost),
        duplicated=len(doubled),
        feed_depth=int(stats.get("feed_depth", 0)),
        elapsed_s=round(elapsed_s, 3),
        orders_per_s=round(len(ids) / elapsed_s, 2) if elapsed_s > 0 else 0.0,
        unfinished=len(unfinished),
        invoice_posts=sum(int((invoices.get(oid) or {}).get("posts", 0)) for oid in ids),
        invoice_packages=sum(int((invoices.get(oid) or {}).get("packages", 0)) for oid in ids),
        invoice_repeats=sum(invoice_repeats(invoices.get(oid) or {}) for oid in ids),
        lost_ids=tuple(lost),
        duplicated_ids=tuple(doubled),
        unfinished_ids=tuple(unfinished),
    )
