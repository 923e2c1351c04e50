"""Judge an ERP command against the stored order before it is accepted (invariant 5). Pure, no I/O.

`validate_command` returns every violation it finds (an empty list = accept), so a channel can answer
the ERP with all that is wrong at once. Each `Violation` names the field and the rule, and its message
is written for a person: "invoiceValue: 12000 exceeds what remains to invoice (10000)".

Fields are named as the ERP wrote them, in the one wire vocabulary every channel speaks
(`orderbridge.erp.parsing`: `invoiceValue`, `items[0].id`, `invoiceNumber`, `itemsRemoved`), never by
this module's own attribute names, so a refusal points at something in the ERP's request. A problem of
the command as a whole, or of the order as it stands (`order.status`), names no request field.

The order alone is not enough to judge: commands already accepted but not yet visible on the VTEX
order (`PendingWork`) count too — an invoice in flight reduces what remains, a cancel in flight forbids
an invoice, and so on. The store computes `PendingWork` from the commands table.

Facts behind the rules: VTEX's Orders API reference (the team's VTEX OMS notes, §3 and §6: statuses,
invoice, tracking, cancel, changes) and the known issues quoted where a rule exists because of one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from orderbridge.core.commands import (
    CancelCommand,
    ChangeCommand,
    ChangeLine,
    Command,
    DenyCancellationCommand,
    InvoiceCommand,
    InvoiceLine,
    TrackingEventsCommand,
    TrackingNumberCommand,
)
from orderbridge.core.orders import InvoicePackage, OrderSnapshot

#: Statuses in which VTEX accepts Output invoices and item changes (reference §6.1, §6.4).
HANDLING_STATUSES = frozenset({"handling", "waiting-for-fulfillment", "ready-for-invoicing"})
#: A partially invoiced order may show `payment-approved` until invoices reach the total (§3.1).
PARTIAL_INVOICE_STATUSES = HANDLING_STATUSES | {"payment-approved"}
#: Statuses where a return (`Input`) invoice makes sense: the order was fully invoiced.
RETURN_STATUSES = HANDLING_STATUSES | {"invoice", "invoiced"}
#: Statuses where a cancel cannot be sent any more (final, finishing, or no flow yet).
NOT_CANCELABLE_STATUSES = frozenset({"canceled", "cancel", "invoice", "invoiced", "replaced"})
CANCELED_STATUSES = frozenset({"canceled", "cancel"})

MAX_INVOICE_NUMBER_LENGTH = 50
_FORBIDDEN_INVOICE_CHARS = "/#?%\\"


@dataclass(frozen=True, slots=True)
class Violation:
    """One reason to refuse a command. `rule` is a stable code for programs, `message` for people.

    `conflict`: the command is well formed but clashes with the order as VTEX has it (counting what is
    accepted and not yet visible) — the REST API answers such refusals with 409, others with 422.
    """

    #: The field as the ERP wrote it (`items[0].id`); "" for the command as a whole; `order.…` for the
    #: stored order (not part of the request).
    field: str
    rule: str
    message: str
    conflict: bool = False


@dataclass(frozen=True, slots=True)
class PendingWork:
    """Commands accepted for an order but not yet confirmed by VTEX (pending, sending or sent).

    `invoice_cents_in_flight` counts `Output` invoices only. `invoice_numbers` are the numbers of
    in-flight invoices (any kind); `tracking_numbers_in_flight` the invoice numbers that have an
    accepted-but-unsent tracking number. `invoice_values` maps each in-flight invoice number to its
    value, so a repeated number can be compared and an invoice that already landed on the order (but
    whose command is not yet marked confirmed) is not counted twice.
    """

    change_in_progress: bool = False
    invoice_cents_in_flight: int = 0
    cancel_in_flight: bool = False
    invoice_numbers: frozenset[str] = frozenset()
    tracking_numbers_in_flight: frozenset[str] = frozenset()
    invoice_values: Mapping[str, int] = field(default_factory=dict, hash=False)
    deny_in_flight: bool = False
    #: Output invoices in flight: invoice number → {SKU: quantity}, so two partial invoices accepted
    #: before either lands cannot together invoice more units than were ordered.
    output_lines_in_flight: Mapping[str, Mapping[str, int]] = field(default_factory=dict, hash=False)
    #: Invoices VTEX refused while a cancellation request was open: they wait for its decision (they
    #: still count toward what is invoiced, but a cancel no longer races them).
    held_invoice_numbers: frozenset[str] = frozenset()


def routable_invoice_number_problem(number: str) -> str | None:
    """Why VTEX could not route this invoice number in its URLs, or None when it is fine.

    `/`, `#`, `?`, `%`, `\\` and any whitespace break tracking and post-purchase flows, even URL-encoded
    (known issues 631970, 953285, 1302085, 409225); they cannot be fixed once the invoice is posted.
    """
    if not number:
        return "is empty"
    if len(number) > MAX_INVOICE_NUMBER_LENGTH:
        return f"is {len(number)} characters long (at most {MAX_INVOICE_NUMBER_LENGTH})"
    if any(ch.isspace() for ch in number):
        return "contains whitespace, which breaks VTEX tracking (known issues 631970, 409225)"
    bad = sorted({ch for ch in number if ch in _FORBIDDEN_INVOICE_CHARS})
    if bad:
        shown = " ".join(repr(ch) for ch in bad)
        return f"contains {shown}, which VTEX cannot route (known issues 953285, 1302085)"
    if not number.isprintable():
        return "contains control characters"
    return None


def validate_command(command: Command, order: OrderSnapshot, pending: PendingWork) -> list[Violation]:
    """Every reason to refuse `command` for `order` given the work already `pending`; [] = accept."""
    out = _validate_by_kind(command, order, pending)
    if not order.is_completed and isinstance(command, _FULFILMENT_COMMANDS):
        out.insert(0, _INCOMPLETE)
    return out


#: What fulfils an order: nothing of it while VTEX has not completed the order (a cancel, or the
#: answer to a shopper's cancellation request, keeps its own rules).
_FULFILMENT_COMMANDS = (InvoiceCommand, TrackingNumberCommand, TrackingEventsCommand, ChangeCommand)


def _validate_by_kind(command: Command, order: OrderSnapshot, pending: PendingWork) -> list[Violation]:
    if isinstance(command, InvoiceCommand):
        return _invoice(command, order, pending)
    if isinstance(command, TrackingNumberCommand):
        return _tracking_number(command, order, pending)
    if isinstance(command, TrackingEventsCommand):
        return _tracking_events(command, order, pending)
    if isinstance(command, ChangeCommand):
        return _change(command, order, pending)
    if isinstance(command, CancelCommand):
        return _cancel(command, order, pending)
    return _deny(command, order, pending)


def change_request_reused(command: ChangeCommand, earlier_command_id: str) -> Violation:
    """The ERP's `request_id` names an earlier change of the order with other content: refused (409)."""
    return _v(
        "requestId",
        "request_id_reused",
        f"{command.request_id!r} already names another change of this order (command {earlier_command_id}); "
        "a requestId is one change: resend that change as it was, or use a new requestId",
        conflict=True,
    )


