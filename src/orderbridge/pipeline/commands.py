"""The pipeline's `CommandSink`: how ERP commands enter (invariant 5), and the ERP's late acceptance.

`submit` judges a command against the stored snapshot plus the work already in flight, and either
refuses it with every reason (nothing stored, nothing sent to VTEX) or stores it and enqueues its relay
in the order's lane — one transaction, so an accepted command is always relayed exactly in order.

ERP submissions do not run in the order's lane, so the decision is serialized per order instead: the
transaction locks the order's row (PostgreSQL; SQLite's writers are serialized anyway) and reads the
snapshot and the in-flight commands after the lock. The sync stores a fresh read and marks the commands
it shows as confirmed in one transaction, so a submit sees either the old snapshot with the command in
flight or the new snapshot with it confirmed — never neither, never both.

That still cannot tell a resubmitted change from a new one: "remove one unit" judged against the order
that already shows the first removal is valid. So a change's `request_id` (the ERP's `requestId`) names
it: the same change again is answered with the first command, under any idempotency key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orderbridge.core.commands import (
    ChangeCommand,
    Command,
    InvoiceCommand,
    TrackingEvent,
    TrackingEventsCommand,
    command_from_dict,
    command_to_dict,
    with_history,
)
from orderbridge.core.decisions import PipelineState
from orderbridge.core.orders import OrderSnapshot
from orderbridge.core.validation import (
    Violation,
    change_request_reused,
    is_repeat_of_known_invoice,
    is_resubmitted_change,
    validate_command,
)
from orderbridge.erp.port import SubmitOutcome
from orderbridge.jobs.port import Job, JobQueue
from orderbridge.store import repo, tables

from .deps import APPLY_ACCEPTANCE, RELAY_COMMAND, PipelineDeps, lane_of
from .intake import enqueue_sync
from .ledger import add, attempt_of
from .records import ERP_REJECTED

log = structlog.get_logger("orderbridge.pipeline.commands")


class PipelineSink:
    """Implements `orderbridge.erp.port.CommandSink` over the store and the job queue."""

    def __init__(self, deps: PipelineDeps) -> None:
        self.deps = deps

    async def submit(
        self,
        account: str,
        order_id: str,
        command: Command,
        *,
        channel: str,
        idempotency_key: str | None = None,
    ) -> SubmitOutcome:
        async with self.deps.db.transaction() as session:
            if idempotency_key is not None:
                known = await repo.find_command_by_idempotency_key(session, account, idempotency_key)
                if known is not None:
                    return SubmitOutcome(True, known.id)
            await lock_order(session, account, order_id)
            row = await repo.get_order(session, account, order_id)
            if row is None:
                return SubmitOutcome(False, None, (f"order {order_id} is not known to orderbridge",))
            snapshot = row.order_snapshot()
            return await self._judge_and_store(session, account, snapshot, command, channel, idempotency_key)

    async def _judge_and_store(
        self,
        session: AsyncSession,
        account: str,
        snapshot: OrderSnapshot,
        command: Command,
        channel: str,
        idempotency_key: str | None,
    ) -> SubmitOutcome:
        order_id = snapshot.order_id
        if isinstance(command, ChangeCommand) and command.request_id.strip():
            earlier = await repo.find_change_by_request_id(session, account, order_id, command.request_id)
            if earlier is not None:
                return await _resubmitted_change(session, command, earlier)
        pending = await repo.pending_work(session, account, order_id)
        violations = validate_command(command, snapshot, pending)
        if violations:
            return await _refuse(session, account, order_id, command, violations)
        if isinstance(command, InvoiceCommand) and is_repeat_of_known_invoice(command, snapshot, pending):
            # The same invoice again: already accepted, and an invoice is never posted twice.
            return SubmitOutcome(True, None)
        if isinstance(command, TrackingEventsCommand):
            # VTEX replaces an invoice's events with each list it is sent: send the whole history.
            history = await repo.tracking_history(session, account, order_id, command.invoice_number)
            command = with_history(command, [TrackingEvent(**event) for event in history])
        command_id = await repo.add_command(
            session, account, order_id, command_to_dict(command), channel, idempotency_key
        )
        await enqueue_relay(self.deps.queue, session, account, order_id, command_id)
        return SubmitOutcome(True, command_id)

    async def report_acceptance(
        self,
        account: str,
        order_id: str,
        *,
        accepted: bool,
        erp_reference: str | None = None,
        reason: str | None = None,
    ) -> None:
        """The ERP's late answer to a handover; the order's sync then starts handling (or it stays parked).

        The answer can arrive before the pipeline has recorded that it waits for one (the handover's
        record may still be on its way to the database): it is then applied by a job in the order's
        lane, which runs after the job that handed the order over — never dropped.
        """
        answer: dict[str, Any] = {"accepted": accepted, "erp_reference": erp_reference, "reason": reason}
        async with self.deps.db.transaction() as session:
            if not await apply_acceptance(self.deps, session, account, order_id, **answer):
                payload = {"account": account, "order_id": order_id, **answer}
                lane = lane_of(account, order_id)
                await self.deps.queue.enqueue(session, kind=APPLY_ACCEPTANCE, lane=lane, payload=payload)

    async def current_order(self, account: str, order_id: str) -> OrderSnapshot | None:
        async with self.deps.db.read_session() as session:
            row = await repo.get_order(session, account, order_id)
        return row.order_snapshot() if row is not None else None


async def _refuse(
    session: AsyncSession, account: str, order_id: str, command: Command, violations: Sequence[Violation]
) -> SubmitOutcome:
    # "field: what is wrong [rule]": every channel (REST, staging rows, files) names both.
    problems = tuple(f"{v.message} [{v.rule}]" for v in violations)
    refused = attempt_of(f"submit_{command.kind}", "refused", detail="; ".join(problems))
    await add(session, account, order_id, refused)
    conflict = all(v.conflict for v in violations)
    return SubmitOutcome(False, None, problems, conflict=conflict, violations=tuple(violations))


async def _resubmitted_change(
    session: AsyncSession, command: ChangeCommand, earlier: repo.CommandRow
) -> SubmitOutcome:
    """The ERP's `request_id` names a change already accepted for this order (in flight or applied).

    The same change again is answered with the earlier command, whatever idempotency key it came
    under: an ERP resubmits a change it has not yet seen on the order, built from the order as it was,
    and judging it anew against the order that now shows the first one would apply it twice.
    """
    first = command_from_dict(earlier.payload)
    if isinstance(first, ChangeCommand) and is_resubmitted_change(command, first):
        detail = f"requestId {command.request_id!r}: the same change as command {earlier.id}"
        repeat = attempt_of("submit_change", "repeat", command_id=earlier.id, detail=detail)
        await add(session, earlier.account, earlier.order_id, repeat)
        return SubmitOutcome(True, earlier.id)
    return await _refuse(
        session, earlier.account, earlier.order_id, command, [change_request_reused(command, earlier.id)]
    )


async def lock_order(session: AsyncSession, account: str, order_id: str) -> None:
    """Serialize submits of one order, so two commands cannot both pass validation against the same
    snapshot. SQLite's write transactions are serialized already; PostgreSQL locks the row."""
    if session.get_bind().dialect.name != "postgresql":
        return
    table = tables.orders
    await session.execute(
        select(table.c.version)
        .where(table.c.account == account, table.c.order_id == order_id)
        .with_for_update()
    )


