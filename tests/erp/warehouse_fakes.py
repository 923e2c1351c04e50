"""An in-memory CommandSink playing the pipeline for the warehouse tests.

It applies accepted commands to its snapshots the way VTEX would (invoice → package, tracking number,
delivery, item removal, cancel), refuses commands unless the order is `handling` (or `invoiced`, for
tracking), dedupes by idempotency key, can be told to refuse the next N submits, and sets `all_delivered`
once `expect_delivered` orders have every invoice delivered.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field

from orderbridge.core.commands import (
    CancelCommand,
    ChangeCommand,
    Command,
    InvoiceCommand,
    TrackingEventsCommand,
    TrackingNumberCommand,
)
from orderbridge.core.orders import InvoicePackage, OrderItem, OrderSnapshot, PackageItem
from orderbridge.erp.port import SubmitOutcome


def make_snapshot(order_id: str, status: str = "handling") -> OrderSnapshot:
    """Three units over two items (2 x 10.00 + 1 x 5.00) plus 3.00 shipping."""
    items = (
        OrderItem(index=0, sku_id="sku-a", name="Mug", quantity=2, unit_price_cents=1000),
        OrderItem(index=1, sku_id="sku-b", name="Spoon", quantity=1, unit_price_cents=500),
    )
    return OrderSnapshot(order_id=order_id, status=status, value_cents=2800, items=items)


@dataclass
class Submitted:
    account: str
    order_id: str
    command: Command
    channel: str
    idempotency_key: str | None


@dataclass
class FakeSink:
    orders: dict[tuple[str, str], OrderSnapshot] = field(default_factory=dict)
    submitted: list[Submitted] = field(default_factory=list)
    refuse_next: int = 0
    seen_keys: dict[str, str] = field(default_factory=dict)
    acceptances: list[tuple[str, str, bool]] = field(default_factory=list)
    expect_delivered: int = 0
    hold: set[str] = field(default_factory=set)  # command kinds accepted but not (yet) on the order
    all_delivered: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, snapshot: OrderSnapshot, account: str = "shop") -> None:
        self.orders[(account, snapshot.order_id)] = snapshot

    def commands(self, order_id: str) -> list[Command]:
        return [s.command for s in self.submitted if s.order_id == order_id]

    async def current_order(self, account: str, order_id: str) -> OrderSnapshot | None:
        return self.orders.get((account, order_id))

    async def report_acceptance(
        self,
        account: str,
        order_id: str,
        *,
        accepted: bool,
        erp_reference: str | None = None,
        reason: str | None = None,
    ) -> SubmitOutcome:
        self.acceptances.append((account, order_id, accepted))
        return SubmitOutcome(True, None)

    async def submit(
        self,
        account: str,
        order_id: str,
        command: Command,
        *,
        channel: str,
        idempotency_key: str | None = None,
    ) -> SubmitOutcome:
        if idempotency_key is not None and idempotency_key in self.seen_keys:
            return SubmitOutcome(accepted=True, command_id=self.seen_keys[idempotency_key])
        snapshot = self.orders.get((account, order_id))
        if self.refuse_next > 0:
            self.refuse_next -= 1
            return SubmitOutcome(accepted=False, command_id=None, problems=("refused by the test",))
        if snapshot is None or snapshot.status not in ("handling", "invoiced"):
            return SubmitOutcome(accepted=False, command_id=None, problems=("order is not handling",))
        self.submitted.append(Submitted(account, order_id, command, channel, idempotency_key))
        command_id = f"cmd-{len(self.submitted)}"
        if idempotency_key is not None:
            self.seen_keys[idempotency_key] = command_id
        if command.kind not in self.hold:
            self.orders[(account, order_id)] = apply(snapshot, command)
        if self.expect_delivered and self.delivered_count() >= self.expect_delivered:
            self.all_delivered.set()
        return SubmitOutcome(accepted=True, command_id=command_id)

    def delivered_count(self) -> int:
        return sum(1 for o in self.orders.values() if o.packages and all(p.delivered for p in o.packages))


def apply(snapshot: OrderSnapshot, command: Command) -> OrderSnapshot:
    """What VTEX's order looks like once the pipeline relayed `command` (instantly, for these tests)."""
    if isinstance(command, InvoiceCommand):
        by_sku = {item.sku_id: item.index for item in snapshot.items}
        package = InvoicePackage(
            invoice_number=command.invoice_number,
            kind=command.invoice_kind,
            value_cents=command.value_cents,
            items=tuple(
                PackageItem(by_sku[ln.sku_id], ln.quantity, ln.unit_price_cents) for ln in command.lines
            ),
        )
        packages = (*snapshot.packages, package)
        fully = sum(p.value_cents for p in packages if p.kind == "Output") >= snapshot.value_cents
        return dataclasses.replace(
            snapshot, packages=packages, status="invoiced" if fully else snapshot.status
        )
    if isinstance(command, TrackingNumberCommand | TrackingEventsCommand):
        return _update_package(snapshot, command)
    if isinstance(command, ChangeCommand):
        return _remove_items(snapshot, command)
    if isinstance(command, CancelCommand):
        return dataclasses.replace(snapshot, status="canceled")
    return snapshot


def _update_package(
    snapshot: OrderSnapshot, command: TrackingNumberCommand | TrackingEventsCommand
) -> OrderSnapshot:
    def updated(package: InvoicePackage) -> InvoicePackage:
        if package.invoice_number != command.invoice_number:
            return package
        if isinstance(command, TrackingNumberCommand):
            return dataclasses.replace(package, tracking_number=command.tracking_number)
        return dataclasses.replace(package, delivered=command.is_delivered)

    return dataclasses.replace(snapshot, packages=tuple(updated(p) for p in snapshot.packages))


def _remove_items(snapshot: OrderSnapshot, command: ChangeCommand) -> OrderSnapshot:
    """Like VTEX: the units go, and the change shows in the order's change log (by content)."""
    removed = {line.sku_id: line for line in command.remove}
    items = tuple(
        dataclasses.replace(item, quantity=item.quantity - removed[item.sku_id].quantity)
        if item.sku_id in removed
        else item
        for item in snapshot.items
    )
    value = snapshot.value_cents - sum(line.quantity * line.unit_price_cents for line in command.remove)
    entry = {
        "reason": command.reason,
        "removed": {line.sku_id: line.quantity for line in command.remove},
        "added": {line.sku_id: line.quantity for line in command.add},
    }
    log = [*snapshot.extra.get("change_log", ()), entry]
    extra = {**snapshot.extra, "changes": len(log), "change_log": log}
    return dataclasses.replace(snapshot, items=items, value_cents=value, extra=extra)


class Clock:
    """A hand-moved wall clock, so step delays are crossed without sleeping."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
