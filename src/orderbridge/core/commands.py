"""Commands an ERP sends about an order: item changes, invoices, tracking, cancellation.

They are plain data, independent of any channel (REST API, staging tables, files, the simulated
warehouse): every channel builds these, `orderbridge.core.validation` judges them against the stored
order, and the pipeline stores and relays the accepted ones. Money is integer cents.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from orderbridge.core.orders import InvoiceKind


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    sku_id: str
    quantity: int
    unit_price_cents: int
    description: str | None = None


@dataclass(frozen=True, slots=True)
class InvoiceCommand:
    invoice_number: str
    value_cents: int
    issuance_date: str
    lines: tuple[InvoiceLine, ...]
    invoice_kind: InvoiceKind = "Output"
    invoice_key: str | None = None
    invoice_url: str | None = None
    courier: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    kind: Literal["invoice"] = "invoice"


@dataclass(frozen=True, slots=True)
class TrackingNumberCommand:
    invoice_number: str
    tracking_number: str
    courier: str
    tracking_url: str | None = None
    dispatched_date: str | None = None
    kind: Literal["tracking_number"] = "tracking_number"


@dataclass(frozen=True, slots=True)
class TrackingEvent:
    city: str
    state: str
    description: str
    date: str


@dataclass(frozen=True, slots=True)
class TrackingEventsCommand:
    invoice_number: str
    is_delivered: bool
    events: tuple[TrackingEvent, ...]
    delivered_date: str | None = None
    kind: Literal["tracking_events"] = "tracking_events"


def with_history(command: TrackingEventsCommand, earlier: Sequence[TrackingEvent]) -> TrackingEventsCommand:
    """`command` carrying the invoice's whole event history: `earlier` first, then its own new events.

    VTEX's "Update order tracking status" replaces the invoice's event list with the one it is given, so
    an ERP that sends events one at a time would see each erase the last ("Collected" gone once
    "Delivered" is sent). An event already in the history (an ERP that sends its whole list each
    time) is not repeated.
    """
    return replace(command, events=tuple(dict.fromkeys([*earlier, *command.events])))


@dataclass(frozen=True, slots=True)
class ChangeLine:
    sku_id: str
    quantity: int
    unit_price_cents: int


@dataclass(frozen=True, slots=True)
class ChangeCommand:
    """Item changes; `request_id` is the idempotency key VTEX's Change v1 honours (v2 mints its own)."""

    request_id: str
    reason: str
    remove: tuple[ChangeLine, ...] = ()
    add: tuple[ChangeLine, ...] = ()
    discount_cents: int = 0
    increment_cents: int = 0
    kind: Literal["change"] = "change"


@dataclass(frozen=True, slots=True)
class CancelCommand:
    reason: str
    kind: Literal["cancel"] = "cancel"


@dataclass(frozen=True, slots=True)
class DenyCancellationCommand:
    reason: str
    cancellation_request_id: str | None = None
    kind: Literal["deny_cancellation"] = "deny_cancellation"


Command = (
    InvoiceCommand
    | TrackingNumberCommand
    | TrackingEventsCommand
    | ChangeCommand
    | CancelCommand
    | DenyCancellationCommand
)

_NESTED: dict[str, tuple[str, type[Any]]] = {
    "invoice": ("lines", InvoiceLine),
    "tracking_events": ("events", TrackingEvent),
}
_TYPES: dict[str, type[Any]] = {
    "invoice": InvoiceCommand,
    "tracking_number": TrackingNumberCommand,
    "tracking_events": TrackingEventsCommand,
    "change": ChangeCommand,
    "cancel": CancelCommand,
    "deny_cancellation": DenyCancellationCommand,
}


def command_to_dict(command: Command) -> dict[str, Any]:
    """A JSON-ready dict with a `kind` tag, for storage."""
    return asdict(command)


def command_from_dict(data: dict[str, Any]) -> Command:
    """Inverse of `command_to_dict` (trusted, stored data; channels validate their own input)."""
    kind = data["kind"]
    fields = dict(data)
    if kind == "change":
        fields["remove"] = tuple(ChangeLine(**x) for x in fields.get("remove", ()))
        fields["add"] = tuple(ChangeLine(**x) for x in fields.get("add", ()))
    elif kind in _NESTED:
        name, item_type = _NESTED[kind]
        fields[name] = tuple(item_type(**x) for x in fields.get(name, ()))
    command: Command = _TYPES[kind](**fields)
    return command
