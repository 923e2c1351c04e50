"""ERP input → core commands, shared by every ERP channel (REST API, staging tables, files).

One wire vocabulary for all channels: camelCase JSON that mirrors VTEX's own invoice / tracking / change
payloads (so ERP teams that know VTEX recognise it), money as integer cents. Shape problems (missing field,
wrong type, zero quantity, unknown key, malformed JSON or CSV) are found here; business rules that need the
stored order (over-invoicing, unknown SKU, cancel after invoice …) are `orderbridge.core.validation`'s job,
applied by the pipeline's `CommandSink`. Every problem names the field and the rule, so the same rejection
reads the same whether it comes back as a problem+json, a staging row's `error` or an `.error.txt`.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError
from pydantic_core import PydanticCustomError

from orderbridge.core.commands import (
    CancelCommand,
    ChangeCommand,
    ChangeLine,
    Command,
    DenyCancellationCommand,
    InvoiceCommand,
    InvoiceLine,
    TrackingEvent,
    TrackingEventsCommand,
    TrackingNumberCommand,
)


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an ERP input: where (`field`), which rule, and a sentence naming both.

    `field` is the name as the ERP wrote it (`items[0].id`). `location` says where the REST API finds
    it: in the JSON body (then `pointer`, when given, is its exact JSON Pointer; otherwise one is derived
    from `field`), or a URL parameter or header of that name.
    """

    field: str
    rule: str
    message: str
    location: Literal["body", "parameter", "header"] = "body"
    pointer: str | None = None


def problem(field: str, rule: str, text: str) -> Problem:
    """The one message format: `<field>: <what is wrong> [<rule>]`."""
    return Problem(field, rule, f"{field}: {text} [{rule}]")


#: Names that stand for no member of the request body: the body as a whole, the command, a CSV file.
_NOT_IN_BODY = frozenset({"", "body", "command", "csv"})
_POINTER_TOKENS = re.compile(r"[^.\[\]]+")


def json_pointer(field: str) -> str | None:
    """`items[0].id` → `/items/0/id`: the JSON Pointer (RFC 6901) of a wire field in the request body.

    None for what is not a member of the body: the command as a whole (""), the stored order
    (`order.status`), a CSV row or the file itself.
    """
    if field in _NOT_IN_BODY or field.startswith(("order.", "row ", "csv.")):
        return None
    tokens = _POINTER_TOKENS.findall(field)
    return "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens)


def pointer_of(loc: Iterable[int | str]) -> str:
    """A pydantic error location (`("items", 0, "id")`) as a JSON Pointer (`/items/0/id`)."""
    return "".join("/" + str(t).replace("~", "~0").replace("/", "~1") for t in loc)


class ParseError(ValueError):
    """The input cannot become a command; `problems` says every reason found (not just the first)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(p.message for p in self.problems))


#: The extended calendar form VTEX's examples use (a date, or a date and time with an optional zone).
#: Python also reads week dates and the basic form (2026-W48-5, 20261127), which VTEX documents nowhere:
#: refused here rather than risk VTEX refusing them after the ERP was told the command was taken.
_ISO_SHAPE = re.compile(
    r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?", re.ASCII
)


def _iso_datetime(value: str) -> str:
    """Keep the ERP's text (VTEX takes it as is) but refuse what is not an ISO 8601 date-time."""
    try:
        if not _ISO_SHAPE.fullmatch(value):
            raise ValueError(value)
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("must be an ISO 8601 date-time such as 2026-11-27T10:00:00Z") from None
    return value


def no_nul(value: str) -> str:
    """PostgreSQL cannot store a NUL character: refuse it as a field problem, before it fails a write."""
    if "\x00" in value:
        raise PydanticCustomError("nul_character", "must not contain a NUL character")
    return value


#: C0 and C1 control characters and DEL: a CR/LF in a courier name would end up in VTEX's documents,
#: e-mails and storefront pages; none belongs in anything an ERP sends on to VTEX.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def no_control(value: str) -> str:
    """Refuse NUL (as `no_nul`, its own rule) and every other control character (CR, LF, tab, ESC…)."""
    no_nul(value)
    if _CONTROL.search(value):
        raise PydanticCustomError(
            "control_character", "must not contain control characters (CR, LF, tab, ESC…)"
        )
    return value


