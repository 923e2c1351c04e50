"""Recognise an ERP command the pipeline already accepted, by each kind's natural key. Pure, no I/O.

ERPs retry without an `Idempotency-Key`: a timeout, a restart, a batch job run twice. Judged anew, the
repeat would be refused for what the first one did ("another invoice is in flight", "already
delivered") or, worse for a change that says "remove one unit", applied twice. So before a command is
judged, it is matched with the order's earlier commands (any status but `rejected`: a command VTEX
refused may be sent again as a new try) by what names it in the ERP's world:

| kind | natural key |
| --- | --- |
| invoice | the invoice number |
| tracking number | the invoice number and the tracking number |
| tracking events | the invoice number and the events themselves |
| change | the ERP's `requestId` |
| cancel | the order (an order is canceled once) |
| deny cancellation | the order and the cancellation request it answers |

The same key with the same content is the same command: the caller answers with the earlier one and
stores and sends nothing. The same key with other content is a conflict naming each field that differs.
The ERP's acceptance or refusal of an order is keyed by the order too, but it is a fact about the order,
not a command: see `pipeline.commands.PipelineSink.report_acceptance`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

from orderbridge.core.commands import (
    CancelCommand,
    ChangeCommand,
    Command,
    DenyCancellationCommand,
    InvoiceCommand,
    TrackingEventsCommand,
    TrackingNumberCommand,
)
from orderbridge.core.orders import OrderSnapshot
from orderbridge.core.validation import Violation, change_request_reused


@dataclass(frozen=True, slots=True)
class Earlier:
    """One of the order's earlier commands (not rejected by VTEX), oldest first."""

    command_id: str
    command: Command
    in_flight: bool


@dataclass(frozen=True, slots=True)
class Replay:
    """`command` has the natural key of `earlier_id`; `conflicts` empty means it is that same command."""

    earlier_id: str
    conflicts: tuple[Violation, ...] = ()


#: Rule and advice of a conflict, per kind (a change keeps its own `request_id_reused`).
_CONFLICT_RULES = {
    "invoice": (
        "invoice_number_reused",
        "an invoice number names one invoice: resend it as it was, or use a new number",
    ),
    "tracking_number": (
        "tracking_number_reused",
        "a tracking number names one shipment: resend it as it was, or send a new tracking number",
    ),
    "cancel": ("cancel_already_accepted", "an order is canceled once: follow that command"),
    "deny_cancellation": (
        "denial_already_accepted",
        "a cancellation request is denied once: follow that command",
    ),
}
#: A command's fields named as the ERP wrote them (`orderbridge.erp.parsing`) where the name is not
#: simply the field's in camelCase.
_WIRE_NAMES = {"value_cents": "invoiceValue", "lines": "items", "invoice_kind": "type"}


def find_replay(command: Command, earlier: Sequence[Earlier], order: OrderSnapshot) -> Replay | None:
    """The earlier command `command` repeats (or clashes with), or None when it is new."""
    same_key = [e for e in earlier if e.command.kind == command.kind and _same_key(command, e, order)]
    if not same_key:
        return None
    identical = next((e for e in same_key if e.command == command), None)
    if identical is not None:
        return Replay(identical.command_id)
    first = same_key[0]
    if isinstance(command, ChangeCommand):
        return Replay(first.command_id, (change_request_reused(command, first.command_id),))
    return Replay(first.command_id, _conflicts(command, first))


def _same_key(command: Command, earlier: Earlier, order: OrderSnapshot) -> bool:
    other = earlier.command
    if isinstance(command, InvoiceCommand) and isinstance(other, InvoiceCommand):
        return command.invoice_number == other.invoice_number
    if isinstance(command, TrackingNumberCommand) and isinstance(other, TrackingNumberCommand):
        return (command.invoice_number, command.tracking_number) == (
            other.invoice_number,
            other.tracking_number,
        )
    if isinstance(command, TrackingEventsCommand):
        # Events have no id of their own: the same events for the same invoice are the same update.
        return command == other
    if isinstance(command, ChangeCommand) and isinstance(other, ChangeCommand):
        return bool(command.request_id.strip()) and command.request_id == other.request_id
    if isinstance(command, CancelCommand):
        return True
    if isinstance(command, DenyCancellationCommand) and isinstance(other, DenyCancellationCommand):
        return _same_request(command, other, earlier.in_flight, order)
    return False


def _same_request(
    command: DenyCancellationCommand, other: DenyCancellationCommand, in_flight: bool, order: OrderSnapshot
) -> bool:
    """Do both denials answer the same cancellation request? Without an explicit id a denial answers the
    request open when it was sent: for one still in flight that is the one open now; for one already
    done, a request open now is a new one (a shopper may ask again), and none open means the repeat
    answers the request the earlier denial closed."""
    open_now = order.open_cancellation_request_id
    wanted = command.cancellation_request_id or open_now
    if other.cancellation_request_id:
        answered: str | None = other.cancellation_request_id
    elif in_flight:
        answered = open_now
    else:
        return order.status != "cancellation-requested" and command.cancellation_request_id is None
    return wanted == answered


def _conflicts(command: Command, earlier: Earlier) -> tuple[Violation, ...]:
    rule, advice = _CONFLICT_RULES[command.kind]
    out = []
    for f in fields(command):
        new, old = getattr(command, f.name), getattr(earlier.command, f.name)
        if new == old:
            continue
        name = wire_name(f.name)
        message = (
            f"{name}: {_shown(new)} differs from command {earlier.command_id} ({_shown(old)}), accepted "
            f"earlier under the same key; {advice}"
        )
        out.append(Violation(name, rule, message, conflict=True))
    return tuple(out)


def wire_name(field: str) -> str:
    """`value_cents` -> `invoiceValue`, `tracking_number` -> `trackingNumber`."""
    head, *rest = field.split("_")
    return _WIRE_NAMES.get(field) or head + "".join(part.title() for part in rest)


def _shown(value: object) -> str:
    if isinstance(value, tuple):
        return f"{len(value)} entries" if value else "none"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
