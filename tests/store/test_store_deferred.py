"""Writes deferred to COMMIT (`store.deferred`): they land with their transaction, or not at all."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orderbridge.core.orders import OrderSnapshot
from orderbridge.store import repo
from orderbridge.store.db import Database

SNAPSHOT = {"order_id": "o1", "status": "ready-for-handling", "value_cents": 100, "items": [], "packages": []}
STARTED = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


async def _two_orders(db: Database) -> None:
    async with db.transaction() as s:
        for order_id in ("o1", "o2"):
            snapshot = {**SNAPSHOT, "order_id": order_id}
            await repo.upsert_order(s, "acme", order_id, "ready-for-handling", None, snapshot, "t1")


async def test_deferred_state_changes_and_attempts_are_stored_when_the_transaction_commits(
    db: Database,
) -> None:
    await _two_orders(db)
    handling = OrderSnapshot(order_id="o1", status="handling", value_cents=100)
    async with db.transaction() as s:
        repo.set_pipeline_state_at_commit(
            s, "acme", "o1", "handling", snapshot=handling, started_at=STARTED, vtex_status="handling"
        )
        repo.set_pipeline_state_at_commit(s, "acme", "o2", "accepted", erp_reference="E2")
        repo.add_attempt_at_commit(s, "acme", "o1", "start_handling", "ok", job_id=7)
        repo.add_attempt_at_commit(s, "acme", "o2", "hand_over", "accepted", job_id=8)
    async with db.read_session() as s:
        first = await repo.get_order(s, "acme", "o1")
        second = await repo.get_order(s, "acme", "o2")
        attempts = await repo.list_attempts(s, "acme", "o1") + await repo.list_attempts(s, "acme", "o2")
    assert first is not None and second is not None
    assert (first.pipeline_state, first.vtex_status, first.started_at, first.version) == (
        "handling",
        "handling",
        STARTED,
        2,
    )
    assert first.order_snapshot() == handling
    assert (second.pipeline_state, second.erp_reference, second.snapshot["status"]) == (
        "accepted",
        "E2",
        "ready-for-handling",
    )
    assert [(a.order_id, a.action, a.outcome, a.job_id) for a in attempts] == [
        ("o1", "start_handling", "ok", 7),
        ("o2", "hand_over", "accepted", 8),
    ]


async def test_deferred_writes_of_a_transaction_that_rolls_back_are_dropped(db: Database) -> None:
    await _two_orders(db)
    with pytest.raises(RuntimeError):
        async with db.transaction() as s:
            repo.set_pipeline_state_at_commit(s, "acme", "o1", "parked", park_reason="no")
            repo.add_attempt_at_commit(s, "acme", "o1", "hand_over", "rejected")
            raise RuntimeError("the unit failed")
    async with db.transaction() as s:
        repo.add_attempt_at_commit(s, "acme", "o2", "hand_over", "accepted")
    async with db.read_session() as s:
        first = await repo.get_order(s, "acme", "o1")
        attempts = await repo.list_attempts(s, "acme", "o1")
    assert first is not None and first.pipeline_state == "new"
    assert attempts == []


async def test_a_deferred_state_change_refuses_fields_the_orders_table_does_not_let_it_set(
    db: Database,
) -> None:
    async with db.transaction() as s:
        with pytest.raises(ValueError, match="not settable"):
            repo.set_pipeline_state_at_commit(s, "acme", "o1", "new", version=9)