def is_repeat_of_known_invoice(command: InvoiceCommand, order: OrderSnapshot, pending: PendingWork) -> bool:
    """True when this invoice number is already on the order or in flight with the same value and kind.

    Such a command is a duplicate submission: it is valid (VTEX treats a repeat as the same invoice),
    but the caller should answer "already accepted" and relay nothing — an invoice is never posted twice.
    """
    package = order.package(command.invoice_number)
    if package is not None:
        return package.value_cents == command.value_cents and package.kind == command.invoice_kind
    return pending.invoice_values.get(command.invoice_number) == command.value_cents


# --- invoice ---------------------------------------------------------------------------------------


def _invoice(cmd: InvoiceCommand, order: OrderSnapshot, pending: PendingWork) -> list[Violation]:
    out = _unroutable("invoiceNumber", cmd.invoice_number)
    if not cmd.issuance_date.strip():
        out.append(_v("issuanceDate", "required", "is required"))
    if cmd.tracking_number is not None and not cmd.tracking_number.strip():
        out.append(_v("trackingNumber", "blank", "must not be blank when given (omit it instead)"))
    if _repeated_with_other_value(cmd, order, pending, out):
        return out
    if is_repeat_of_known_invoice(cmd, order, pending):
        return out  # a duplicate of what was accepted: the value rules were applied the first time
    if order.status in CANCELED_STATUSES:
        out.append(_v("order.status", "canceled", f"is {order.status!r}: a canceled order takes no invoice"))
        return out
    if pending.cancel_in_flight:
        out.append(_v("", "cancel_in_flight", "a cancel for this order is in flight; no invoice may race it"))
    if pending.change_in_progress or bool(order.extra.get("change_in_progress")):
        out.append(
            _v(
                "",
                "change_in_progress",
                "an item change is still in progress; invoice once it is done",
            )
        )
    if cmd.invoice_kind == "Output":
        _output_invoice(cmd, order, pending, out)
    else:
        _input_invoice(cmd, order, out)
    _invoice_lines(cmd, order, pending, out)
    return out


