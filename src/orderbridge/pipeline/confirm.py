"""Commands VTEX acknowledged become "confirmed" once a Get order read after them shows their effect.

Until then validation counts them as in flight (an invoice reduces what remains, a change blocks an
invoice); after, the stored snapshot carries them. Both flips happen in the transaction that stores
the snapshot, so no command is ever counted twice nor not at all.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from orderbridge.core.orders import OrderSnapshot
from orderbridge.store import repo, tables
from orderbridge.store.types import utcnow


async def confirm_visible_commands(
    session: AsyncSession, account: str, order_id: str, snapshot: OrderSnapshot
) -> None:
    # Lane order guarantees every "sent" command was acknowledged before this job read the order.
    table = tables.commands
    await session.execute(
        update(table)
        .where(table.c.account == account, table.c.order_id == order_id, table.c.status == "sent")
        .values(status="confirmed", updated_at=utcnow())
    )
    # An invoice whose POST had an unknown outcome but shows on the order landed: never post it again.
    numbers = [p.invoice_number for p in snapshot.packages]
    await repo.confirm_landed_invoices(session, account, order_id, numbers)


async def store_snapshot(session: AsyncSession, account: str, order_id: str, snapshot: OrderSnapshot) -> None:
    """Replace the stored snapshot with one the pipeline derived from VTEX's answer to its own call."""
    table = tables.orders
    await session.execute(
        update(table)
        .where(table.c.account == account, table.c.order_id == order_id)
        .values(snapshot=snapshot.to_dict())
    )
