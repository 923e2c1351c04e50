"""Storing an event and enqueueing its order's sync, in one transaction — shared by feed and hook.

Invariant 1 (persist, then acknowledge) lives here: callers acknowledge (commit the feed handles,
answer the hook 200) only after `store_events` returned, i.e. after the transaction committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from orderbridge.core.decisions import RELEVANT_STATUSES
from orderbridge.jobs.port import JobQueue
from orderbridge.store import repo
from orderbridge.store.repo import IntakeSource

from .deps import SYNC_ORDER, PipelineDeps, lane_of, sync_dedupe_key


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    """An event from any source, reduced to what dedupe and the sync need."""

    order_id: str
    state: str | None
    last_state: str | None
    current_change: str | None
    raw: dict[str, Any]


def wants_sync(state: str | None, policy_uses_expression: bool) -> bool:
    """A FromOrders filter can fire for any status; a workflow event matters only for our statuses."""
    return policy_uses_expression or state is None or state in RELEVANT_STATUSES


async def store_events(
    deps: PipelineDeps, account: str, source: IntakeSource, events: Sequence[IncomingEvent]
) -> int:
    """Record the events (duplicates are dropped by the store) and enqueue one sync per new event.

    Returns how many events were new. Everything happens in the caller-visible transaction below,
    so the job exists if and only if its event was stored.
    """
    expression = deps.policy(account).feed_expression is not None
    new = 0
    async with deps.db.transaction() as session:
        for event in events:
            event_id = await repo.record_intake_event(
                session,
                account,
                source,
                event.order_id,
                event.state,
                event.last_state,
                event.current_change,
                event.raw,
            )
            if event_id is None:
                continue
            new += 1
            if wants_sync(event.state, expression):
                await enqueue_sync(deps.queue, session, account, event.order_id)
    return new


async def enqueue_sync(queue: JobQueue, session: AsyncSession, account: str, order_id: str) -> int | None:
    """Ask for a sync of the order in the caller's transaction (coalesced with one not yet started)."""
    return await queue.enqueue(
        session,
        kind=SYNC_ORDER,
        lane=lane_of(account, order_id),
        payload={"account": account, "order_id": order_id},
        dedupe_key=sync_dedupe_key(account, order_id),
    )