def _repeated_with_other_value(
    cmd: InvoiceCommand, order: OrderSnapshot, pending: PendingWork, out: list[Violation]
) -> bool:
    package = order.package(cmd.invoice_number)
    if package is not None:
        known: int | None = package.value_cents
        if package.kind != cmd.invoice_kind:
            out.append(
                _v(
                    "invoiceNumber",
                    "repeated_other_kind",
                    f"{cmd.invoice_number!r} is already an {package.kind} invoice of this order",
                    conflict=True,
                )
            )
            return True
    else:
        known = pending.invoice_values.get(cmd.invoice_number)
    if known is None or known == cmd.value_cents:
        return False
    out.append(
        _v(
            "invoiceNumber",
            "repeated_other_value",
            f"{cmd.invoice_number!r} is already used for an invoice of {known}, not {cmd.value_cents}",
            conflict=True,
        )
    )
    return True


def _output_invoice(
    cmd: InvoiceCommand, order: OrderSnapshot, pending: PendingWork, out: list[Violation]
) -> None:
    allowed = PARTIAL_INVOICE_STATUSES if order.is_partially_invoiced else HANDLING_STATUSES
    if order.status not in allowed:
        out.append(
            _v("order.status", "not_invoiceable", f"is {order.status!r}; an invoice needs {_names(allowed)}")
        )
    if cmd.value_cents <= 0:
        out.append(_v("invoiceValue", "not_positive", f"{cmd.value_cents} must be greater than 0"))
        return
    remaining = order.remaining_to_invoice_cents - output_cents_in_flight(order, pending)
    if cmd.value_cents > remaining:
        out.append(
            _v(
                "invoiceValue",
                "exceeds_remaining",
                f"{cmd.value_cents} exceeds what remains to invoice ({max(remaining, 0)})",
            )
        )


def _input_invoice(cmd: InvoiceCommand, order: OrderSnapshot, out: list[Violation]) -> None:
    if not order.is_fully_invoiced:
        out.append(
            _v(
                "type",
                "return_before_full_invoice",
                "an Input (return) invoice needs the order fully invoiced first "
                f"({order.output_invoiced_cents} of {order.value_cents} invoiced)",
            )
        )
    elif order.status not in RETURN_STATUSES:
        out.append(
            _v(
                "order.status",
                "not_returnable",
                f"is {order.status!r}; a return needs {_names(RETURN_STATUSES)}",
            )
        )
    if cmd.value_cents <= 0:
        out.append(_v("invoiceValue", "not_positive", f"{cmd.value_cents} must be greater than 0"))
        return
    returnable = order.output_invoiced_cents - _sum_packages(order.packages, "Input")
    if cmd.value_cents > returnable:
        out.append(
            _v(
                "invoiceValue",
                "exceeds_returnable",
                f"{cmd.value_cents} exceeds what was invoiced and not yet returned ({max(returnable, 0)})",
            )
        )