async def enqueue_relay(
    queue: JobQueue, session: AsyncSession, account: str, order_id: str, command_id: str
) -> int | None:
    """Relay a stored command in the order's lane, in the caller's transaction."""
    return await queue.enqueue(
        session,
        kind=RELAY_COMMAND,
        lane=lane_of(account, order_id),
        payload={"account": account, "order_id": order_id, "command_id": command_id},
    )


async def apply_acceptance(
    deps: PipelineDeps,
    session: AsyncSession,
    account: str,
    order_id: str,
    *,
    accepted: bool,
    erp_reference: str | None,
    reason: str | None,
) -> bool:
    """Move an order that awaits the ERP's answer on, and ask for its sync. False if it was not waiting."""
    waiting = (PipelineState.AWAITING_ERP.value,)
    if accepted:
        changed = await repo.set_pipeline_state(
            session,
            account,
            order_id,
            PipelineState.ACCEPTED.value,
            expect_state=waiting,
            handed_over_at=deps.clock(),
            erp_reference=erp_reference,
        )
    else:
        park_reason = ERP_REJECTED + (reason or "no reason given")
        changed = await repo.set_pipeline_state(
            session,
            account,
            order_id,
            PipelineState.PARKED.value,
            expect_state=waiting,
            park_reason=park_reason,
        )
    if changed:
        outcome = "accepted" if accepted else "rejected"
        await add(session, account, order_id, attempt_of("report_acceptance", outcome, detail=reason))
        await enqueue_sync(deps.queue, session, account, order_id)
    return changed


async def apply_late_acceptance(deps: PipelineDeps, job: Job) -> None:
    """The `apply_acceptance` job: an answer that arrived early, applied now that the lane got to it."""
    payload = dict(job.payload)
    account, order_id = payload.pop("account"), payload.pop("order_id")
    async with deps.db.transaction() as session:
        if not await apply_acceptance(deps, session, account, order_id, **payload):
            log.info("acceptance_ignored", account=account, order_id=order_id, reason="not awaiting the ERP")
