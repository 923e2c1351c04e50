"""Writes on the sync's hot path that the store's repository has no single statement for.

Commands VTEX acknowledged become "confirmed" once a Get order read after them shows their effect.

Until then validation counts them as in flight (an invoice reduces what remains, a change blocks an
invoice); after, the stored snapshot carries them. Both flips happen in the transaction that stores
the snapshot, so no command is ever counted twice nor not at all.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import and_, bindparam, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from orderbridge.core.orders import OrderSnapshot
from orderbridge.store import repo, tables
from orderbridge.store.types import utcnow


def confirm_visible_commands(conn: Connection, account: str, order_id: str, snapshot: OrderSnapshot) -> None:
    """One statement: every "sent" command (lock order guarantees VTEX acknowledged it before this job
    read the order), and every in-flight invoice whose number shows on the order — an invoice whose POST
    had an unknown outcome but landed is never posted again."""
    table = tables.commands
    landed = [p.invoice_number for p in snapshot.packages]
    visible = table.c.status == "sent"
    if landed:
        landed_invoice = and_(
            table.c.kind == "invoice",
            table.c.status.in_(repo.IN_FLIGHT_STATUSES),
            table.c.invoice_number.in_(landed),
        )
        visible = or_(visible, landed_invoice)
    conn.execute(
        update(table)
        .where(table.c.account == account, table.c.order_id == order_id, visible)
        .values(status="confirmed", updated_at=utcnow())
    )


_ROW_COLUMNS = [name for name in repo.OrderRow.__dataclass_fields__ if name != "raw"]
_CHANGING = ("vtex_status", "value_cents", "last_change", "raw", "snapshot")
_STORE_READ: dict[str, Any] = {}


def _store_read_statement(dialect: str) -> Any:
    """`repo.upsert_order`'s statement, RETURNING the row as it now is (built once per dialect)."""
    table = tables.orders
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    values: dict[str, Any] = {
        c: bindparam(c, type_=table.c[c].type) for c in ("account", "order_id", *_CHANGING)
    }
    now = bindparam("now", type_=table.c.created_at.type)
    stmt = insert(table).values(
        **values, pipeline_state=repo.NEW_ORDER_STATE, created_at=now, updated_at=now, version=1
    )
    excluded = stmt.excluded
    upsert = stmt.on_conflict_do_update(
        index_elements=[table.c.account, table.c.order_id],
        set_={
            **{c: excluded[c] for c in _CHANGING},
            "updated_at": excluded.updated_at,
            "version": table.c.version + 1,
        },
        where=table.c.last_change <= excluded.last_change,
    )
    return upsert.returning(*(table.c[name] for name in _ROW_COLUMNS))


def store_read(
    conn: Connection, account: str, order_id: str, raw_json: bytes, snapshot: OrderSnapshot
) -> tuple[repo.OrderRow, bool]:
    """Store a fresh Get order like `repo.upsert_order` and return the row in the same statement.

    Returns (row, applied): `applied` is False when the store already held a newer read (compared by
    VTEX's `lastChange`), and the row is then that newer one.
    """
    dialect = conn.dialect.name
    stmt = _STORE_READ.get(dialect)
    if stmt is None:
        stmt = _STORE_READ[dialect] = _store_read_statement(dialect)
    params = {
        "account": account,
        "order_id": order_id,
        "vtex_status": snapshot.status,
        "value_cents": snapshot.value_cents,
        "last_change": snapshot.last_change,
        # The response body as it came: stored as is, never decoded and encoded again.
        "raw": orjson.Fragment(raw_json),
        # The dataclass itself: orjson (the engine's JSON serializer) writes it 10x faster than asdict.
        "snapshot": snapshot,
        "now": utcnow(),
    }
    found = conn.execute(stmt, params).mappings().first()
    if found is not None:
        return repo.OrderRow(**found), True
    newer = repo.get_order(conn, account, order_id)
    assert newer is not None  # the conflict that refused our write is this very row
    return newer, False
