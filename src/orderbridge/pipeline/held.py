"""Commands held while a shopper's cancellation request waits for the ERP's decision.

VTEX refuses invoices and item changes (and their tracking) while an order is `cancellation-requested`.
Such a refusal says "not now", not "never": the command is held (status `held`) and its job ends, so
the order's lock stays free for the ERP's cancel or deny. Once the order leaves `cancellation-requested`
the held commands are released: relayed again when the request was denied, rejected with the reason
when the order was canceled. A held invoice still counts toward what is invoiced, but a cancel no
longer races it (it will not be sent before the decision).
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from orderbridge.store import repo
from orderbridge.store.repo import CommandRow

from . import ledger
from .commands import enqueue_relay
from .deps import PipelineDeps
from .ledger import attempt_of

HELD_BY = "cancellation-requested"
HOLDABLE_KINDS = frozenset({"invoice", "change", "tracking_number", "tracking_events"})
CANCELED_STATUSES = frozenset({"cancel", "canceled"})


def is_holdable(row: CommandRow, vtex_status: str | None) -> bool:
    return row.kind in HOLDABLE_KINDS and vtex_status == HELD_BY


async def hold(deps: PipelineDeps, row: CommandRow, job_id: int, reason: str) -> None:
    """Keep the command for later: pending again, marked held, the refusal recorded as an attempt."""
    held = attempt_of(f"send_{row.kind}", "held", command_id=row.id, job_id=job_id, detail=reason)

    def write(conn: Connection) -> None:
        repo.set_command_status(conn, row.id, "held", vtex_receipt={"held": HELD_BY})
        ledger.add(conn, row.account, row.order_id, held)

    await deps.db.write(write)


async def release(deps: PipelineDeps, account: str, order_id: str, vtex_status: str | None) -> int:
    """Relay or reject the order's held commands now that its status is no longer `HELD_BY`."""
    if vtex_status == HELD_BY:
        return 0

    def write(conn: Connection) -> int:
        held = repo.list_commands(conn, account, order_id, statuses=("held",))
        for row in held:
            _release_one(deps, conn, row, vtex_status)
        return len(held)

    return await deps.db.write(write)


def _release_one(deps: PipelineDeps, conn: Connection, row: CommandRow, vtex_status: str | None) -> None:
    if vtex_status in CANCELED_STATUSES:
        reason = "the order was canceled while this command waited for a cancellation decision"
        repo.set_command_status(conn, row.id, "rejected", error=reason)
        rejected = attempt_of(f"send_{row.kind}", "rejected", command_id=row.id, detail=reason)
        ledger.add(conn, row.account, row.order_id, rejected)
        return
    repo.set_command_status(conn, row.id, "pending", vtex_receipt={"released": HELD_BY})
    enqueue_relay(deps.queue, conn, row.account, row.order_id, row.id)
