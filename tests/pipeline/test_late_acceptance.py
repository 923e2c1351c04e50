"""An ERP's late acceptance that overtakes the pipeline's own record of the handover is not lost."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from orderbridge.core.decisions import PipelineState
from orderbridge.jobs.embedded import EmbeddedQueue
from orderbridge.jobs.port import Job
from orderbridge.pipeline.commands import PipelineSink, apply_late_acceptance
from orderbridge.pipeline.deps import APPLY_ACCEPTANCE, SYNC_ORDER, PipelineDeps
from orderbridge.store import repo, tables
from orderbridge.store.db import Database


async def _order_in_state(db: Database, state: str) -> None:
    with db.begin() as session:
        changed = "2026-11-27T00:00:00Z"
        repo.upsert_order(session, "shop", "O-1", "ready-for-handling", None, {}, changed)
        repo.set_pipeline_state(session, "shop", "O-1", state)


async def _state(db: Database) -> str:
    with db.connect() as session:
        row = repo.get_order(session, "shop", "O-1")
    assert row is not None
    return row.pipeline_state


async def _kinds(db: Database) -> list[str]:
    with db.connect() as session:
        return list((session.scalars(select(tables.jobs.c.kind).order_by(tables.jobs.c.id))).all())


async def test_an_acceptance_reported_before_the_handover_is_recorded_is_applied_once_it_is(
    db: Database,
) -> None:
    deps = PipelineDeps(db, {}, erp=None, accounts={})  # type: ignore[arg-type]
    syncs: list[Any] = []

    async def sync(job: Job) -> None:
        syncs.append(job.payload)

    async def acceptance(job: Job) -> None:
        await apply_late_acceptance(deps, job)

    queue = EmbeddedQueue(db, {SYNC_ORDER: sync, APPLY_ACCEPTANCE: acceptance}, poll_interval_s=0.01)
    deps.queue = queue
    await _order_in_state(db, repo.NEW_ORDER_STATE)  # the handover happened; its record is not written yet

    await PipelineSink(deps).report_acceptance("shop", "O-1", accepted=True, erp_reference="ERP-9")

    assert await _state(db) == repo.NEW_ORDER_STATE
    assert await _kinds(db) == [APPLY_ACCEPTANCE]  # kept, under the order's lock, behind the handover's job
    with db.begin() as session:  # the handover's record lands
        repo.set_pipeline_state(session, "shop", "O-1", PipelineState.AWAITING_ERP.value)
    await queue.run_until_idle(timeout_s=10)

    assert await _state(db) == PipelineState.ACCEPTED.value
    assert syncs == [{"account": "shop", "order_id": "O-1"}]  # and the order's sync goes on to start it
