"""Orders VTEX has not completed (`"isCompleted": false`, e.g. unpaid): when to look at them again.

Such an order reaches the seller anyway (known issue 345526) but must wait: `sync_order` neither hands
it over nor starts it, shows it as `incomplete`, and schedules a re-check. VTEX may announce nothing
when the order completes, so the pipeline looks again by itself: after as long again as the order has
waited so far (the delays double), within `incomplete_recheck_s` and `incomplete_recheck_max_s`.

The re-check is a job of its own lock (`<account>:<order>:recheck`), not a delayed sync in the order's
lock: a job waiting under the order's lock would hold back every event for the order (a cancellation, say)
until it is due. When due, it merely asks for a sync under the order's lock, coalesced with any waiting.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from sqlalchemy.engine import Connection

from orderbridge.jobs.port import Job

from .deps import PipelineDeps, Timing, lock_of
from .intake import enqueue_sync

log = structlog.get_logger("orderbridge.pipeline.incomplete")

RECHECK_ORDER = "recheck_order"


def recheck_lock(account: str, order_id: str) -> str:
    """Beside the order's lock (its jobs count as the account's in `orderbridge status`)."""
    return f"{lock_of(account, order_id)}:recheck"


def recheck_delay(timing: Timing, waited_s: float) -> float:
    """As long again as the order has waited so far, within the configured bounds."""
    return min(max(waited_s, timing.incomplete_recheck_s), timing.incomplete_recheck_max_s)


async def schedule_recheck(deps: PipelineDeps, account: str, order_id: str, since: datetime | None) -> float:
    """Make sure a re-check of the order is due later (one at a time per order); the delay asked for.

    `since`: when the pipeline first stored the order (the start of its wait)."""
    now = deps.clock()
    waited_s = (now - since).total_seconds() if since is not None else 0.0
    delay_s = recheck_delay(deps.timing, waited_s)

    def write(conn: Connection) -> None:
        deps.queue.enqueue(
            conn,
            kind=RECHECK_ORDER,
            lock=recheck_lock(account, order_id),
            payload={"account": account, "order_id": order_id},
            run_at=now + timedelta(seconds=delay_s),
            queueing_lock=f"recheck:{account}:{order_id}",
        )

    await deps.db.write(write)
    log.info("order_incomplete", account=account, order_id=order_id, recheck_in_s=round(delay_s, 3))
    return delay_s


async def recheck_order(deps: PipelineDeps, job: Job) -> None:
    """Time to look again: a sync under the order's lock decides (and schedules the next re-check)."""
    account, order_id = job.payload["account"], job.payload["order_id"]

    await deps.db.write(lambda conn: enqueue_sync(deps.queue, conn, account, order_id))