def output_cents_in_flight(order: OrderSnapshot, pending: PendingWork) -> int:
    """Output cents in flight, not counting invoices that already show on the order."""
    landed = sum(
        value
        for number, value in pending.invoice_values.items()
        if (p := order.package(number)) is not None and p.kind == "Output"
    )
    return max(pending.invoice_cents_in_flight - landed, 0)


def _invoice_lines(
    cmd: InvoiceCommand, order: OrderSnapshot, pending: PendingWork, out: list[Violation]
) -> None:
    if not cmd.lines:
        out.append(_v("items", "required", "at least one line is required (VTEX needs items)"))
        return
    ordered = ordered_quantities(order)
    invoiced = invoiced_quantities(order, "Output")
    for number, lines in pending.output_lines_in_flight.items():
        if order.package(number) is None:  # landed ones are counted in `invoiced` already
            for sku, quantity in lines.items():
                invoiced[sku] = invoiced.get(sku, 0) + quantity
    returned = invoiced_quantities(order, "Input")
    wanted: dict[str, int] = {}
    for n, line in enumerate(cmd.lines):
        _invoice_line(n, line, ordered, out)
        wanted[line.sku_id] = wanted.get(line.sku_id, 0) + max(line.quantity, 0)
    for sku, quantity in wanted.items():
        if sku not in ordered or quantity <= 0:
            continue
        if cmd.invoice_kind == "Output":
            left = ordered[sku] - invoiced.get(sku, 0)
            what = "not yet invoiced"
        else:
            left = invoiced.get(sku, 0) - returned.get(sku, 0)
            what = "invoiced and not yet returned"
        if quantity > left:
            out.append(
                _v(
                    "items",
                    "quantity_exceeds",
                    f"SKU {sku!r}: {quantity} exceeds the quantity {what} ({left})",
                )
            )
    if cmd.invoice_kind == "Input" and len(wanted) < len(cmd.lines):
        out.append(
            _v(
                "items",
                "repeated_sku",
                "a return lists each SKU once, with its quantity (known issue 1198829)",
            )
        )
    total = sum(line.quantity * line.unit_price_cents for line in cmd.lines)
    if total > cmd.value_cents:
        out.append(
            _v(
                "items",
                "exceeds_value",
                f"the lines add up to {total}, more than the invoice value ({cmd.value_cents})",
            )
        )


def _invoice_line(n: int, line: InvoiceLine, ordered: Mapping[str, int], out: list[Violation]) -> None:
    where = f"items[{n}]"
    if line.sku_id not in ordered:
        out.append(_v(f"{where}.id", "unknown_sku", f"SKU {line.sku_id!r} is not on the order"))
    if line.quantity <= 0:
        out.append(_v(f"{where}.quantity", "not_positive", f"{line.quantity} must be greater than 0"))
    if line.unit_price_cents < 0:
        out.append(_v(f"{where}.price", "negative", f"{line.unit_price_cents} must not be negative"))


# --- tracking --------------------------------------------------------------------------------------


def _known_invoice(number: str, order: OrderSnapshot, pending: PendingWork) -> InvoicePackage | bool | None:
    """The package, True when only in flight, False when unknown."""
    package = order.package(number)
    if package is not None:
        return package
    return number in pending.invoice_numbers


def _unroutable(field_name: str, number: str) -> list[Violation]:
    problem = routable_invoice_number_problem(number)
    return [_v(field_name, "unroutable", f"{number!r} {problem}")] if problem else []


