"""Repository functions the pipeline calls: intake events, orders, commands, attempts, accounts.

Every function is synchronous, takes a `Connection` and works inside the caller's transaction (a
`Database.write` or `Database.read` unit: the caller commits), so a state change and the job it causes
commit together. Hot paths are single Core statements: no ORM
identity map, no read-before-write round trips (`INSERT … ON CONFLICT … RETURNING` on both dialects).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from sqlalchemy import Insert, Table, bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from orderbridge.core.orders import OrderSnapshot
from orderbridge.core.validation import PendingWork
from orderbridge.store.group_commit import defer
from orderbridge.store.tables import (
    accounts,
    attempts,
    commands,
    erp_channels,
    intake_events,
    orders,
    vtex_calls,
)
from orderbridge.store.types import utcnow

IntakeSource = Literal["feed", "hook", "reconcile"]
# "held": VTEX said "not now" (a cancellation request is open); relayed again once it is decided.
CommandStatus = Literal["pending", "sending", "sent", "confirmed", "rejected", "failed", "held"]
#: Accepted by us, not yet confirmed by VTEX: what `pending_work_from` counts.
IN_FLIGHT_STATUSES: tuple[CommandStatus, ...] = ("pending", "sending", "sent", "held")
NEW_ORDER_STATE = "new"


class DuplicateIdempotencyKey(Exception):
    """`add_command` found a command with the same (account, idempotency_key); the transaction is intact."""

    def __init__(self, command_id: str) -> None:
        super().__init__(f"a command with this idempotency key exists: {command_id}")
        self.command_id = command_id


_INSERTS: dict[str, Callable[[Table], Insert]] = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
_BUILT: dict[tuple[str, str], Any] = {}


def _prebuilt(conn: Connection, name: str, build: Callable[[Callable[[Table], Insert]], Any]) -> Any:
    """A hot-path statement built once per dialect with bind parameters: building a SQLAlchemy
    statement costs more CPU than executing it, and these run for every order."""
    dialect = conn.dialect.name
    stmt = _BUILT.get((dialect, name))
    if stmt is None:
        if dialect not in _INSERTS:
            raise NotImplementedError(f"unsupported database dialect {dialect!r}")
        stmt = _BUILT[(dialect, name)] = build(_INSERTS[dialect])
    return stmt


def _insert(conn: Connection, table: Table) -> Insert:
    """The dialect's INSERT, which knows ON CONFLICT."""
    name = conn.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"unsupported database dialect {name!r}")


# --- intake events ---------------------------------------------------------------------------------


class IntakeEvent(Protocol):
    """What an intake event carries into the store (the pipeline's `IncomingEvent`)."""

    @property
    def order_id(self) -> str: ...
    @property
    def state(self) -> str | None: ...
    @property
    def last_state(self) -> str | None: ...
    @property
    def current_change(self) -> str | None: ...
    @property
    def raw(self) -> Mapping[str, Any] | None: ...


def record_intake_event(
    conn: Connection,
    account: str,
    source: IntakeSource,
    order_id: str,
    state: str | None,
    last_state: str | None,
    current_change: str | None,
    raw: Mapping[str, Any] | None,
) -> int | None:
    """Store an event once per (account, order, state, change time); the new id, or None if a duplicate."""
    raw_copy = dict(raw) if raw is not None else None
    params = _intake_params(account, source, order_id, state, last_state, current_change, raw_copy, utcnow())
    stmt = _prebuilt(conn, "record_intake_event", _record_intake_event_statement)
    return (conn.execute(stmt, params)).scalar_one_or_none()


def record_intake_events(
    conn: Connection, account: str, source: IntakeSource, events: Sequence[IntakeEvent]
) -> set[tuple[str, str, str]]:
    """`record_intake_event` for a batch (a feed page), same dedupe; the (order, state, change time)
    of the events that were new, with a missing state or change time as ''."""
    now = utcnow()
    rows = [
        _intake_params(account, source, e.order_id, e.state, e.last_state, e.current_change, e.raw, now)
        for e in events
    ]
    if not rows:
        return set()
    # One multi-row INSERT … ON CONFLICT DO NOTHING RETURNING (SQLAlchemy's "insertmanyvalues").
    found = conn.execute(_RECORD_INTAKE_EVENTS[conn.dialect.name], rows)
    return {(order_id, state, change) for order_id, state, change in found}


