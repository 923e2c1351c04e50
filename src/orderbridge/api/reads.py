"""The REST API's reads, straight from orderbridge's own tables (Core selects on reader threads).

Kept apart from the store's repository functions because these answer a public API's questions (filters,
pages, an order's whole history) rather than the pipeline's hot path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select, text
from sqlalchemy.engine import Connection, RowMapping

from orderbridge.api.rest import OrderQuery
from orderbridge.api.rest_models import (
    AttemptView,
    CommandView,
    ComponentHealth,
    Health,
    OrderDetail,
    OrderSummary,
)
from orderbridge.store import tables as t
from orderbridge.store.db import Database

#: Each account's VTEX reachability probe: returns None when reachable, else a short reason (no secrets).
Probe = Callable[[], Awaitable[str | None]]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _summary(row: RowMapping) -> dict[str, Any]:
    return {
        "account": row["account"],
        "orderId": row["order_id"],
        "vtexStatus": row["vtex_status"],
        "pipelineState": row["pipeline_state"],
        "valueCents": row["value_cents"],
        "lastChange": row["last_change"],
        "erpReference": row["erp_reference"],
        "parkReason": row["park_reason"],
        "updatedAt": _iso(row["updated_at"]),
    }


def _attempt(row: RowMapping) -> AttemptView:
    return AttemptView(
        commandId=row["command_id"],
        action=row["action"],
        outcome=row["outcome"],
        httpStatus=row["http_status"],
        detail=row["detail"],
        at=_iso(row["at"]) or "",
    )


#: Maps whose keys are data (SKU ids → quantities in an applied change), not names: kept as they are.
_DATA_KEYED = frozenset({"removed", "added"})


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def camel_keys(node: Any) -> Any:
    """orderbridge's stored snake_case (the normalized order, a command's payload) as the API's camelCase
    (`value_cents` → `valueCents`), all the way down, like VTEX's documents and the rest of the API."""
    if isinstance(node, Mapping):
        return {
            _camel(str(key)): value if key in _DATA_KEYED else camel_keys(value)
            for key, value in node.items()
        }
    if isinstance(node, list | tuple):
        return [camel_keys(value) for value in node]
    return node


def _command(row: RowMapping, attempts: Sequence[AttemptView]) -> CommandView:
    receipt = row["vtex_receipt"]
    return CommandView(
        commandId=row["id"],
        account=row["account"],
        orderId=row["order_id"],
        kind=row["kind"],
        status=row["status"],
        channel=row["channel"],
        payload=camel_keys(row["payload"]),
        vtexReceipt=receipt if isinstance(receipt, dict) else ({"receipt": receipt} if receipt else None),
        error=row["error"],
        createdAt=_iso(row["created_at"]),
        updatedAt=_iso(row["updated_at"]),
        attempts=list(attempts),
    )


_SUMMARY_COLUMNS = (
    t.orders.c.account,
    t.orders.c.order_id,
    t.orders.c.vtex_status,
    t.orders.c.pipeline_state,
    t.orders.c.value_cents,
    t.orders.c.last_change,
    t.orders.c.erp_reference,
    t.orders.c.park_reason,
    t.orders.c.updated_at,
)


def _order_rows(
    conn: Connection, account: str, order_id: str
) -> tuple[RowMapping, Sequence[RowMapping], Sequence[RowMapping]] | None:
    key = (t.orders.c.account == account) & (t.orders.c.order_id == order_id)
    columns = (*_SUMMARY_COLUMNS, t.orders.c.snapshot, t.orders.c.raw)
    order = conn.execute(select(*columns).where(key)).mappings().first()
    if order is None:
        return None
    commands = (
        conn.execute(
            select(t.commands)
            .where((t.commands.c.account == account) & (t.commands.c.order_id == order_id))
            .order_by(t.commands.c.created_at, t.commands.c.id)
        )
        .mappings()
        .all()
    )
    attempts = (
        conn.execute(
            select(t.attempts)
            .where((t.attempts.c.account == account) & (t.attempts.c.order_id == order_id))
            .order_by(t.attempts.c.id)
        )
        .mappings()
        .all()
    )
    return order, commands, attempts