def _shipped_invoice(
    field_name: str,
    number: str,
    order: OrderSnapshot,
    pending: PendingWork,
    out: list[Violation],
    hint: str = "",
) -> InvoicePackage | bool | None:
    """What tracking numbers and events both need: an order still shipping and an invoice to ship under.

    Returns `_known_invoice`'s answer (False, with a violation added, when the invoice is unknown).
    """
    if order.status in CANCELED_STATUSES:
        out.append(_v("order.status", "canceled", f"is {order.status!r}: a canceled order is not shipped"))
    known = _known_invoice(number, order, pending)
    if known is False:
        out.append(_v(field_name, "unknown_invoice", f"{number!r} is not an invoice of this order{hint}"))
    return known


def _tracking_number(
    cmd: TrackingNumberCommand, order: OrderSnapshot, pending: PendingWork
) -> list[Violation]:
    out = _unroutable("invoiceNumber", cmd.invoice_number)
    if not cmd.tracking_number.strip():
        out.append(_v("trackingNumber", "required", "is required"))
    if not cmd.courier.strip():
        out.append(_v("courier", "required", "is required"))
    hint = " (send the invoice first)"
    known = _shipped_invoice("invoiceNumber", cmd.invoice_number, order, pending, out, hint)
    if isinstance(known, InvoicePackage) and known.kind == "Input":
        out.append(
            _v(
                "invoiceNumber",
                "return_invoice",
                f"{cmd.invoice_number!r} is a return invoice",
            )
        )
    return out


def _tracking_events(
    cmd: TrackingEventsCommand, order: OrderSnapshot, pending: PendingWork
) -> list[Violation]:
    out = _unroutable("invoiceNumber", cmd.invoice_number)
    known = _shipped_invoice("invoiceNumber", cmd.invoice_number, order, pending, out)
    if known is not False:
        has_tracking = cmd.invoice_number in pending.tracking_numbers_in_flight or (
            isinstance(known, InvoicePackage) and bool(known.tracking_number)
        )
        if not has_tracking:
            out.append(
                _v(
                    "invoiceNumber",
                    "no_tracking_number",
                    f"invoice {cmd.invoice_number!r} has no tracking number yet (VTEX requires one first)",
                )
            )
        if isinstance(known, InvoicePackage) and known.delivered:
            out.append(
                _v(
                    "",
                    "already_delivered",
                    f"invoice {cmd.invoice_number!r} is already delivered",
                )
            )
    if not cmd.events and not cmd.is_delivered:
        out.append(_v("events", "required", "at least one event is required unless delivered"))
    for n, event in enumerate(cmd.events):
        for name in ("description", "date"):
            if not getattr(event, name).strip():
                out.append(_v(f"events[{n}].{name}", "required", "is required"))
    return out


# --- changes ---------------------------------------------------------------------------------------


