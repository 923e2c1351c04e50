"""The VTEX call log: calls about an order are stored in the pipeline's shared write transactions (never
one transaction per call), calls about no order are not stored, and old calls are purged."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from orderbridge.pipeline.call_log import CallLog
from orderbridge.store import repo, tables
from orderbridge.store.db import Database
from orderbridge.store.testing import writer_held
from orderbridge.vtex import VtexCall

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def call(order_id: str | None, attempt: int = 1, status: int | None = 200, at: datetime = NOW) -> VtexCall:
    path = f"/api/oms/pvt/orders/{order_id}" if order_id else "/api/orders/feed"
    return VtexCall(
        account="shop",
        method="GET",
        endpoint="/api/oms/pvt/orders/{order_id}" if order_id else path,
        path=path,
        order_id=order_id,
        status=status,
        error=None if status is not None else "ReadTimeout",
        seconds=0.0123,
        attempt=attempt,
        retry_after=None,
        started_at=at,
    )


async def stored(db: Database) -> list[repo.VtexCallRow]:
    with db.connect() as session:
        ids = (session.execute(select(tables.vtex_calls.c.order_id).distinct())).scalars()
        return [c for order_id in sorted(ids) for c in repo.list_vtex_calls(session, "shop", order_id)]


async def test_calls_observed_together_share_one_transaction_with_a_pipeline_step(db: Database) -> None:
    log = CallLog(db)

    def step(session: Connection) -> None:
        repo.add_attempt(session, "shop", "o1", "start_handling", "ok")

    async with writer_held(db):  # a busy pipeline: the writer is committing others' units
        # Counted while the writer is held: once released it may commit the step before this task runs.
        before = db.group_commit.transactions
        for n in range(5):
            log.observe(call("o1", attempt=n + 1, status=429 if n < 4 else 200))
        stepped = asyncio.ensure_future(db.write(step))
    await stepped
    await log.drain()

    # The held unit's own transaction, then one for the step and the five calls.
    assert db.group_commit.transactions - before == 2, "the five calls rode the step's transaction"
    rows = await stored(db)
    assert [(r.attempt, r.status) for r in rows] == [(1, 429), (2, 429), (3, 429), (4, 429), (5, 200)]
    assert rows[0].path == "/api/oms/pvt/orders/o1" and rows[0].latency_ms == 12.3 and rows[0].at == NOW


async def test_a_call_without_an_answer_is_stored_with_its_error_and_feed_reads_are_not_stored(
    db: Database,
) -> None:
    log = CallLog(db)

    log.observe(call(None))
    log.observe(call("o2", status=None))
    await log.drain()

    (row,) = await stored(db)
    assert row.order_id == "o2" and row.status is None and row.error == "ReadTimeout"


async def test_calls_sharing_a_transaction_that_fails_are_written_alone(db: Database) -> None:
    log = CallLog(db)

    def failing(session: Connection) -> None:
        repo.add_attempt(session, "shop", "o3", "test", "ok")
        raise ValueError("this unit fails")

    async with writer_held(db):
        log.observe(call("o3"))
        failed = asyncio.ensure_future(db.write(failing))
    await log.drain()

    with pytest.raises(ValueError):
        await failed
    assert [r.order_id for r in await stored(db)] == ["o3"]


async def test_calls_older_than_the_retention_are_purged(db: Database) -> None:
    moments = iter([NOW, NOW + timedelta(days=3)])
    log = CallLog(db, keep=timedelta(days=2), purge_every_s=0, clock=lambda: next(moments))

    log.observe(call("old", at=NOW))
    await log.drain()
    log.observe(call("new", at=NOW + timedelta(days=3)))
    await log.drain()

    assert [r.order_id for r in await stored(db)] == ["new"]
    with db.connect() as session:
        assert session.scalar(select(func.count()).select_from(tables.vtex_calls)) == 1