def _intake_params(
    account: str,
    source: IntakeSource,
    order_id: str,
    state: str | None,
    last_state: str | None,
    current_change: str | None,
    raw: Mapping[str, Any] | None,
    received_at: datetime,
) -> dict[str, Any]:
    return {
        "account": account,
        "source": source,
        "order_id": order_id,
        "state": state or "",
        "last_state": last_state,
        "current_change": current_change or "",
        "raw": raw,
        "received_at": received_at,
    }


def _insert_intake_event(insert: Callable[[Table], Insert]) -> Any:
    values = {c: bindparam(c, type_=intake_events.c[c].type) for c in _INTAKE_PARAMS}
    return insert(intake_events).values(values).on_conflict_do_nothing()  # type: ignore[attr-defined]


def _record_intake_event_statement(insert: Callable[[Table], Insert]) -> Any:
    return _insert_intake_event(insert).returning(intake_events.c.id)


_INTAKE_PARAMS = (
    "account",
    "source",
    "order_id",
    "state",
    "last_state",
    "current_change",
    "raw",
    "received_at",
)
_RECORD_INTAKE_EVENTS = {
    dialect: _insert_intake_event(insert).returning(
        intake_events.c.order_id, intake_events.c.state, intake_events.c.current_change
    )
    for dialect, insert in _INSERTS.items()
}


def mark_intake_events_processed(conn: Connection, account: str, order_id: str) -> int:
    """Mark every unprocessed event of an order processed (one sync handles them all); the count."""
    params = {"b_account": account, "b_order_id": order_id, "b_now": utcnow()}
    return _rowcount(conn.execute(_MARK_PROCESSED, params))


_MARK_PROCESSED = (
    update(intake_events)
    .where(
        intake_events.c.account == bindparam("b_account"),
        intake_events.c.order_id == bindparam("b_order_id"),
        intake_events.c.processed_at.is_(None),
    )
    .values(processed_at=bindparam("b_now", type_=intake_events.c.processed_at.type))
)


# --- orders ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderRow:
    account: str
    order_id: str
    vtex_status: str | None
    pipeline_state: str
    value_cents: int
    last_change: str
    snapshot: dict[str, Any]
    erp_reference: str | None
    park_reason: str | None
    handed_over_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int
    raw: dict[str, Any] | None = None

    def order_snapshot(self) -> OrderSnapshot:
        return OrderSnapshot.from_dict(self.snapshot)


_ORDER_COLUMNS = [orders.c[name] for name in OrderRow.__dataclass_fields__ if name != "raw"]


def get_order(conn: Connection, account: str, order_id: str, *, with_raw: bool = False) -> OrderRow | None:
    """The stored order; its raw VTEX document only on request (large, and decisions use the snapshot)."""
    stmt = _GET_ORDER_WITH_RAW if with_raw else _GET_ORDER
    row = (conn.execute(stmt, {"account": account, "order_id": order_id})).mappings().one_or_none()
    return OrderRow(**row) if row is not None else None


def _get_order_statement(columns: Sequence[Any]) -> Any:
    return select(*columns).where(
        orders.c.account == bindparam("account"), orders.c.order_id == bindparam("order_id")
    )


_GET_ORDER = _get_order_statement(_ORDER_COLUMNS)
_GET_ORDER_WITH_RAW = _get_order_statement([*_ORDER_COLUMNS, orders.c.raw])


def upsert_order(
    conn: Connection,
    account: str,
    order_id: str,
    vtex_status: str | None,
    raw: Mapping[str, Any] | None,
    snapshot: Mapping[str, Any],
    last_change: str,
) -> bool:
    """Store the latest read of an order; a new order starts in pipeline state "new".

    An older read never overwrites a newer one (compared by VTEX's `lastChange`, an ISO timestamp), so a
    slow reader cannot roll the stored order back. Returns False when the stored read was newer.
    """
    now = utcnow()
    params = {
        "account": account,
        "order_id": order_id,
        "vtex_status": vtex_status,
        "value_cents": int(snapshot.get("value_cents", 0)),
        "last_change": last_change,
        "raw": dict(raw) if raw is not None else None,
        "snapshot": dict(snapshot),
        "now": now,
    }
    stmt = _prebuilt(conn, "upsert_order", _upsert_order_statement)
    return (conn.execute(stmt, params)).scalar_one_or_none() is not None