_url_schemes: tuple[str, ...] = ("https",)


def allow_http_urls(allowed: bool) -> None:
    """`[erp] allow_http_urls`, applied once at service start: plain http for invoice and tracking URLs
    (an ERP on a private network without TLS). Off by default: VTEX shows these links to shoppers."""
    global _url_schemes
    _url_schemes = ("https", "http") if allowed else ("https",)


def web_url(value: str) -> str:
    """An absolute https URL with a host (http too when allowed): no `javascript:`, `data:`, `file:`…"""
    parts = urlsplit(value)
    if parts.scheme.lower() not in _url_schemes or not parts.hostname:
        wanted = " or http://" if "http" in _url_schemes else ""
        raise PydanticCustomError("url_scheme", f"must be an https://{wanted} URL with a host")
    return value


Text = Annotated[str, Field(strict=True, min_length=1, max_length=2000), AfterValidator(no_control)]
ShortText = Annotated[str, Field(strict=True, min_length=1, max_length=200), AfterValidator(no_control)]
Url = Annotated[
    str,
    Field(strict=True, min_length=1, max_length=2000),
    AfterValidator(no_control),
    AfterValidator(web_url),
]
IsoDateTime = Annotated[str, Field(strict=True, min_length=1, max_length=40), AfterValidator(_iso_datetime)]
Quantity = Annotated[StrictInt, Field(gt=0, le=1_000_000)]
Cents = Annotated[StrictInt, Field(ge=0, le=10**12)]
PositiveCents = Annotated[StrictInt, Field(gt=0, le=10**12)]


