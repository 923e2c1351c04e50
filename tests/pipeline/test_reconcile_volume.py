"""Reconciliation sees every order of its window, however many there are (VTEX lists 30 pages at most)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import insert, select

from orderbridge.pipeline import reconcile
from orderbridge.pipeline.deps import SYNC_ORDER, AccountPolicy
from orderbridge.sandbox.clock import iso_offset
from orderbridge.sandbox.state import OmsState
from orderbridge.store import tables
from orderbridge.store.types import utcnow

from .conftest import ACCOUNT, IDLE_WAREHOUSE, Harness, HarnessFactory

VOLUME = 10_000
BUSY = 7_000
"""Created in the last hour (a sale); the rest spread over the two days before."""


async def test_the_sweep_finds_the_few_unknown_orders_among_ten_thousand(
    make_harness: HarnessFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Hook intake with no hook configured: no event announces anything; only the sweep can find orders.
    harness = await make_harness(
        warehouse=IDLE_WAREHOUSE, policy=AccountPolicy(ACCOUNT, intake="hook"), start=False
    )
    order_ids = _seed_listed_orders(harness.app.state.oms)  # oldest first
    # Unknown here: the oldest, two in the middle and the two newest — the newest are the ones a busy
    # period hides from a sweep that reads oldest first and stops at the page cap.
    unknown = {order_ids[0], order_ids[4_321], order_ids[7_777], order_ids[-2], order_ids[-1]}
    await _store_as_known(harness, [oid for oid in order_ids if oid not in unknown])

    monkeypatch.setattr(reconcile, "WRITE_CHUNK", 2)  # what it finds is written a few at a time

    enqueued = await harness.pipeline.reconciler.sweep_all()

    assert enqueued == len(unknown)
    assert await _reconciled(harness) == unknown
    assert await _syncs_waiting(harness) == sorted(unknown)
    list_calls = sum((await harness.stats())["calls"]["list_orders"].values())
    assert list_calls <= 1.25 * VOLUME / 100, "about one List-orders call per hundred orders"
    # Not synced yet (the pipeline is not running): found again, without a second event or job.
    assert await harness.pipeline.reconciler.sweep_all() == len(unknown)
    assert await _syncs_waiting(harness) == sorted(unknown)


def _seed_listed_orders(oms: OmsState) -> list[str]:
    """Orders only List orders will see (no feed, no hook; the sweep does not Get them), so documents
    with just what a listing shows — thousands of generated documents would take seconds. Added to the
    in-process sandbox directly (its handlers run on this event loop, never concurrently with this)."""
    now = time.time()
    quiet = VOLUME - BUSY
    created = [now - 2 * 86_400 + i * (2 * 86_400 - 3_600) / quiet for i in range(quiet)]
    created += [now - 3_600 + i * 3_590 / BUSY for i in range(BUSY)]
    order_ids = []
    for number, moment in enumerate(created, start=1):
        order_id = f"{1_000_000_000_000 + number}-01"
        document = {
            "orderId": order_id,
            "sequence": str(500_000 + number),
            "status": "ready-for-handling",
            "creationDate": iso_offset(moment),
            "value": 1_000,
        }
        oms.add_order(document, "payment-approved")
        order_ids.append(order_id)
    return order_ids


async def _store_as_known(harness: Harness, order_ids: list[str]) -> None:
    """Rows as the pipeline would have left them for orders it synced (inserted in bulk: fast)."""
    now = utcnow()
    rows = [
        {
            "account": ACCOUNT,
            "order_id": order_id,
            "vtex_status": "ready-for-handling",
            "pipeline_state": "awaiting_erp",
            "value_cents": 0,
            "last_change": "",
            "snapshot": {},
            "created_at": now,
            "updated_at": now,
            "version": 1,
        }
        for order_id in order_ids
    ]
    with harness.db.begin() as session:
        session.execute(insert(tables.orders), rows)


async def _reconciled(harness: Harness) -> set[str]:
    events = tables.intake_events
    with harness.db.connect() as session:
        query = select(events.c.order_id).where(events.c.source == "reconcile")
        order_ids = list((session.scalars(query)).all())
    assert len(order_ids) == len(set(order_ids)), "one event per order found"
    return set(order_ids)


async def _syncs_waiting(harness: Harness) -> list[str]:
    jobs = tables.jobs
    with harness.db.connect() as session:
        payloads = (session.scalars(select(jobs.c.payload).where(jobs.c.kind == SYNC_ORDER))).all()
    return sorted(payload["order_id"] for payload in payloads)
