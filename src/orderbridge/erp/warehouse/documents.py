"""Turn a plan step into the ERP command it stands for, from the order as the pipeline knows it now.

Pure. Invoices are built from the current snapshot rather than from the handover, because a change
(out of stock) or an earlier partial invoice alters what is left: the value is what remains to invoice,
the lines are the remaining quantities at their unit price (their sum may be lower: that is shipping).
A step that cannot be built yet returns `NotReady` and is retried later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from orderbridge.core.commands import (
    CancelCommand,
    ChangeCommand,
    ChangeLine,
    Command,
    InvoiceCommand,
    InvoiceLine,
    TrackingEvent,
    TrackingEventsCommand,
    TrackingNumberCommand,
)
from orderbridge.core.orders import OrderSnapshot
from orderbridge.erp.warehouse.plans import Step

_ROUTE = (
    ("Sao Paulo", "SP", "Left the warehouse"),
    ("Campinas", "SP", "In transit"),
    ("Ribeirao Preto", "SP", "Arrived at the regional hub"),
    ("Uberlandia", "MG", "In transit"),
    ("Belo Horizonte", "MG", "Out for delivery"),
)
_DELIVERED = ("Belo Horizonte", "MG", "Delivered")


@dataclass(frozen=True, slots=True)
class NotReady:
    """The order is not in a state this step can be built from (yet).

    `waits_on` names what an earlier step should have put on the order ("invoice" or "change"): if it
    never shows, that step's command may have been refused by VTEX after the pipeline accepted it.
    """

    reason: str
    waits_on: str = ""


def remaining_lines(snapshot: OrderSnapshot) -> tuple[InvoiceLine, ...]:
    """Each item's quantity not yet on an `Output` invoice, at its unit price."""
    invoiced: dict[int, int] = {}
    for package in snapshot.packages:
        if package.kind == "Output":
            for pi in package.items:
                invoiced[pi.item_index] = invoiced.get(pi.item_index, 0) + pi.quantity
    lines = []
    for item in snapshot.items:
        left = item.quantity - invoiced.get(item.index, 0)
        if left > 0:
            lines.append(InvoiceLine(item.sku_id, left, item.unit_price_cents, item.name or None))
    return tuple(lines)


def build_command(step: Step, snapshot: OrderSnapshot, now: float, courier: str) -> Command | NotReady:
    if step.kind == "invoice":
        return build_invoice(step, snapshot, now)
    if step.kind == "change":
        return build_change(step, snapshot)
    if step.kind in ("tracking_number", "tracking_events"):
        waiting = _shipment_not_ready(step, snapshot)
        if waiting is not None:
            return waiting
    if step.kind == "tracking_number":
        return TrackingNumberCommand(
            invoice_number=step.invoice_number,
            tracking_number=step.tracking_number,
            courier=courier,
            dispatched_date=_iso(now),
        )
    if step.kind == "tracking_events":
        return build_tracking_events(step, now)
    if step.kind == "acknowledge":
        return NotReady("an acknowledgement is reported, not submitted")
    return CancelCommand(reason="The warehouse cannot fulfil this order")


def _shipment_not_ready(step: Step, snapshot: OrderSnapshot) -> NotReady | None:
    """A parcel ships once its invoice is on the order, and is tracked once it has a tracking number.

    Waiting for VTEX to show them (rather than for the pipeline to accept them) means an invoice VTEX
    refused leaves the warehouse waiting, and then giving up visibly, instead of piling tracking on it.
    """
    package = snapshot.package(step.invoice_number)
    if package is None:
        return NotReady(f"invoice {step.invoice_number} is not on the order yet", waits_on="invoice")
    if step.kind == "tracking_events" and not package.tracking_number:
        return NotReady(f"invoice {step.invoice_number} has no tracking number on the order yet")
    return None