def _upsert_order_statement(insert: Callable[[Table], Insert]) -> Any:
    changing = ("vtex_status", "value_cents", "last_change", "raw", "snapshot")
    values: dict[str, Any] = {
        c: bindparam(c, type_=orders.c[c].type) for c in ("account", "order_id", *changing)
    }
    now = bindparam("now", type_=orders.c.created_at.type)
    stmt = insert(orders).values(
        **values, pipeline_state=NEW_ORDER_STATE, created_at=now, updated_at=now, version=1
    )
    excluded = stmt.excluded  # type: ignore[attr-defined]
    return stmt.on_conflict_do_update(  # type: ignore[attr-defined]
        index_elements=[orders.c.account, orders.c.order_id],
        set_={
            **{c: excluded[c] for c in changing},
            "updated_at": excluded.updated_at,
            "version": orders.c.version + 1,
        },
        where=orders.c.last_change <= excluded.last_change,
    ).returning(orders.c.version)


_SETTABLE_ORDER_FIELDS = frozenset(
    {"erp_reference", "park_reason", "handed_over_at", "started_at", "completed_at", "vtex_status"}
)


def set_pipeline_state(
    conn: Connection,
    account: str,
    order_id: str,
    state: str,
    *,
    expect_state: str | Collection[str] | None = None,
    **fields: Any,
) -> bool:
    """Move an order to `state`, setting any of `erp_reference`, `park_reason`, `handed_over_at`,
    `started_at`, `completed_at`, `vtex_status` too. With `expect_state`, only from that state (or one
    of those states): a compare-and-set that makes a step happen once. True when the row changed."""
    unknown = set(fields) - _SETTABLE_ORDER_FIELDS
    if unknown:
        raise ValueError(f"not settable on orders: {sorted(unknown)}")
    params: dict[str, Any] = {
        "b_account": account,
        "b_order_id": order_id,
        "b_state": state,
        "b_now": utcnow(),
    }
    params.update({f"b_{name}": value for name, value in fields.items()})
    if isinstance(expect_state, str):
        expect, params["b_expect"] = "one", expect_state
    elif expect_state is not None:
        expect, params["b_expect"] = "many", list(expect_state)
    else:
        expect = "any"
    key = (expect, tuple(sorted(fields)))
    stmt = _SET_STATE.get(key)
    if stmt is None:
        stmt = _SET_STATE[key] = _set_state_statement(*key)
    return _rowcount(conn.execute(stmt, params)) == 1


_SET_STATE: dict[tuple[str, tuple[str, ...]], Any] = {}


def set_pipeline_state_at_commit(
    conn: Connection,
    account: str,
    order_id: str,
    state: str,
    *,
    snapshot: Any = None,
    **fields: Any,
) -> None:
    """`set_pipeline_state` without a condition and without an answer, written when the transaction
    commits (batched with its likes, see `group_commit.defer`); `snapshot` may replace the stored snapshot
    (a mapping, or the `OrderSnapshot` itself: the JSON serializer writes dataclasses directly).

    Only for a caller that reads nothing of the order afterwards in the same transaction."""
    unknown = set(fields) - _SETTABLE_ORDER_FIELDS
    if unknown:
        raise ValueError(f"not settable on orders: {sorted(unknown)}")
    params: dict[str, Any] = {
        "b_account": account,
        "b_order_id": order_id,
        "b_state": state,
        "b_now": utcnow(),
    }
    params.update({f"b_{name}": value for name, value in fields.items()})
    names = tuple(sorted(fields))
    if snapshot is not None:
        params["b_snapshot"] = snapshot
        names = (*names, "snapshot")
    key = ("any", names)
    stmt = _SET_STATE.get(key)
    if stmt is None:
        stmt = _SET_STATE[key] = _set_state_statement(*key)
    defer(conn, stmt, params)


def _set_state_statement(expect: str, fields: tuple[str, ...]) -> Any:
    conditions = [orders.c.account == bindparam("b_account"), orders.c.order_id == bindparam("b_order_id")]
    if expect == "one":
        conditions.append(orders.c.pipeline_state == bindparam("b_expect"))
    elif expect == "many":
        conditions.append(orders.c.pipeline_state.in_(bindparam("b_expect", expanding=True)))
    values = {name: bindparam(f"b_{name}", type_=orders.c[name].type) for name in fields}
    return (
        update(orders)
        .where(*conditions)
        .values(
            pipeline_state=bindparam("b_state"),
            updated_at=bindparam("b_now", type_=orders.c.updated_at.type),
            version=orders.c.version + 1,
            **values,
        )
    )


