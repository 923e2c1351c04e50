"""Writes on the sync's hot path that the store's repository has no single statement for.

Commands VTEX acknowledged become "confirmed" once a Get order read after them shows their effect.

Until then validation counts them as in flight (an invoice reduces what remains, a change blocks an
invoice); after, the stored snapshot carries them. Both flips happen in the transaction that stores
the snapshot, so no command is ever counted twice nor not at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from orderbridge.core.orders import OrderSnapshot
from orderbridge.store import repo, tables
from orderbridge.store.types import utcnow


async def confirm_visible_commands(
    session: AsyncSession, account: str, order_id: str, snapshot: OrderSnapshot
) -> None:
    """One statement: every "sent" command (lane order guarantees VTEX acknowledged it before this job
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
    await session.execute(
        update(table)
        .where(table.c.account == account, table.c.order_id == order_id, visible)
        .values(status="confirmed", updated_at=utcnow())
    )


async def record_with_snapshot(
    session: AsyncSession,
    account: str,
    order_id: str,
    state: str,
    snapshot: OrderSnapshot,
    fields: Mapping[str, Any],
) -> None:
    """`repo.set_pipeline_state` plus a snapshot the pipeline derived from VTEX's answer to its own call
    (start-handling's 204 means "handling now"), in one statement."""
    table = tables.orders
    await session.execute(
        update(table)
        .where(table.c.account == account, table.c.order_id == order_id)
        .values(
            pipeline_state=state,
            snapshot=snapshot.to_dict(),
            updated_at=utcnow(),
            version=table.c.version + 1,
            **fields,
        )
    )


def new_row(account: str, order_id: str, snapshot: OrderSnapshot, now: datetime) -> repo.OrderRow:
    """The row `repo.upsert_order` just inserted for a first read, without reading it back."""
    return repo.OrderRow(
        account=account,
        order_id=order_id,
        vtex_status=snapshot.status,
        pipeline_state=repo.NEW_ORDER_STATE,
        value_cents=snapshot.value_cents,
        last_change=snapshot.last_change,
        snapshot=snapshot.to_dict(),
        erp_reference=None,
        park_reason=None,
        handed_over_at=None,
        started_at=None,
        completed_at=None,
        created_at=now,
        updated_at=now,
        version=1,
    )