def build_invoice(step: Step, snapshot: OrderSnapshot, now: float) -> InvoiceCommand | NotReady:
    if step.after_change_sku and not _change_shows(step, snapshot):
        return NotReady(f"the change of {step.after_change_sku} is not on the order yet", waits_on="change")
    remaining = snapshot.remaining_to_invoice_cents
    lines = remaining_lines(snapshot)
    if remaining <= 0 or not lines:
        return NotReady("nothing left to invoice")
    if step.part < step.parts:
        lines = _first_half(lines)
        value = _lines_total(lines)
        if value >= remaining:
            return NotReady("a partial invoice would cover the whole remaining value")
    else:
        value = remaining
        if _lines_total(lines) > value:
            return NotReady("remaining lines exceed the remaining value (order not refreshed yet?)")
    return InvoiceCommand(
        invoice_number=step.invoice_number,
        value_cents=value,
        issuance_date=_iso(now),
        lines=lines,
        invoice_key=f"KEY{step.invoice_number}",
    )


CHANGE_REASON = "Out of stock at the warehouse"


def change_reason(request_id: str) -> str:
    """The reason VTEX shows on the order: it names the request, so the warehouse can find its change."""
    return f"{CHANGE_REASON} (request {request_id})"


def build_change(step: Step, snapshot: OrderSnapshot) -> ChangeCommand | NotReady:
    item = snapshot.item_by_sku(step.sku_id)
    if item is None or item.quantity < 1:
        return NotReady(f"item {step.sku_id} is no longer in the order")
    return ChangeCommand(
        request_id=step.request_id,
        reason=change_reason(step.request_id),
        remove=(ChangeLine(item.sku_id, 1, item.unit_price_cents),),
    )


def build_tracking_events(step: Step, now: float) -> TrackingEventsCommand:
    """Cumulative: each update repeats the earlier events, as a carrier's tracking page would."""
    hops = [_ROUTE[i % len(_ROUTE)] for i in range(step.event_no - 1 if step.delivered else step.event_no)]
    if step.delivered:
        hops.append(_DELIVERED)
    events = tuple(
        TrackingEvent(city, state, text, _vtex_date(now - 60.0 * (len(hops) - 1 - i)))
        for i, (city, state, text) in enumerate(hops)
    )
    return TrackingEventsCommand(
        invoice_number=step.invoice_number,
        is_delivered=step.delivered,
        events=events,
        delivered_date=_vtex_date(now) if step.delivered else None,
    )


def already_done(step: Step, snapshot: OrderSnapshot) -> bool:
    """True when VTEX's order already shows this step's effect (e.g. a submit whose record was lost)."""
    package = snapshot.package(step.invoice_number) if step.invoice_number else None
    if step.kind == "invoice":
        return package is not None
    if step.kind == "tracking_number":
        return package is not None and package.tracking_number == step.tracking_number
    if step.kind == "tracking_events" and step.delivered:
        return package is not None and package.delivered
    if step.kind == "cancel":
        return snapshot.status == "canceled"
    if step.kind == "change":
        return _change_shows(step, snapshot)
    return False


def _change_shows(step: Step, snapshot: OrderSnapshot) -> bool:
    """The warehouse's own change is on the order, recognized by its content: its reason (which names
    its request id) and one unit of the SKU removed, nothing added.

    Not by "the SKU's quantity equals the target": a change applied twice leaves one unit less than the
    target, and the warehouse would then wait for ever, or worse, send the change a third time.
    """
    request_id = step.after_change_request or step.request_id
    removed = {step.after_change_sku or step.sku_id: 1}
    for change in snapshot.applied_changes():
        if request_id:
            ours = change.reason == change_reason(request_id)
        else:  # a plan stored before changes named their request: the warehouse's reason is enough
            ours = change.reason.startswith(CHANGE_REASON)
        if ours and dict(change.removed) == removed and not change.added:
            return True
    return False


def _first_half(lines: tuple[InvoiceLine, ...]) -> tuple[InvoiceLine, ...]:
    want = max(sum(line.quantity for line in lines) // 2, 1)
    taken: list[InvoiceLine] = []
    for line in lines:
        if want <= 0:
            break
        quantity = min(line.quantity, want)
        taken.append(InvoiceLine(line.sku_id, quantity, line.unit_price_cents, line.description))
        want -= quantity
    return tuple(taken)


def _lines_total(lines: tuple[InvoiceLine, ...]) -> int:
    return sum(line.quantity * line.unit_price_cents for line in lines)


def _iso(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _vtex_date(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d %H:%M")
