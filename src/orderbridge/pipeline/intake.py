"""Storing an event and enqueueing its order's sync, in one transaction — shared by feed and hook.

Invariant 1 (persist, then acknowledge) lives here: callers acknowledge (commit the feed handles,
answer the hook 200) only after `store_events` returned, i.e. after the transaction committed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.engine import Connection

from orderbridge.core.decisions import RELEVANT_STATUSES, PipelineState, Step, decide
from orderbridge.jobs.port import JobQueue, NewJob
from orderbridge.store import repo, tables
from orderbridge.store.repo import IntakeSource

from .deps import SYNC_ORDER, PipelineDeps, lock_of, sync_queueing_lock
from .records import record_of


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    """An event from any source, reduced to what dedupe and the sync need."""

    order_id: str
    state: str | None
    last_state: str | None
    current_change: str | None
    raw: dict[str, Any]


def change_key(stamp: str | None, raw: Mapping[str, Any]) -> str:
    """What tells this event from another of the same order and state in the store's dedupe key.

    The change time VTEX sent, when it sent a real one; otherwise a digest of the body, so that only a
    repeat of the very same notification is dropped. Events are triggers: a redundant sync costs one
    Get order, a dropped one leaves the order unread.
    """
    if stamp:
        return stamp
    body = orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)
    return "body:" + hashlib.blake2b(body, digest_size=16).hexdigest()


def wants_sync(state: str | None, policy_uses_expression: bool) -> bool:
    """A FromOrders filter can fire for any status; a workflow event matters only for our statuses."""
    return policy_uses_expression or state is None or state in RELEVANT_STATUSES


async def store_events(
    deps: PipelineDeps, account: str, source: IntakeSource, events: Sequence[IncomingEvent]
) -> int:
    """Record the events (duplicates are dropped by the store) and enqueue one sync per new event.

    Returns how many new events called for a sync, once committed. Events and jobs are written in one
    transaction, so the job exists if and only if its event was stored.
    """
    expression = deps.policy(account).feed_expression is not None

    def store(conn: Connection) -> int:
        stored = record_events(conn, account, source, events)
        fresh = [e for e in stored if wants_sync(e.state, expression)]
        settled = _already_settled(conn, account, fresh)
        wanted = dict.fromkeys(e.order_id for e in fresh if (e.order_id, e.state) not in settled)
        deps.queue.enqueue_many(conn, [sync_job(account, order_id) for order_id in wanted])
        return len(fresh)

    # In the group commit: a batch of events shares its transaction with the jobs' writes.
    return await deps.db.write(store)


def record_events(
    conn: Connection, account: str, source: IntakeSource, events: Sequence[IncomingEvent]
) -> list[IncomingEvent]:
    """Store a batch of events (`repo.record_intake_events`, deduplicated by account, order, state
    and change time); the events that were new."""
    if not events:
        return []
    new = repo.record_intake_events(conn, account, source, events)
    return [e for e in events if (e.order_id, e.state or "", e.current_change or "") in new]


def _already_settled(
    conn: Connection, account: str, events: Sequence[IncomingEvent]
) -> set[tuple[str, str | None]]:
    """Events announcing a status the pipeline already knows and has nothing left to do for.

    The typical one is the `handling` event caused by our own start-handling: re-reading the order for
    it would spend a Get order (VTEX's scarcest quota) to learn nothing. Any other state — or a stored
    order whose facts still call for a step — gets its sync as usual.
    """
    if not events:
        return set()
    table = tables.orders
    query = select(*(table.c[name] for name in _SETTLED_COLUMNS)).where(
        table.c.account == account, table.c.order_id.in_({e.order_id for e in events})
    )
    rows = {row.order_id: row for row in conn.execute(query).all()}
    settled: set[tuple[str, str | None]] = set()
    for event in events:
        row = rows.get(event.order_id)
        if row is not None and (_nothing_to_do(row, event.state) or _start_in_flight(row, event.state)):
            settled.add((event.order_id, event.state))
    return settled


def _nothing_to_do(row: Any, state: str | None) -> bool:
    if state == "cancellation-requested" or row.vtex_status != state:
        return False  # which request the ERP was asked about lives in the attempts: let the sync look
    return decide(state, record_of(row)).step is Step.NOTHING


def _start_in_flight(row: Any, state: str | None) -> bool:
    """The `handling` event of a start-handling whose job has not recorded it yet.

    That job is still under the order's lock (running, or due to retry) and records the start itself; if it
    is lost for good, reconciliation finds the stored `ready-for-handling` lagging behind VTEX.
    """
    return (
        state == "handling"
        and row.pipeline_state == PipelineState.ACCEPTED
        and row.vtex_status == "ready-for-handling"
    )


_SETTLED_COLUMNS = (
    "order_id",
    "vtex_status",
    "pipeline_state",
    "park_reason",
    "handed_over_at",
    "started_at",
    "completed_at",
)


def sync_job(account: str, order_id: str) -> NewJob:
    """A sync of the order (coalesced with one not yet started)."""
    return NewJob(
        kind=SYNC_ORDER,
        lock=lock_of(account, order_id),
        payload={"account": account, "order_id": order_id},
        queueing_lock=sync_queueing_lock(account, order_id),
    )


def enqueue_sync(queue: JobQueue, conn: Connection, account: str, order_id: str) -> int | None:
    """Ask for a sync of the order in the caller's transaction (coalesced with one not yet started)."""
    job = sync_job(account, order_id)
    return queue.enqueue(
        conn, kind=job.kind, lock=job.lock, payload=job.payload, queueing_lock=job.queueing_lock
    )
