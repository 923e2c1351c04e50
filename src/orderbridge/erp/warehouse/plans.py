"""What the simulated warehouse will do with an order, decided once at handover and stored.

Pure: a plan is drawn from the order snapshot, the settings and a per-order random stream seeded by
(seed, account, order id), so it is the same in every process and whatever order handovers arrive in.
The plan is a flat list of steps run one after another; the ledger stores it with a step pointer so a
restarted warehouse carries on where it stopped.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from typing import Any, Literal

from orderbridge.config import WarehouseSettings
from orderbridge.core.orders import OrderSnapshot

StepKind = Literal["acknowledge", "change", "invoice", "tracking_number", "tracking_events", "cancel"]


@dataclass(frozen=True, slots=True)
class Step:
    """One thing the warehouse will tell the pipeline. Fields unused by a kind keep their defaults."""

    kind: StepKind
    invoice_number: str = ""
    part: int = 1
    parts: int = 1
    sku_id: str = ""
    tracking_number: str = ""
    event_no: int = 0
    delivered: bool = False
    request_id: str = ""
    # On a change and the invoices after it: the change they wait for, found on the order by content
    # (its request id in the reason, one unit of the SKU removed). The quantity is kept for plans
    # stored before; it is not how the change is recognized (a doubled change would never match it).
    after_change_sku: str = ""
    after_change_quantity: int = 0
    after_change_request: str = ""


@dataclass(frozen=True, slots=True)
class Plan:
    accept: bool
    reason: str = ""
    steps: tuple[Step, ...] = ()


def order_random(seed: int, account: str, order_id: str, purpose: str = "plan") -> random.Random:
    """A random stream private to one order (string seeds hash with SHA-512: stable across processes)."""
    return random.Random(f"{seed}:{account}:{order_id}:{purpose}")


def draw_plan(snapshot: OrderSnapshot, settings: WarehouseSettings, account: str, order_seq: int) -> Plan:
    """Decide the order's fate. All draws are taken up front so one ratio never shifts another's draw."""
    rng = order_random(settings.seed, account, snapshot.order_id)
    r_reject, r_cancel, r_stock, r_partial, r_item, r_later = (rng.random() for _ in range(6))
    if r_reject < settings.reject_ratio:
        return Plan(accept=False, reason="Warehouse refused the order: customer on credit hold")
    prefix = f"{settings.invoice_prefix}{order_seq}"
    steps: list[Step] = []
    if r_later < settings.accept_later_ratio:
        steps.append(Step(kind="acknowledge", request_id=erp_reference(settings, order_seq)))
    if not settings.fulfil:
        return Plan(accept=True, steps=tuple(steps))
    if r_cancel < settings.self_cancel_ratio:
        return Plan(accept=True, steps=(*steps, Step(kind="cancel")))
    units = sum(item.quantity for item in snapshot.items)
    if snapshot.value_cents <= 0 or units <= 0:
        return Plan(accept=True, steps=tuple(steps))
    guard: dict[str, Any] = {}
    if r_stock < settings.out_of_stock_ratio and units >= 2:
        sku = _pick_out_of_stock(snapshot, r_item)
        # One request id per order, the same at every attempt: the pipeline knows a resent change by it.
        request_id = f"{prefix}-C"
        guard = {
            "after_change_sku": sku,
            "after_change_quantity": _quantity_of(snapshot, sku) - 1,
            "after_change_request": request_id,
        }
        steps.append(Step(kind="change", sku_id=sku, request_id=request_id, **guard))
    # An order that lost a unit is invoiced once, for what remains; others may ship in two parts.
    parts = 2 if r_partial < settings.partial_invoice_ratio and units >= 2 and not guard else 1
    steps.extend(_delivery_steps(prefix, parts, settings.tracking_events, guard))
    return Plan(accept=True, steps=tuple(steps))


def erp_reference(settings: WarehouseSettings, order_seq: int) -> str:
    """The warehouse's own id for an order, returned on acceptance."""
    return f"{settings.invoice_prefix}-ORDER-{order_seq}"


def _quantity_of(snapshot: OrderSnapshot, sku_id: str) -> int:
    """A SKU may sit on several lines; VTEX drops a line whose quantity reaches zero."""
    return sum(item.quantity for item in snapshot.items if item.sku_id == sku_id)


def _pick_out_of_stock(snapshot: OrderSnapshot, draw: float) -> str:
    """Prefer an item with two units or more, so the change leaves the line in the order."""
    candidates = [i for i in snapshot.items if i.quantity >= 2] or [i for i in snapshot.items if i.quantity]
    return candidates[min(int(draw * len(candidates)), len(candidates) - 1)].sku_id


def _delivery_steps(prefix: str, parts: int, tracking_events: int, guard: dict[str, Any]) -> list[Step]:
    numbers = [f"{prefix}-{part}" for part in range(1, parts + 1)]
    steps: list[Step] = []
    for part, number in enumerate(numbers, start=1):
        steps.append(Step(kind="invoice", invoice_number=number, part=part, parts=parts, **guard))
        steps.append(Step(kind="tracking_number", invoice_number=number, tracking_number=f"TR{number}"))
    for event_no in range(1, tracking_events + 2):
        delivered = event_no == tracking_events + 1
        steps.extend(
            Step(kind="tracking_events", invoice_number=n, event_no=event_no, delivered=delivered)
            for n in numbers
        )
    return steps


def steps_to_json(steps: tuple[Step, ...]) -> str:
    return json.dumps([asdict(step) for step in steps], separators=(",", ":"))


def steps_from_json(text: str) -> tuple[Step, ...]:
    data: list[dict[str, Any]] = json.loads(text)
    return tuple(Step(**item) for item in data)


def denies_cancellation(settings: WarehouseSettings, account: str, order_id: str) -> bool:
    """Whether a cancellation request for this order is denied: its own stream, stable per order."""
    return order_random(settings.seed, account, order_id, "deny").random() < settings.deny_cancellation_ratio