class StoreReads:
    """`OrderReads` over a `Database`; `probes` map each account to its VTEX reachability check."""

    def __init__(self, db: Database, probes: Mapping[str, Probe] | None = None) -> None:
        self._db = db
        self._probes = dict(probes or {})

    async def accounts_of(self, order_id: str) -> list[str]:
        query = select(t.orders.c.account).where(t.orders.c.order_id == order_id)
        return await self._db.read(lambda conn: list(conn.execute(query).scalars()))

    async def list_orders(self, query: OrderQuery) -> list[OrderSummary]:
        stmt: Select[Any] = select(*_SUMMARY_COLUMNS)
        if query.account is not None:
            stmt = stmt.where(t.orders.c.account == query.account)
        if query.status is not None:
            stmt = stmt.where(t.orders.c.vtex_status == query.status)
        if query.pipeline_state is not None:
            stmt = stmt.where(t.orders.c.pipeline_state == query.pipeline_state)
        if query.since is not None:
            since = query.since if query.since.tzinfo else query.since.replace(tzinfo=UTC)
            stmt = stmt.where(t.orders.c.updated_at >= since)
        stmt = stmt.order_by(t.orders.c.updated_at, t.orders.c.account, t.orders.c.order_id)
        stmt = stmt.limit(query.limit).offset(query.offset)
        rows = await self._db.read(lambda conn: conn.execute(stmt).mappings().all())
        return [OrderSummary(**_summary(r)) for r in rows]

    async def order_detail(self, account: str, order_id: str) -> OrderDetail | None:
        found = await self._db.read(lambda conn: _order_rows(conn, account, order_id))
        if found is None:
            return None
        order, commands, attempts = found
        views = [_attempt(a) for a in attempts]
        return OrderDetail(
            **_summary(order),
            order=camel_keys(order["snapshot"]) if order["snapshot"] is not None else None,
            raw=order["raw"],
            commands=[_command(c, [v for v in views if v.commandId == c["id"]]) for c in commands],
            attempts=views,
        )

    async def pipeline_state(self, account: str, order_id: str) -> str | None:
        key = (t.orders.c.account == account) & (t.orders.c.order_id == order_id)
        query = select(t.orders.c.pipeline_state).where(key)
        state = await self._db.read(lambda conn: conn.execute(query).scalar_one_or_none())
        return str(state) if state is not None else None

    async def command(self, command_id: str) -> CommandView | None:

        def read(conn: Connection) -> tuple[RowMapping, Sequence[RowMapping]] | None:
            row = conn.execute(select(t.commands).where(t.commands.c.id == command_id)).mappings().first()
            if row is None:
                return None
            attempts = (
                conn.execute(
                    select(t.attempts).where(t.attempts.c.command_id == command_id).order_by(t.attempts.c.id)
                )
                .mappings()
                .all()
            )
            return row, attempts

        found = await self._db.read(read)
        if found is None:
            return None
        row, attempts = found
        return _command(row, [_attempt(a) for a in attempts])

    async def health(self) -> Health:
        database = await self._database_health()
        names = sorted(self._probes)
        results = await asyncio.gather(*(self._probe(self._probes[n]) for n in names))
        accounts = dict(zip(names, results, strict=True))
        ok = database.ok and all(a.ok for a in accounts.values())
        return Health(status="ok" if ok else "degraded", database=database, accounts=accounts)

    async def _database_health(self) -> ComponentHealth:
        try:
            await self._db.read(lambda conn: conn.execute(text("SELECT 1")))
        except Exception as exc:  # any failure means "down"; the class name says enough, no URL
            return ComponentHealth(ok=False, detail=type(exc).__name__)
        return ComponentHealth(ok=True)

    @staticmethod
    async def _probe(probe: Probe) -> ComponentHealth:
        try:
            problem = await asyncio.wait_for(probe(), timeout=5.0)
        except Exception as exc:
            return ComponentHealth(ok=False, detail=type(exc).__name__)
        return ComponentHealth(ok=problem is None, detail=problem)
