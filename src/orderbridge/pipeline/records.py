"""The pipeline's facts about an order, read from its `orders` row.

The row keeps facts as timestamps (`handed_over_at` = the ERP accepted, `started_at` = VTEX confirmed
start-handling, `completed_at`), plus the final/parked states; `pipeline_state` is derived from them.
"""

from __future__ import annotations

from typing import Any

from orderbridge.core.decisions import PipelineRecord, PipelineState

ERP_REJECTED = "ERP rejected the order: "


def record_of(row: Any, cancellation_asked_for: str | None = None) -> PipelineRecord:
    """`row`: a `repo.OrderRow`, or any row with its fact columns (the intake reads only those)."""
    if row is None:
        return PipelineRecord(cancellation_asked_for=cancellation_asked_for)
    state = row.pipeline_state
    return PipelineRecord(
        erp_accepted=row.handed_over_at is not None,
        awaiting_acceptance=state in (PipelineState.AWAITING_ERP, PipelineState.CANCELLATION_ASKED),
        erp_rejected=state == PipelineState.PARKED and (row.park_reason or "").startswith(ERP_REJECTED),
        started=row.started_at is not None,
        completed=row.completed_at is not None and state == PipelineState.COMPLETED,
        canceled=state == PipelineState.CANCELED,
        cancellation_asked_for=cancellation_asked_for,
    )


def is_parked(row: Any | None) -> bool:
    return row is not None and row.pipeline_state == PipelineState.PARKED