def _change(cmd: ChangeCommand, order: OrderSnapshot, pending: PendingWork) -> list[Violation]:
    out: list[Violation] = []
    if not cmd.request_id.strip():
        out.append(_v("requestId", "required", "is required (it is the change's idempotency key)"))
    if not cmd.reason.strip():
        out.append(_v("reason", "required", "is required (VTEX: 'Field reason not set')"))
    if order.status not in HANDLING_STATUSES:
        out.append(
            _v(
                "order.status",
                "not_changeable",
                f"is {order.status!r}; a change needs {_names(HANDLING_STATUSES)}",
            )
        )
    if pending.change_in_progress or bool(order.extra.get("change_in_progress")):
        # A change accepted and not yet on the order is part of what the next one would be judged
        # against: one at a time, so no change is ever judged against an order that lacks another.
        out.append(
            _v(
                "",
                "change_in_progress",
                "another change is accepted and not yet on the order (one at a time); "
                "send the next one once it shows",
            )
        )
    if pending.cancel_in_flight:
        out.append(_v("", "cancel_in_flight", "a cancel for this order is in flight"))
    if pending.invoice_cents_in_flight > 0:
        out.append(
            _v("", "invoice_in_flight", "an invoice for this order is in flight; change after it lands")
        )
    if not (cmd.remove or cmd.add or cmd.discount_cents or cmd.increment_cents):
        out.append(_v("", "empty", "changes nothing (no items removed or added, no discount or increment)"))
    for name, value in (("discountValue", cmd.discount_cents), ("incrementValue", cmd.increment_cents)):
        if value < 0:
            out.append(_v(name, "negative", f"{value} must not be negative"))
    _change_lines("itemsAdded", cmd.add, out)
    _change_lines("itemsRemoved", cmd.remove, out)
    _removable(cmd.remove, order, out)
    new_value = (
        order.value_cents
        - _lines_total(cmd.remove)
        + _lines_total(cmd.add)
        - cmd.discount_cents
        + cmd.increment_cents
    )
    if new_value < 0:
        out.append(_v("", "negative_value", f"would bring the order value to {new_value}, below 0"))
    elif new_value < order.output_invoiced_cents + output_cents_in_flight(order, pending):
        out.append(
            _v(
                "",
                "below_invoiced",
                f"would bring the order value to {new_value}, below what is already invoiced "
                f"({order.output_invoiced_cents})",
            )
        )
    return [replace(v, conflict=True) if v.rule in _CHANGE_CONFLICTS else v for v in out]


#: A change's refusals that come from the order as VTEX has it (with what is accepted and not yet on
#: it), not from the change's shape: the change would clash with the order (409), it is not malformed.
_CHANGE_CONFLICTS = frozenset(
    {
        "not_changeable",
        "change_in_progress",
        "cancel_in_flight",
        "invoice_in_flight",
        "unknown_sku",
        "quantity_exceeds",
        "already_invoiced",
        "negative_value",
        "below_invoiced",
    }
)


def _change_lines(where: str, lines: Iterable[ChangeLine], out: list[Violation]) -> None:
    for n, line in enumerate(lines):
        if not line.sku_id.strip():
            out.append(_v(f"{where}[{n}].id", "required", "is required"))
        if line.quantity <= 0:
            out.append(
                _v(f"{where}[{n}].quantity", "not_positive", f"{line.quantity} must be greater than 0")
            )
        if line.unit_price_cents < 0:
            out.append(
                _v(
                    f"{where}[{n}].price",
                    "negative",
                    f"{line.unit_price_cents} must not be negative",
                )
            )


def _removable(lines: tuple[ChangeLine, ...], order: OrderSnapshot, out: list[Violation]) -> None:
    """Removed SKUs must exist, in a quantity no Output invoice covers yet (SalesOrderSystem046)."""
    ordered = ordered_quantities(order)
    invoiced = invoiced_quantities(order, "Output")
    wanted: dict[str, int] = {}
    for line in lines:
        wanted[line.sku_id] = wanted.get(line.sku_id, 0) + max(line.quantity, 0)
    for sku, quantity in wanted.items():
        if sku not in ordered:
            out.append(_v("itemsRemoved", "unknown_sku", f"SKU {sku!r} is not on the order"))
            continue
        if quantity > ordered[sku]:
            out.append(
                _v(
                    "itemsRemoved",
                    "quantity_exceeds",
                    f"SKU {sku!r}: cannot remove {quantity}, the order has {ordered[sku]} "
                    "(the quantity would go below zero)",
                )
            )
        elif quantity > ordered[sku] - invoiced.get(sku, 0):
            out.append(
                _v(
                    "itemsRemoved",
                    "already_invoiced",
                    f"SKU {sku!r}: cannot remove {quantity}, {invoiced.get(sku, 0)} of {ordered[sku]} "
                    "are already invoiced",
                )
            )


# --- cancel and deny -------------------------------------------------------------------------------