@dataclass(frozen=True, slots=True)
class OrderSummary:
    account: str
    order_id: str
    vtex_status: str | None
    pipeline_state: str
    value_cents: int
    last_change: str
    park_reason: str | None
    updated_at: datetime


def list_orders(
    conn: Connection,
    account: str | None = None,
    pipeline_state: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[OrderSummary]:
    """Orders, most recently updated first."""
    stmt = select(*(orders.c[name] for name in OrderSummary.__dataclass_fields__))
    if account is not None:
        stmt = stmt.where(orders.c.account == account)
    if pipeline_state is not None:
        stmt = stmt.where(orders.c.pipeline_state == pipeline_state)
    stmt = stmt.order_by(orders.c.updated_at.desc(), orders.c.order_id).limit(limit).offset(offset)
    return [OrderSummary(**row) for row in (conn.execute(stmt)).mappings()]


def count_orders_by_state(conn: Connection) -> dict[tuple[str, str], int]:
    """{(account, pipeline_state): number of orders}."""
    stmt = select(orders.c.account, orders.c.pipeline_state, func.count()).group_by(
        orders.c.account, orders.c.pipeline_state
    )
    return {(a, s): n for a, s, n in (conn.execute(stmt)).all()}


# --- commands --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommandRow:
    id: str
    account: str
    order_id: str
    kind: str
    payload: dict[str, Any]
    status: str
    channel: str
    idempotency_key: str | None
    invoice_number: str | None
    vtex_receipt: dict[str, Any] | None
    error: str | None
    created_at: datetime
    updated_at: datetime


_COMMAND_COLUMNS = [commands.c[name] for name in CommandRow.__dataclass_fields__]


def add_command(
    conn: Connection,
    account: str,
    order_id: str,
    command_dict: Mapping[str, Any],
    channel: str,
    idempotency_key: str | None = None,
) -> str:
    """Store an accepted command (status "pending"); its new id.

    Raises `DuplicateIdempotencyKey` (with the existing id) when the account already used the key; the
    statement uses ON CONFLICT DO NOTHING, so the caller's transaction stays usable.
    """
    command_id = str(uuid.uuid4())
    now = utcnow()
    stmt = (
        _insert(conn, commands)
        .values(
            id=command_id,
            account=account,
            order_id=order_id,
            kind=command_dict["kind"],
            payload=dict(command_dict),
            status="pending",
            channel=channel,
            idempotency_key=idempotency_key,
            invoice_number=command_dict.get("invoice_number"),
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing()  # type: ignore[attr-defined]
        .returning(commands.c.id)
    )
    if (conn.execute(stmt)).scalar_one_or_none() is None:
        existing = conn.scalar(
            select(commands.c.id).where(
                commands.c.account == account, commands.c.idempotency_key == idempotency_key
            )
        )
        raise DuplicateIdempotencyKey(str(existing))
    return command_id


def get_command(conn: Connection, command_id: str) -> CommandRow | None:
    row = (conn.execute(_GET_COMMAND, {"command_id": command_id})).mappings().one_or_none()
    return CommandRow(**row) if row is not None else None


_GET_COMMAND = select(*_COMMAND_COLUMNS).where(commands.c.id == bindparam("command_id"))


def find_command_by_idempotency_key(
    conn: Connection, account: str, idempotency_key: str
) -> CommandRow | None:
    stmt = select(*_COMMAND_COLUMNS).where(
        commands.c.account == account, commands.c.idempotency_key == idempotency_key
    )
    row = (conn.execute(stmt)).mappings().one_or_none()
    return CommandRow(**row) if row is not None else None


def list_commands(
    conn: Connection, account: str, order_id: str, statuses: Collection[str] | None = None
) -> list[CommandRow]:
    """An order's commands, oldest first."""
    stmt = select(*_COMMAND_COLUMNS).where(commands.c.account == account, commands.c.order_id == order_id)
    if statuses is not None:
        stmt = stmt.where(commands.c.status.in_(list(statuses)))
    stmt = stmt.order_by(commands.c.created_at, commands.c.id)
    return [CommandRow(**row) for row in (conn.execute(stmt)).mappings()]


def set_command_status(
    conn: Connection,
    command_id: str,
    status: CommandStatus,
    *,
    error: str | None = None,
    vtex_receipt: Mapping[str, Any] | None = None,
    expect_status: str | Collection[str] | None = None,
    expect_updated_at: datetime | None = None,
) -> bool:
    """Move a command to `status` (optionally only from `expect_status`, and only if unchanged since
    it was read: `expect_updated_at`); True when the row changed."""
    values: dict[str, Any] = {"status": status, "updated_at": utcnow()}
    if error is not None:
        values["error"] = error
    if vtex_receipt is not None:
        values["vtex_receipt"] = dict(vtex_receipt)
    conditions = [commands.c.id == command_id]
    if isinstance(expect_status, str):
        conditions.append(commands.c.status == expect_status)
    elif expect_status is not None:
        conditions.append(commands.c.status.in_(list(expect_status)))
    if expect_updated_at is not None:
        conditions.append(commands.c.updated_at == expect_updated_at)
    return _rowcount(conn.execute(update(commands).where(*conditions).values(**values))) == 1


def confirm_landed_invoices(
    conn: Connection, account: str, order_id: str, invoice_numbers: Collection[str]
) -> int:
    """Mark in-flight invoice commands whose number now shows on the VTEX order as confirmed.

    Call it with the package numbers of a fresh snapshot, in the transaction that stores it.
    """
    if not invoice_numbers:
        return 0
    stmt = (
        update(commands)
        .where(
            commands.c.account == account,
            commands.c.order_id == order_id,
            commands.c.kind == "invoice",
            commands.c.status.in_(IN_FLIGHT_STATUSES),
            commands.c.invoice_number.in_(list(invoice_numbers)),
        )
        .values(status="confirmed", updated_at=utcnow())
    )
    return _rowcount(conn.execute(stmt))


@dataclass(frozen=True, slots=True)
class OrderCommand:
    """What judging a new command needs of each earlier one of the order."""

    id: str
    kind: str
    payload: dict[str, Any]
    status: str


def order_commands(conn: Connection, account: str, order_id: str) -> list[OrderCommand]:
    """The order's commands, oldest first (an order has few: one read serves the replay check and
    `pending_work_from`)."""
    rows = conn.execute(_ORDER_COMMANDS, {"account": account, "order_id": order_id})
    return [OrderCommand(*row) for row in rows.all()]


_ORDER_COMMANDS = (
    select(commands.c.id, commands.c.kind, commands.c.payload, commands.c.status)
    .where(commands.c.account == bindparam("account"), commands.c.order_id == bindparam("order_id"))
    .order_by(commands.c.created_at, commands.c.id)
)


def pending_work_from(rows: Sequence[tuple[str, Mapping[str, Any], str]]) -> PendingWork:
    """Fold (kind, payload, status) of in-flight commands into a `PendingWork`."""
    change = cancel = deny = False
    output_cents = 0
    values: dict[str, int] = {}
    output_lines: dict[str, dict[str, int]] = {}
    tracking: set[str] = set()
    held: set[str] = set()
    for kind, payload, status in rows:
        if kind == "change":
            change = True
        elif kind == "cancel":
            cancel = True
        elif kind == "deny_cancellation":
            deny = True
        elif kind == "invoice":
            number = str(payload["invoice_number"])
            values[number] = int(payload["value_cents"])
            if status == "held":
                held.add(number)
            if payload.get("invoice_kind", "Output") == "Output":
                output_cents += int(payload["value_cents"])
                lines = output_lines.setdefault(number, {})
                for line in payload.get("lines", ()):
                    lines[line["sku_id"]] = lines.get(line["sku_id"], 0) + int(line["quantity"])
            if payload.get("tracking_number"):
                tracking.add(number)
        elif kind == "tracking_number":
            tracking.add(str(payload["invoice_number"]))
    return PendingWork(
        change_in_progress=change,
        invoice_cents_in_flight=output_cents,
        cancel_in_flight=cancel,
        invoice_numbers=frozenset(values),
        tracking_numbers_in_flight=frozenset(tracking),
        invoice_values=values,
        deny_in_flight=deny,
        output_lines_in_flight=output_lines,
        held_invoice_numbers=frozenset(held),
    )


# --- attempts --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttemptRow:
    id: int
    account: str
    order_id: str
    command_id: str | None
    job_id: int | None
    action: str
    outcome: str
    http_status: int | None
    detail: str | None
    at: datetime


def add_attempt(
    conn: Connection,
    account: str,
    order_id: str,
    action: str,
    outcome: str,
    *,
    command_id: str | None = None,
    job_id: int | None = None,
    http_status: int | None = None,
    detail: str | None = None,
) -> int:
    """Record one attempt at an action (every attempt is kept: nothing disappears); its id."""
    params = _attempt_params(account, order_id, action, outcome, command_id, job_id, http_status, detail)
    return int((conn.execute(_ADD_ATTEMPT, params)).scalar_one())


def add_attempt_at_commit(
    conn: Connection,
    account: str,
    order_id: str,
    action: str,
    outcome: str,
    *,
    command_id: str | None = None,
    job_id: int | None = None,
    http_status: int | None = None,
    detail: str | None = None,
) -> None:
    """`add_attempt`, written when the transaction commits (batched with its likes: `group_commit.defer`)."""
    params = _attempt_params(account, order_id, action, outcome, command_id, job_id, http_status, detail)
    defer(conn, _ADD_ATTEMPT_BLIND, params)


def _attempt_params(
    account: str,
    order_id: str,
    action: str,
    outcome: str,
    command_id: str | None,
    job_id: int | None,
    http_status: int | None,
    detail: str | None,
) -> dict[str, Any]:
    return {
        "account": account,
        "order_id": order_id,
        "command_id": command_id,
        "job_id": job_id,
        "action": action,
        "outcome": outcome,
        "http_status": http_status,
        "detail": detail,
        "at": utcnow(),
    }


_ADD_ATTEMPT = (
    attempts.insert()
    .values(
        {
            name: bindparam(name, type_=attempts.c[name].type)
            for name in ("account", "order_id", "command_id", "job_id", "action", "outcome", "http_status")
        }
        | {
            "detail": bindparam("detail", type_=attempts.c.detail.type),
            "at": bindparam("at", type_=attempts.c.at.type),
        }
    )
    .returning(attempts.c.id)
)

_ATTEMPT_PARAMS = ("account", "order_id", "command_id", "job_id", "action", "outcome", "http_status")
_ADD_ATTEMPT_BLIND = attempts.insert().values(
    {
        name: bindparam(name, type_=attempts.c[name].type)
        for name in (
            "account",
            "order_id",
            "command_id",
            "job_id",
            "action",
            "outcome",
            "http_status",
            "detail",
            "at",
        )
    }
)


def list_attempts(conn: Connection, account: str, order_id: str) -> list[AttemptRow]:
    stmt = (
        select(*(attempts.c[name] for name in AttemptRow.__dataclass_fields__))
        .where(attempts.c.account == account, attempts.c.order_id == order_id)
        .order_by(attempts.c.id)
    )
    return [AttemptRow(**row) for row in (conn.execute(stmt)).mappings()]


# --- VTEX calls ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VtexCallRow:
    """One VTEX HTTP attempt about an order (see `tables.vtex_calls`)."""

    account: str
    order_id: str
    method: str
    path: str
    status: int | None
    error: str | None
    latency_ms: float
    attempt: int
    at: datetime


_VTEX_CALL_FIELDS = tuple(VtexCallRow.__dataclass_fields__)
_ADD_VTEX_CALL = vtex_calls.insert().values(
    {name: bindparam(name, type_=vtex_calls.c[name].type) for name in _VTEX_CALL_FIELDS}
)


def add_vtex_calls_at_commit(conn: Connection, calls: Sequence[VtexCallRow]) -> None:
    """Store VTEX calls when the transaction commits, all in one `executemany` (`group_commit.defer`)."""
    for call in calls:
        defer(conn, _ADD_VTEX_CALL, {name: getattr(call, name) for name in _VTEX_CALL_FIELDS})


def list_vtex_calls(conn: Connection, account: str, order_id: str, limit: int = 200) -> list[VtexCallRow]:
    """The order's last `limit` VTEX calls, oldest first."""
    newest = (
        select(*(vtex_calls.c[name] for name in _VTEX_CALL_FIELDS))
        .where(vtex_calls.c.account == account, vtex_calls.c.order_id == order_id)
        .order_by(vtex_calls.c.id.desc())
        .limit(limit)
    )
    rows = list((conn.execute(newest)).mappings())
    return [VtexCallRow(**row) for row in reversed(rows)]


def count_vtex_calls(conn: Connection, account: str, order_id: str) -> int:
    query = select(func.count()).where(vtex_calls.c.account == account, vtex_calls.c.order_id == order_id)
    return int((conn.execute(query)).scalar_one())


def purge_vtex_calls(conn: Connection, before: datetime, batch: int = 10_000) -> int:
    """Forget up to `batch` VTEX calls made before `before`, oldest first; how many were forgotten."""
    old = select(vtex_calls.c.id).where(vtex_calls.c.at < before).order_by(vtex_calls.c.at).limit(batch)
    stmt = delete(vtex_calls).where(vtex_calls.c.id.in_(old.scalar_subquery()))
    return _rowcount(conn.execute(stmt))


# --- accounts --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountRow:
    name: str
    paused: bool
    paused_reason: str | None
    settings: dict[str, Any]
    updated_at: datetime


def upsert_account(conn: Connection, name: str, settings: Mapping[str, Any]) -> None:
    """Create the account or replace its settings; a pause survives (only an operator lifts it)."""
    stmt = _insert(conn, accounts).values(
        name=name, paused=False, settings=dict(settings), updated_at=utcnow()
    )
    excluded = stmt.excluded  # type: ignore[attr-defined]
    stmt = stmt.on_conflict_do_update(  # type: ignore[attr-defined]
        index_elements=[accounts.c.name],
        set_={"settings": excluded.settings, "updated_at": excluded.updated_at},
    )
    conn.execute(stmt)


def get_account(conn: Connection, name: str) -> AccountRow | None:
    stmt = select(*(accounts.c[f] for f in AccountRow.__dataclass_fields__)).where(accounts.c.name == name)
    row = (conn.execute(stmt)).mappings().one_or_none()
    return AccountRow(**row) if row is not None else None


def set_erp_channel(
    conn: Connection,
    name: str,
    *,
    healthy: bool,
    consecutive_failures: int,
    last_error: str | None,
    changed_at: datetime,
) -> None:
    """Record the ERP channel's health (`pipeline.erp_health`), replacing what the last report said."""
    values = {
        "healthy": healthy,
        "consecutive_failures": consecutive_failures,
        "last_error": last_error,
        "changed_at": changed_at,
    }
    stmt = _insert(conn, erp_channels).values(name=name, **values)
    stmt = stmt.on_conflict_do_update(index_elements=[erp_channels.c.name], set_=values)  # type: ignore[attr-defined]
    conn.execute(stmt)


def set_account_paused(conn: Connection, name: str, paused: bool, reason: str | None = None) -> bool:
    """Pause an account (e.g. on an auth error) or lift the pause; True when the account exists."""
    stmt = (
        update(accounts)
        .where(accounts.c.name == name)
        .values(paused=paused, paused_reason=reason if paused else None, updated_at=utcnow())
    )
    return _rowcount(conn.execute(stmt)) == 1


def _rowcount(result: Any) -> int:
    return int(result.rowcount)


__all__ = [
    "IN_FLIGHT_STATUSES",
    "AccountRow",
    "AttemptRow",
    "CommandRow",
    "CommandStatus",
    "DuplicateIdempotencyKey",
    "IntakeSource",
    "OrderCommand",
    "OrderRow",
    "OrderSummary",
    "VtexCallRow",
    "add_attempt",
    "add_attempt_at_commit",
    "add_command",
    "add_vtex_calls_at_commit",
    "confirm_landed_invoices",
    "count_orders_by_state",
    "count_vtex_calls",
    "find_command_by_idempotency_key",
    "get_account",
    "get_command",
    "get_order",
    "list_attempts",
    "list_commands",
    "list_orders",
    "list_vtex_calls",
    "mark_intake_events_processed",
    "order_commands",
    "pending_work_from",
    "purge_vtex_calls",
    "record_intake_event",
    "record_intake_events",
    "set_account_paused",
    "set_command_status",
    "set_erp_channel",
    "set_pipeline_state",
    "set_pipeline_state_at_commit",
    "upsert_account",
    "upsert_order",
]