class _Wire(BaseModel):
    """Unknown keys are refused: a typo (`invoiceNumbr`) must not silently drop a field."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class InvoiceItemIn(_Wire):
    id: ShortText = Field(description="SKU id as on the VTEX order.")
    quantity: Quantity
    price: Cents = Field(description="Unit price in cents (VTEX multiplies by quantity).")
    description: ShortText | None = None


class InvoiceIn(_Wire):
    """An invoice (`type` Output = sale, Input = return); `invoiceValue` in cents, shipping and tax in."""

    invoiceNumber: ShortText
    invoiceValue: PositiveCents
    issuanceDate: IsoDateTime
    type: Literal["Output", "Input"] = "Output"
    items: list[InvoiceItemIn] = Field(min_length=1, max_length=1000)
    invoiceKey: ShortText | None = None
    invoiceUrl: Url | None = None
    courier: ShortText | None = None
    trackingNumber: ShortText | None = None
    trackingUrl: Url | None = None


class TrackingNumberIn(_Wire):
    """Tracking number, courier and URL for an invoice already sent (VTEX's PATCH of the invoice)."""

    trackingNumber: ShortText
    courier: ShortText
    trackingUrl: Url | None = None
    dispatchedDate: IsoDateTime | None = None


class TrackingEventIn(_Wire):
    city: ShortText
    state: ShortText
    description: Text
    date: IsoDateTime


class TrackingEventsIn(_Wire):
    isDelivered: StrictBool
    deliveredDate: IsoDateTime | None = None
    events: list[TrackingEventIn] = Field(default_factory=list, max_length=500)


class ChangeItemIn(_Wire):
    id: ShortText
    quantity: Quantity
    price: Cents = Field(description="Unit price in cents.")


class ChangeIn(_Wire):
    """Item changes. `requestId` is the idempotency key VTEX honours; the channel supplies one if absent."""

    reason: Text
    requestId: ShortText | None = None
    itemsRemoved: list[ChangeItemIn] = Field(default_factory=list, max_length=1000)
    itemsAdded: list[ChangeItemIn] = Field(default_factory=list, max_length=1000)
    discountValue: Cents = 0
    incrementValue: Cents = 0


class CancellationIn(_Wire):
    reason: Text


class CancellationDenialIn(_Wire):
    reason: Text
    cancellationRequestId: ShortText | None = None


class AcceptanceIn(_Wire):
    """The ERP's asynchronous answer to a handover: accepted (with its reference) or rejected with why."""

    accepted: StrictBool
    erpReference: ShortText | None = None
    reason: Text | None = None


@dataclass(frozen=True, slots=True)
class Acceptance:
    accepted: bool
    erp_reference: str | None = None
    reason: str | None = None


CommandKind = Literal[
    "invoice", "tracking-number", "tracking-events", "change", "cancellation", "cancellation-denial"
]
COMMAND_KINDS: tuple[CommandKind, ...] = (
    "invoice",
    "tracking-number",
    "tracking-events",
    "change",
    "cancellation",
    "cancellation-denial",
)


def _field_name(loc: Iterable[int | str]) -> str:
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "body"


def problems_from_validation(error: ValidationError, prefix: str = "") -> list[Problem]:
    """Pydantic's errors in our words: `items[0].quantity` / `greater_than` / a sentence naming both."""
    problems = []
    for err in error.errors(include_url=False, include_input=False):
        field = _field_name((prefix, *err["loc"]) if prefix else err["loc"])
        rule = str(err["type"])
        text = str(err["msg"])
        if rule == "extra_forbidden":
            text = "unknown field (not part of this command)"
        elif rule == "missing":
            text = "is required"
        found = problem(field, rule, text)
        problems.append(Problem(found.field, rule, found.message, pointer=pointer_of(err["loc"])))
    return problems


def _validate(model: type[_Wire], data: object, prefix: str = "") -> Any:
    if not isinstance(data, Mapping):
        field = prefix or "body"
        raise ParseError([problem(field, "object_type", "must be a JSON object")])
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise ParseError(problems_from_validation(exc, prefix)) from None


def load_json(text: str | bytes, *, field: str = "body") -> Any:
    """Decode JSON, turning a syntax error into a Problem that says where it broke."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise ParseError([problem(field, "json_invalid", f"malformed JSON{where}")]) from None


# --- wire model → core command ---------------------------------------------------------------------------


def invoice_command(body: InvoiceIn) -> InvoiceCommand:
    return InvoiceCommand(
        invoice_number=body.invoiceNumber,
        value_cents=body.invoiceValue,
        issuance_date=body.issuanceDate,
        lines=tuple(InvoiceLine(i.id, i.quantity, i.price, i.description) for i in body.items),
        invoice_kind=body.type,
        invoice_key=body.invoiceKey,
        invoice_url=body.invoiceUrl,
        courier=body.courier,
        tracking_number=body.trackingNumber,
        tracking_url=body.trackingUrl,
    )


def tracking_number_command(invoice_number: str, body: TrackingNumberIn) -> TrackingNumberCommand:
    return TrackingNumberCommand(
        invoice_number=invoice_number,
        tracking_number=body.trackingNumber,
        courier=body.courier,
        tracking_url=body.trackingUrl,
        dispatched_date=body.dispatchedDate,
    )


def tracking_events_command(invoice_number: str, body: TrackingEventsIn) -> TrackingEventsCommand:
    return TrackingEventsCommand(
        invoice_number=invoice_number,
        is_delivered=body.isDelivered,
        events=tuple(TrackingEvent(e.city, e.state, e.description, e.date) for e in body.events),
        delivered_date=body.deliveredDate,
    )


def change_command(body: ChangeIn, default_request_id: str) -> ChangeCommand:
    return ChangeCommand(
        request_id=body.requestId or default_request_id,
        reason=body.reason,
        remove=tuple(ChangeLine(i.id, i.quantity, i.price) for i in body.itemsRemoved),
        add=tuple(ChangeLine(i.id, i.quantity, i.price) for i in body.itemsAdded),
        discount_cents=body.discountValue,
        increment_cents=body.incrementValue,
    )


def cancel_command(body: CancellationIn) -> CancelCommand:
    return CancelCommand(reason=body.reason)


def deny_command(body: CancellationDenialIn) -> DenyCancellationCommand:
    return DenyCancellationCommand(reason=body.reason, cancellation_request_id=body.cancellationRequestId)


def acceptance(body: AcceptanceIn) -> Acceptance:
    return Acceptance(body.accepted, body.erpReference, body.reason)


def acceptance_problems(body: AcceptanceIn) -> list[Problem]:
    """A rejection must say why (the operator reads it); an acceptance must not carry a reason by mistake."""
    if not body.accepted and not body.reason:
        return [problem("reason", "required_when_rejected", "is required when accepted is false")]
    if body.accepted and body.reason:
        return [problem("reason", "only_when_rejected", "only allowed when accepted is false")]
    return []


# --- one entry point for the channels that carry the kind in the data (staging tables, files) ------------


def parse_command(kind: str, data: object, *, default_request_id: str, prefix: str = "") -> Command:
    """Build a command of `kind` from a wire dict; tracking kinds carry `invoiceNumber` in the dict."""
    if kind == "invoice":
        return invoice_command(_validate(InvoiceIn, data, prefix))
    if kind == "change":
        return change_command(_validate(ChangeIn, data, prefix), default_request_id)
    if kind == "cancellation":
        return cancel_command(_validate(CancellationIn, data, prefix))
    if kind == "cancellation-denial":
        return deny_command(_validate(CancellationDenialIn, data, prefix))
    if kind in ("tracking-number", "tracking-events"):
        number, rest = _split_invoice_number(data, prefix)
        if kind == "tracking-number":
            return tracking_number_command(number, _validate(TrackingNumberIn, rest, prefix))
        return tracking_events_command(number, _validate(TrackingEventsIn, rest, prefix))
    field = f"{prefix}.command" if prefix else "command"
    raise ParseError(
        [problem(field, "unknown_command", f"{kind!r} is not one of {', '.join(COMMAND_KINDS)}")]
    )


def parse_acceptance(data: object, prefix: str = "") -> Acceptance:
    body = _validate(AcceptanceIn, data, prefix)
    problems = acceptance_problems(body)
    if problems:
        raise ParseError(problems)
    return acceptance(body)


def _split_invoice_number(data: object, prefix: str) -> tuple[str, dict[str, Any]]:
    field = f"{prefix}.invoiceNumber" if prefix else "invoiceNumber"
    if not isinstance(data, Mapping):
        return "", {}  # _validate reports the real problem (not an object)
    rest = dict(data)
    number = rest.pop("invoiceNumber", None)
    if number is None:
        problems = [problem(field, "missing", "is required")]
        try:
            _validate(TrackingEventsIn if "isDelivered" in rest else TrackingNumberIn, rest, prefix)
        except ParseError as exc:
            problems.extend(exc.problems)
        raise ParseError(problems)
    if not isinstance(number, str) or not number:
        raise ParseError([problem(field, "string_type", "must be a non-empty string")])
    return number, rest


# --- CSV (invoices and tracking numbers: what ERPs export most readily) ------------------------------------

INVOICE_CSV_COLUMNS = (
    "order_id",
    "invoice_number",
    "invoice_value",
    "issuance_date",
    "type",
    "sku_id",
    "quantity",
    "unit_price",
    "description",
    "invoice_key",
    "invoice_url",
    "courier",
    "tracking_number",
    "tracking_url",
)
TRACKING_CSV_COLUMNS = (
    "order_id",
    "invoice_number",
    "tracking_number",
    "courier",
    "tracking_url",
    "dispatched_date",
)
_OPTIONAL_CSV = frozenset(
    {
        "account",
        "type",
        "description",
        "invoice_key",
        "invoice_url",
        "courier",
        "tracking_number",
        "tracking_url",
        "dispatched_date",
    }
)


@dataclass(frozen=True, slots=True)
class CsvCommand:
    """One command read from a CSV: which order, which rows made it, and the command itself."""

    account: str | None
    order_id: str
    rows: tuple[int, ...]
    command: Command


def _read_csv(text: str, required: Sequence[str], allowed: Sequence[str]) -> list[dict[str, str]]:
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
        header = reader.fieldnames or []
        rows = [dict(r) for r in reader]
    except csv.Error as exc:
        raise ParseError([problem("csv", "csv_invalid", f"malformed CSV ({exc})")]) from None
    problems = [
        problem(f"csv.{c}", "missing_column", "column is required") for c in required if c not in header
    ]
    problems += [
        problem(f"csv.{c}", "unknown_column", "unknown column")
        for c in header
        if c not in allowed and c != "account"
    ]
    for n, row in enumerate(rows, start=2):
        if None in row or any(v is None for v in row.values()):
            problems.append(
                problem(f"row {n}", "column_count", "has a different number of cells than the header")
            )
    if not rows and not problems:
        problems.append(problem("csv", "empty", "no data rows"))
    if problems:
        raise ParseError(problems)
    return rows


def _cell(row: Mapping[str, str], column: str) -> str | None:
    value = (row.get(column) or "").strip()
    return value or None


def _int_cell(row: Mapping[str, str], column: str, where: str, problems: list[Problem]) -> int | None:
    value = _cell(row, column)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        problems.append(problem(f"{where}.{column}", "int_parsing", f"{value!r} is not an integer"))
        return 0


def _strip_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


#: Columns that describe the invoice, not the line: every row of one invoice must agree on them.
_INVOICE_LEVEL_CSV = (
    "invoice_value",
    "issuance_date",
    "type",
    "invoice_key",
    "invoice_url",
    "courier",
    "tracking_number",
    "tracking_url",
)
_CsvRows = list[tuple[int, dict[str, str]]]


def parse_invoices_csv(text: str) -> list[CsvCommand]:
    """One row per invoice line; rows sharing (account, order_id, invoice_number) make one invoice.

    Invoice-level columns must agree on every row of the invoice (a disagreement is a problem, not a guess).
    """
    rows = _read_csv(text, [c for c in INVOICE_CSV_COLUMNS if c not in _OPTIONAL_CSV], INVOICE_CSV_COLUMNS)
    problems: list[Problem] = []
    commands = []
    for (account, order_id, number), members in _invoice_groups(rows, problems).items():
        problems += _disagreements(members)
        data = _invoice_csv_data(number, members, problems)
        try:
            command = parse_command("invoice", data, default_request_id="")
        except ParseError as exc:
            lines = tuple(n for n, _ in members)
            problems.extend(in_csv_words(found, lines) for found in exc.problems)
            continue
        commands.append(CsvCommand(account, order_id, tuple(n for n, _ in members), command))
    if problems:
        raise ParseError(problems)
    return commands


def _invoice_groups(
    rows: list[dict[str, str]], problems: list[Problem]
) -> dict[tuple[str | None, str, str], _CsvRows]:
    """(account, order_id, invoice_number) → its rows with their line numbers (the header is line 1)."""
    groups: dict[tuple[str | None, str, str], _CsvRows] = {}
    for n, row in enumerate(rows, start=2):
        key = (_cell(row, "account"), _cell(row, "order_id") or "", row.get("invoice_number") or "")
        if not key[1]:
            problems.append(problem(f"row {n}.order_id", "missing", "is required"))
        groups.setdefault(key, []).append((n, row))
    return groups


def _disagreements(members: _CsvRows) -> list[Problem]:
    first_n, first = members[0]
    return [
        problem(f"row {n}.{col}", "inconsistent", f"differs from row {first_n} of the same invoice")
        for n, row in members[1:]
        for col in _INVOICE_LEVEL_CSV
        if _cell(row, col) != _cell(first, col)
    ]


def _invoice_csv_data(number: str, members: _CsvRows, problems: list[Problem]) -> dict[str, Any]:
    """The invoice's wire dict, read from its first row (and every row for the lines)."""
    items = [
        _strip_none(
            {
                "id": _cell(row, "sku_id"),
                "quantity": _int_cell(row, "quantity", f"row {n}", problems),
                "price": _int_cell(row, "unit_price", f"row {n}", problems),
                "description": _cell(row, "description"),
            }
        )
        for n, row in members
    ]
    first_n, first = members[0]
    return _strip_none(
        {
            "invoiceNumber": number,
            "invoiceValue": _int_cell(first, "invoice_value", f"row {first_n}", problems),
            "issuanceDate": _cell(first, "issuance_date"),
            "type": _cell(first, "type"),
            "items": items,
            "invoiceKey": _cell(first, "invoice_key"),
            "invoiceUrl": _cell(first, "invoice_url"),
            "courier": _cell(first, "courier"),
            "trackingNumber": _cell(first, "tracking_number"),
            "trackingUrl": _cell(first, "tracking_url"),
        }
    )


def parse_tracking_csv(text: str) -> list[CsvCommand]:
    """One row per tracking number: order_id, invoice_number, tracking_number, courier (+ optional
    tracking_url, dispatched_date, account)."""
    rows = _read_csv(text, TRACKING_CSV_COLUMNS[:4], TRACKING_CSV_COLUMNS)
    problems: list[Problem] = []
    commands = []
    for n, row in enumerate(rows, start=2):
        where = f"row {n}"
        order_id = _cell(row, "order_id")
        if order_id is None:
            problems.append(problem(f"{where}.order_id", "missing", "is required"))
        data = _strip_none(
            {
                "invoiceNumber": row.get("invoice_number") or None,
                "trackingNumber": _cell(row, "tracking_number"),
                "courier": _cell(row, "courier"),
                "trackingUrl": _cell(row, "tracking_url"),
                "dispatchedDate": _cell(row, "dispatched_date"),
            }
        )
        try:
            command = parse_command("tracking-number", data, default_request_id="")
        except ParseError as exc:
            problems.extend(in_csv_words(found, (n,)) for found in exc.problems)
            continue
        if order_id is not None:
            commands.append(CsvCommand(_cell(row, "account"), order_id, (n,), command))
    if problems:
        raise ParseError(problems)
    return commands


#: A CSV command's wire fields as the CSV names them (its columns); item fields are per row.
_CSV_COLUMNS = {
    "invoiceNumber": "invoice_number",
    "invoiceValue": "invoice_value",
    "issuanceDate": "issuance_date",
    "invoiceKey": "invoice_key",
    "invoiceUrl": "invoice_url",
    "trackingNumber": "tracking_number",
    "trackingUrl": "tracking_url",
    "dispatchedDate": "dispatched_date",
    "courier": "courier",
    "type": "type",
    "items": "sku_id",
}
_CSV_ITEM_COLUMNS = {
    "id": "sku_id",
    "quantity": "quantity",
    "price": "unit_price",
    "description": "description",
}
_ITEM_FIELD = re.compile(r"items\[(\d+)\]\.(\w+)")


def csv_field(field: str, rows: Sequence[int]) -> str:
    """Where a wire field of a CSV command is in the CSV: `invoiceValue` → `row 2.invoice_value`,
    `items[1].quantity` → `row 3.quantity` (the second line of the invoice is on the CSV's row 3)."""
    item = _ITEM_FIELD.fullmatch(field)
    if item is not None and int(item.group(1)) < len(rows):
        column = _CSV_ITEM_COLUMNS.get(item.group(2), item.group(2))
        return f"row {rows[int(item.group(1))]}.{column}"
    named = _CSV_COLUMNS.get(field)
    return f"row {rows[0]}.{named}" if named is not None and rows else field


def renamed(field: str, message: str, new_field: str) -> str:
    """`message` ("<field>: what is wrong …") naming `new_field` instead."""
    if field and message.startswith(f"{field}: "):
        return f"{new_field}: {message[len(field) + 2 :]}"
    return message


def in_csv_words(found: Problem, rows: Sequence[int]) -> Problem:
    """A problem of a CSV command, naming the CSV's row and column instead of the wire field."""
    where = csv_field(found.field, rows)
    return Problem(where, found.rule, renamed(found.field, found.message, where))