def _cancel(cmd: CancelCommand, order: OrderSnapshot, pending: PendingWork) -> list[Violation]:
    out: list[Violation] = []
    if not cmd.reason.strip():
        out.append(_v("reason", "required", "is required"))
    if order.status is None:
        out.append(_v("order.status", "incomplete", "is null: VTEX cannot cancel an incomplete order"))
    elif order.status in NOT_CANCELABLE_STATUSES:
        out.append(
            _v("order.status", "not_cancelable", f"is {order.status!r}: the order can no longer be canceled")
        )
    if order.output_invoiced_cents > 0:
        out.append(
            _v(
                "",
                "after_invoice",
                f"the order has Output invoices ({order.output_invoiced_cents} of {order.value_cents}); "
                "remove the rest with a change or post a return instead",
            )
        )
    if pending.invoice_numbers - pending.held_invoice_numbers:  # a held invoice waits: it races nothing
        out.append(
            _v(
                "",
                "invoice_in_flight",
                "an invoice is in flight; a cancel must not race it (KI 1400005)",
            )
        )
    if pending.cancel_in_flight:
        out.append(_v("", "cancel_in_flight", "a cancel for this order was already accepted"))
    return out


def _deny(cmd: DenyCancellationCommand, order: OrderSnapshot, pending: PendingWork) -> list[Violation]:
    out: list[Violation] = []
    if not cmd.reason.strip():
        out.append(_v("reason", "required", "is required"))
    if order.status != "cancellation-requested":
        out.append(
            _v(
                "order.status",
                "no_cancellation_request",
                f"is {order.status!r}; there is no cancellation request to deny",
            )
        )
    wanted, open_id = cmd.cancellation_request_id, order.open_cancellation_request_id
    if wanted and open_id and wanted != open_id:
        out.append(
            _v(
                "cancellationRequestId",
                "not_open",
                f"{wanted!r} is not the open cancellation request ({open_id!r})",
            )
        )
    if pending.cancel_in_flight:
        out.append(_v("", "cancel_in_flight", "a cancel for this order was already accepted"))
    if pending.deny_in_flight:
        out.append(_v("", "deny_in_flight", "a denial for this request was already accepted"))
    return out


# --- helpers ---------------------------------------------------------------------------------------


def ordered_quantities(order: OrderSnapshot) -> dict[str, int]:
    """Quantity ordered per SKU (a SKU may appear on several lines)."""
    totals: dict[str, int] = {}
    for item in order.items:
        totals[item.sku_id] = totals.get(item.sku_id, 0) + item.quantity
    return totals


def invoiced_quantities(order: OrderSnapshot, kind: str) -> dict[str, int]:
    """Quantity per SKU in the order's invoices of `kind` (packages refer to items by index)."""
    sku_at = {item.index: item.sku_id for item in order.items}
    totals: dict[str, int] = {}
    for package in order.packages:
        if package.kind != kind:
            continue
        for pi in package.items:
            sku = sku_at.get(pi.item_index)
            if sku is not None:
                totals[sku] = totals.get(sku, 0) + pi.quantity
    return totals


def _sum_packages(packages: Iterable[InvoicePackage], kind: str) -> int:
    return sum(p.value_cents for p in packages if p.kind == kind)


def _lines_total(lines: Iterable[ChangeLine]) -> int:
    return sum(line.quantity * line.unit_price_cents for line in lines)


def _names(statuses: Iterable[str]) -> str:
    return " or ".join(sorted(statuses))


def _v(field_name: str, rule: str, detail: str, *, conflict: bool = False) -> Violation:
    return Violation(field_name, rule, f"{field_name}: {detail}" if field_name else detail, conflict)


_INCOMPLETE = _v(
    "order.isCompleted",
    "incomplete",
    "is false: VTEX has not completed the order (e.g. not paid yet); it takes no invoice, tracking or "
    "change until it is",
)
