"""The staging-tables ERP adapter: interface tables in a database the ERP can read and write.

Outbound (orderbridge writes, the ERP reads): `ob_orders`, `ob_order_items`, `ob_order_addresses`,
`ob_cancellation_notices`. Inbound (the ERP writes, orderbridge polls): `erp_acceptances`, `erp_changes`
(+ `erp_change_items`), `erp_invoices` (+ `erp_invoice_items`), `erp_tracking_numbers`,
`erp_tracking_updates` (+ `erp_tracking_update_events`), `erp_cancellations`. Each inbound row starts as
`status = 'new'`; orderbridge validates it exactly like any other channel (`orderbridge.erp.parsing`, then
the pipeline's `CommandSink`) and marks it `processed` (with `command_id`) or `rejected` (with `error`
naming the field and the rule). A row is submitted with the idempotency key `staging:<table>:<id>`, so a
crash between submitting and marking the row cannot relay a command twice.

The database is the ERP's (SQLite file or PostgreSQL), separate from orderbridge's own. DDL and a
walkthrough: `docs/erp-staging-tables.md`; the schema: `orderbridge.erp.staging_schema`.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from orderbridge.erp.addressing import owning_account
from orderbridge.erp.errors import ErpUnavailable
from orderbridge.erp.parsing import ParseError, parse_acceptance, parse_command, renamed
from orderbridge.erp.polling import poll_until_stopped
from orderbridge.erp.port import (
    AcceptanceLater,
    CancellationDecision,
    CommandSink,
    HandoverOrder,
    HandoverResult,
)
from orderbridge.erp.staging_schema import (
    METADATA,
    erp_acceptances,
    erp_cancellations,
    erp_change_items,
    erp_changes,
    erp_invoice_items,
    erp_invoices,
    erp_tracking_numbers,
    erp_tracking_update_events,
    erp_tracking_updates,
    ob_cancellation_notices,
    ob_order_addresses,
    ob_order_items,
    ob_orders,
)

_ERROR_MAX = 4000

# --- rows → wire dicts (the shared parser judges them) -------------------------------------------------


def _clean(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


def _invoice_data(row: Mapping[str, Any], items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return _clean(
        {
            "invoiceNumber": row["invoice_number"],
            "invoiceValue": row["invoice_value_cents"],
            "issuanceDate": row["issuance_date"],
            "type": row["invoice_type"],
            "invoiceKey": row["invoice_key"],
            "invoiceUrl": row["invoice_url"],
            "courier": row["courier"],
            "trackingNumber": row["tracking_number"],
            "trackingUrl": row["tracking_url"],
            "items": [
                _clean(
                    {
                        "id": i["sku_id"],
                        "quantity": i["quantity"],
                        "price": i["unit_price_cents"],
                        "description": i["description"],
                    }
                )
                for i in items
            ],
        }
    )


def _change_data(row: Mapping[str, Any], items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    def lines(op: str) -> list[dict[str, Any]]:
        return [
            _clean({"id": i["sku_id"], "quantity": i["quantity"], "price": i["unit_price_cents"]})
            for i in items
            if i["operation"] == op
        ]

    unknown = {i["operation"] for i in items} - {"remove", "add"}
    data = _clean(
        {
            "requestId": row["request_id"],
            "reason": row["reason"],
            "discountValue": row["discount_cents"],
            "incrementValue": row["increment_cents"],
            "itemsRemoved": lines("remove"),
            "itemsAdded": lines("add"),
        }
    )
    if unknown:
        data["operation"] = sorted(str(u) for u in unknown)  # refused by the parser as an unknown field
    return data


def _tracking_number_data(row: Mapping[str, Any], _: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return _clean(
        {
            "invoiceNumber": row["invoice_number"],
            "trackingNumber": row["tracking_number"],
            "courier": row["courier"],
            "trackingUrl": row["tracking_url"],
            "dispatchedDate": row["dispatched_date"],
        }
    )


def _tracking_update_data(row: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return _clean(
        {
            "invoiceNumber": row["invoice_number"],
            "isDelivered": bool(row["is_delivered"]),
            "deliveredDate": row["delivered_date"],
            "events": [
                _clean(
                    {
                        "city": e["city"],
                        "state": e["state"],
                        "description": e["description"],
                        "date": e["event_date"],
                    }
                )
                for e in events
            ],
        }
    )


def _cancellation_data(row: Mapping[str, Any], _: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    data = {"reason": row["reason"]}
    if row["decision"] == "deny":
        data["cancellationRequestId"] = row["cancellation_request_id"]
    return _clean(data)


def _cancellation_kind(row: Mapping[str, Any]) -> str:
    return {"cancel": "cancellation", "deny": "cancellation-denial"}.get(row["decision"], "")


@dataclass(frozen=True)
class _Inbound:
    table: Table
    kind: Callable[[Mapping[str, Any]], str]
    to_data: Callable[[Mapping[str, Any], Sequence[Mapping[str, Any]]], dict[str, Any]]
    children: Table | None = None


#: Processing order within one poll: what a later table refers to (an invoice for its tracking) comes first.
_INBOUND: tuple[_Inbound, ...] = (
    _Inbound(erp_changes, lambda _: "change", _change_data, erp_change_items),
    _Inbound(erp_invoices, lambda _: "invoice", _invoice_data, erp_invoice_items),
    _Inbound(erp_tracking_numbers, lambda _: "tracking-number", _tracking_number_data),
    _Inbound(
        erp_tracking_updates, lambda _: "tracking-events", _tracking_update_data, erp_tracking_update_events
    ),
    _Inbound(erp_cancellations, _cancellation_kind, _cancellation_data),
)

_ACCEPTANCES = _Inbound(erp_acceptances, lambda _: "acceptance", lambda row, _: {})


# --- the adapter ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StagingConfig:
    """`url`: the ERP's database (`sqlite+aiosqlite:///…` or `postgresql+psycopg://…`), not orderbridge's.

    `account` is used for inbound rows whose `account` column is NULL (single-account installations).
    """

    url: str
    account: str | None = None
    poll_interval_s: float = 1.0
    batch_size: int = 100
    create_tables: bool = True

    def __repr__(self) -> str:
        return (
            f"StagingConfig(url=<hidden>, account={self.account!r}, poll_interval_s={self.poll_interval_s})"
        )


class StagingTablesErp:
    """`ErpAdapter` over interface tables. Acceptance comes later, from `erp_acceptances`."""

    name = "staging"

    def __init__(self, config: StagingConfig, *, engine: AsyncEngine | None = None) -> None:
        self._config = config
        self._engine = engine or create_async_engine(config.url)
        self._sink: CommandSink | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        #: False: `start` does not start the inbox loop; whoever set it runs `run_way_back` (the
        #: pipeline does, once per cluster: `pipeline.singletons`).
        self.runs_own_loop = True

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    async def create_tables(self) -> None:
        async with self._engine.begin() as conn:
            await conn.run_sync(METADATA.create_all)

    async def start(self, sink: CommandSink) -> None:
        self._sink = sink
        if self._config.create_tables:
            await self.create_tables()
        self._stop.clear()
        if self.runs_own_loop:
            self._task = asyncio.create_task(self._poll_forever(), name="staging-tables-poller")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None
        await self._engine.dispose()

    async def hand_over(self, order: HandoverOrder) -> HandoverResult:
        snapshot = order.snapshot
        now = datetime.now(UTC)
        client = order.raw.get("clientProfileData") or {}
        name = " ".join(str(client.get(k) or "") for k in ("firstName", "lastName")).strip() or None
        values = {
            "account": order.account,
            "order_id": order.order_id,
            "status": snapshot.status,
            "value_cents": snapshot.value_cents,
            "creation_date": snapshot.creation_date or None,
            "sequence": snapshot.sequence or None,
            "customer_email": client.get("email"),
            "customer_name": name,
            "snapshot_json": json.dumps(snapshot.to_dict()),
            "raw_json": json.dumps(order.raw),
            "delivery_count": 1,
            "handed_over_at": now,
        }
        key = {"account": order.account, "order_id": order.order_id}
        try:
            async with self._engine.begin() as conn:
                await self._upsert_order(conn, values)
                await conn.execute(ob_order_items.delete().filter_by(**key))
                if snapshot.items:
                    await conn.execute(
                        ob_order_items.insert(),
                        [
                            {
                                **key,
                                "item_index": i.index,
                                "sku_id": i.sku_id,
                                "name": i.name,
                                "quantity": i.quantity,
                                "unit_price_cents": i.unit_price_cents,
                            }
                            for i in snapshot.items
                        ],
                    )
                await conn.execute(ob_order_addresses.delete().filter_by(**key))
                address = _shipping_address(order.raw)
                if address:
                    await conn.execute(ob_order_addresses.insert(), [{**key, "kind": "shipping", **address}])
        except Exception as exc:
            raise ErpUnavailable(f"the staging database is unavailable ({type(exc).__name__})") from exc
        return AcceptanceLater()

    async def notify_canceled(self, account: str, order_id: str, reason: str | None) -> None:
        await self._notice(account, order_id, "canceled", "", reason)

    async def request_cancellation(
        self, account: str, order_id: str, request_id: str | None, reason: str | None
    ) -> CancellationDecision | None:
        """The ERP answers with an `erp_cancellations` row (decision cancel or deny)."""
        await self._notice(account, order_id, "cancellation-requested", request_id or "", reason)
        return None

    async def poll_once(self) -> int:
        """Process every new inbound row once (in `_INBOUND` order); returns how many rows were handled."""
        if self._sink is None:
            raise RuntimeError("start(sink) first")
        handled = await self._poll_acceptances(self._sink)
        for inbound in _INBOUND:
            handled += await self._poll_table(self._sink, inbound)
        return handled

    # --- internals ---

    async def run_way_back(self, stop: asyncio.Event) -> None:
        """The inbox loop until `stop` is set, for a caller that runs it itself."""
        await poll_until_stopped(self.poll_once, stop, self._config.poll_interval_s, adapter="staging")

    async def _poll_forever(self) -> None:
        await poll_until_stopped(self.poll_once, self._stop, self._config.poll_interval_s, adapter="staging")

    async def _upsert_order(self, conn: AsyncConnection, values: dict[str, Any]) -> None:
        if conn.dialect.name == "postgresql":
            stmt: Any = postgresql.insert(ob_orders).values(values)
        else:
            stmt = sqlite.insert(ob_orders).values(values)
        changing = {k: stmt.excluded[k] for k in values if k not in ("account", "order_id", "delivery_count")}
        changing["delivery_count"] = ob_orders.c.delivery_count + 1
        await conn.execute(stmt.on_conflict_do_update(index_elements=["account", "order_id"], set_=changing))

    async def _notice(
        self, account: str, order_id: str, kind: str, request_id: str, reason: str | None
    ) -> None:
        values = {
            "account": account,
            "order_id": order_id,
            "kind": kind,
            "request_id": request_id,
            "reason": reason,
            "created_at": datetime.now(UTC),
        }
        try:
            async with self._engine.begin() as conn:
                insert: Any = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(
                    ob_cancellation_notices
                )
                await conn.execute(insert.values(values).on_conflict_do_nothing())
        except Exception as exc:
            raise ErpUnavailable(f"the staging database is unavailable ({type(exc).__name__})") from exc

    async def _new_rows(self, table: Table) -> list[Mapping[str, Any]]:
        query = (
            select(table).where(table.c.status == "new").order_by(table.c.id).limit(self._config.batch_size)
        )
        async with self._engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(query)).mappings().all()]

    async def _children(self, inbound: _Inbound, parent_id: int) -> list[Mapping[str, Any]]:
        if inbound.children is None:
            return []
        child = inbound.children
        fk = next(c for c in child.c if c.foreign_keys)
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(child).where(fk == parent_id).order_by(child.c.id))
            return [dict(r) for r in rows.mappings().all()]

    async def _mark(
        self, table: Table, row_id: int, *, error: str | None = None, command_id: str | None = None
    ) -> None:
        values = {
            "status": "rejected" if error else "processed",
            "error": error[:_ERROR_MAX] if error else None,
            "command_id": command_id,
            "processed_at": datetime.now(UTC),
        }
        async with self._engine.begin() as conn:
            await conn.execute(update(table).where(table.c.id == row_id).values(values))

    async def _resolve(self, sink: CommandSink, row: Mapping[str, Any]) -> tuple[str | None, str | None]:
        """(account, None) when the row's order can be addressed, else (None, why) in every channel's words.

        The account comes from the row, else the configured default, else `ob_orders` (the order was
        handed over through these very tables), so single- and multi-account ERPs may leave it NULL.
        """
        order_id = row["order_id"]

        async def handed_over_to() -> list[str]:
            query = select(ob_orders.c.account).where(ob_orders.c.order_id == order_id)
            async with self._engine.connect() as conn:
                return list((await conn.execute(query)).scalars())

        account = row["account"] or self._config.account
        return await owning_account(sink, order_id, account, handed_over_to, field="order_id")

    async def _poll_acceptances(self, sink: CommandSink) -> int:
        rows = await self._new_rows(erp_acceptances)
        for row in rows:
            account, problem = await self._resolve(sink, row)
            if account is not None:
                try:
                    answer = parse_acceptance(
                        _clean(
                            {
                                "accepted": row["accepted"],
                                "erpReference": row["erp_reference"],
                                "reason": row["reason"],
                            }
                        )
                    )
                except ParseError as exc:
                    problem = _in_staging_words(
                        ((p.field, p.message) for p in exc.problems), _ACCEPTANCES, ()
                    )
                else:
                    outcome = await sink.report_acceptance(
                        account,
                        row["order_id"],
                        accepted=answer.accepted,
                        erp_reference=answer.erp_reference,
                        reason=answer.reason,
                    )
                    if not outcome.accepted:
                        problem = "; ".join(outcome.problems) or "refused without a reason"
            await self._mark(erp_acceptances, row["id"], error=problem)
        return len(rows)

    async def _poll_table(self, sink: CommandSink, inbound: _Inbound) -> int:
        rows = await self._new_rows(inbound.table)
        for row in rows:
            error, command_id = await self._submit_row(sink, inbound, row)
            await self._mark(inbound.table, row["id"], error=error, command_id=command_id)
        return len(rows)

    async def _submit_row(
        self, sink: CommandSink, inbound: _Inbound, row: Mapping[str, Any]
    ) -> tuple[str | None, str | None]:
        key = f"staging:{inbound.table.name}:{row['id']}"
        account, problem = await self._resolve(sink, row)
        if account is None:
            return problem, None
        children = await self._children(inbound, row["id"])
        try:
            data = inbound.to_data(row, children)
            command = parse_command(inbound.kind(row), data, default_request_id=key)
        except ParseError as exc:
            return _in_staging_words(((p.field, p.message) for p in exc.problems), inbound, children), None
        outcome = await sink.submit(account, row["order_id"], command, channel="staging", idempotency_key=key)
        if not outcome.accepted:
            if outcome.violations:
                named = ((v.field, f"{v.message} [{v.rule}]") for v in outcome.violations)
                return _in_staging_words(named, inbound, children), None
            return "; ".join(outcome.problems) or "refused without a reason", None
        return None, outcome.command_id


#: Wire fields whose column is not simply their snake_case name.
_COLUMN_OF = {
    "invoiceValue": "invoice_value_cents",
    "type": "invoice_type",
    "discountValue": "discount_cents",
    "incrementValue": "increment_cents",
    "id": "sku_id",
    "price": "unit_price_cents",
    "date": "event_date",
}
#: Wire lists read from a child table, with the `operation` their rows carry (None: every row).
_CHILD_LISTS: dict[str, str | None] = {
    "items": None,
    "itemsRemoved": "remove",
    "itemsAdded": "add",
    "events": None,
}
_LIST_MEMBER = re.compile(r"(\w+)\[(\d+)\]\.(\w+)")


def _column(name: str) -> str:
    return _COLUMN_OF.get(name) or re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def staging_field(field: str, inbound: _Inbound, children: Sequence[Mapping[str, Any]]) -> str:
    """Where a wire field of a staged command is in the ERP's tables: `invoiceValue` →
    `invoice_value_cents`, `items[1].id` → `erp_invoice_items.sku_id (id 17)` (the child row's id)."""
    member = _LIST_MEMBER.fullmatch(field)
    if member is not None and inbound.children is not None and member.group(1) in _CHILD_LISTS:
        operation = _CHILD_LISTS[member.group(1)]
        rows = [c for c in children if operation is None or c.get("operation") == operation]
        n = int(member.group(2))
        if n < len(rows):
            return f"{inbound.children.name}.{_column(member.group(3))} (id {rows[n]['id']})"
    if field in _CHILD_LISTS and inbound.children is not None:
        return inbound.children.name
    return _column(field) if field.isalpha() else field


def _in_staging_words(
    problems: Iterable[tuple[str, str]], inbound: _Inbound, children: Sequence[Mapping[str, Any]]
) -> str:
    """The row's `error`: each (field, message) naming the column the ERP wrote, not the wire field."""
    return "; ".join(
        renamed(field, message, staging_field(field, inbound, children)) for field, message in problems
    )


def _shipping_address(raw: Mapping[str, Any]) -> dict[str, Any] | None:
    address = (raw.get("shippingData") or {}).get("address")
    if not isinstance(address, dict):
        return None
    return {
        "receiver_name": address.get("receiverName"),
        "street": address.get("street"),
        "number": address.get("number"),
        "complement": address.get("complement"),
        "neighborhood": address.get("neighborhood"),
        "city": address.get("city"),
        "state": address.get("state"),
        "postal_code": address.get("postalCode"),
        "country": address.get("country"),
    }
