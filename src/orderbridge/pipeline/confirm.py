"""Commands VTEX acknowledged become "confirmed" once a Get order read after them shows their effect.

Until then validation counts them as in flight (an invoice reduces what remains, a change blocks an
invoice); after, the stored snapshot carries them. Both flips happen in the transaction that stores
the snapshot, so no command is ever counted twice nor not at all.
"""

from __future__ import annotations

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


async def store_snapshot(session: AsyncSession, account: str, order_id: str, snapshot: OrderSnapshot) -> None:
    """Replace the stored snapshot with one the pipeline derived from VTEX's answer to its own call."""
    table = tables.orders
    await session.execute(
        update(table)
        .where(table.c.account == account, table.c.order_id == order_id)
        .values(snapshot=snapshot.to_dict())
    )
