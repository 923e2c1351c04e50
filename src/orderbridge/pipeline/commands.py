"""The pipeline's `CommandSink`: how ERP commands enter (invariant 5), and the ERP's late acceptance.

`submit` judges a command against the stored snapshot plus the work already in flight, and either
refuses it with every reason (nothing stored, nothing sent to VTEX) or stores it and enqueues its relay
under the order's lock — one transaction, so an accepted command is always relayed exactly in order.

ERP submissions do not run under the order's lock, so the decision is serialized per order instead: the
transaction locks the order's row (PostgreSQL; SQLite's writers are serialized anyway) and reads the
snapshot and the in-flight commands after the lock. The sync stores a fresh read and marks the commands
it shows as confirmed in one transaction, so a submit sees either the old snapshot with the command in
flight or the new snapshot with it confirmed — never neither, never both.

That still cannot tell a resubmitted command from a new one: "remove one unit" judged against the order
that already shows the first removal is valid, and an invoice re-sent by an ERP that retries without an
idempotency key would be refused for what the first one did. So each command is first matched with the
order's earlier ones by its natural key (`core.replays`: the invoice number, a change's `requestId`…):
the same command again is answered with the first one, under any idempotency key or none, and the same
key with other content is a conflict. The ERP's acceptance or refusal is keyed by the order the same way
(`report_acceptance`, judged by `pipeline.acceptance`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orderbridge.core.commands import (
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
from orderbridge.core.replays import Earlier, find_replay
from orderbridge.core.validation import (
    Violation,
    is_repeat_of_known_invoice,
    validate_command,
)
from orderbridge.erp.port import SubmitOutcome
from orderbridge.jobs.port import Job, JobQueue
from orderbridge.store import repo, tables

from .acceptance import judge_acceptance
from .deps import APPLY_ACCEPTANCE, RELAY_COMMAND, PipelineDeps, lock_of
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
        earlier = await repo.order_commands(session, account, order_id)
        if isinstance(command, TrackingEventsCommand):
            # VTEX replaces an invoice's events with each list it is sent: the command carries the whole
            # history, and is then matched with the earlier ones as what VTEX would be sent.
            command = with_history(command, _tracking_history(earlier, command.invoice_number))
        replay = find_replay(command, _earlier_of_kind(earlier, command.kind), snapshot)
        if replay is not None:
            if replay.conflicts:
                return await _refuse(session, account, order_id, command, replay.conflicts)
            return await _repeat(session, account, order_id, command, replay.earlier_id)
        in_flight = [(c.kind, c.payload, c.status) for c in earlier if c.status in repo.IN_FLIGHT_STATUSES]
        pending = repo.pending_work_from(in_flight)
        violations = validate_command(command, snapshot, pending)
        if violations:
            return await _refuse(session, account, order_id, command, violations)
        command_id = await repo.add_command(
            session, account, order_id, command_to_dict(command), channel, idempotency_key
        )
        if isinstance(command, InvoiceCommand) and is_repeat_of_known_invoice(command, snapshot, pending):
            # On the VTEX order already, though no command of the order names it (posted outside
            # orderbridge): stored as confirmed, so the ERP has a command to follow; nothing is sent.
            await repo.set_command_status(session, command_id, "confirmed")
            return await _repeat(session, account, order_id, command, command_id, "already on the VTEX order")
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
    ) -> SubmitOutcome:
        """The ERP's late answer to a handover; the order's sync then starts handling (or it stays parked).

        Keyed by the order, like a command by its natural key (see `pipeline.acceptance`): the same
        decision again is answered as the first time, a decision on an order that is not awaiting one
        is refused naming its state. The answer can arrive before the pipeline has recorded that it
        waits for one (the handover's record may still be on its way to the database): it is then
        applied by a job under the order's lock, which runs after the job that handed the order over.
        """
        answer: dict[str, Any] = {"accepted": accepted, "erp_reference": erp_reference, "reason": reason}
        async with self.deps.db.transaction() as session:
            await lock_order(session, account, order_id)
            row = await repo.get_order(session, account, order_id)
            if row is None:
                return SubmitOutcome(False, None, (f"orderId: order {order_id} is not known to orderbridge",))
            verdict = judge_acceptance(row, accepted=accepted, erp_reference=erp_reference, reason=reason)
            if verdict.action == "apply" and await apply_acceptance(
                self.deps, session, account, order_id, **answer
            ):
                return SubmitOutcome(True, None)
            if verdict.action in ("apply", "later"):
                payload = {"account": account, "order_id": order_id, **answer}
                lock = lock_of(account, order_id)
                await self.deps.queue.enqueue(session, kind=APPLY_ACCEPTANCE, lock=lock, payload=payload)
                return SubmitOutcome(True, None)
            step = attempt_of("report_acceptance", verdict.action, detail="; ".join(verdict.problems) or None)
            await add(session, account, order_id, step)
            if verdict.action == "repeat":
                return SubmitOutcome(True, None, repeat=True)
            return SubmitOutcome(False, None, verdict.problems, conflict=True)

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


def _tracking_history(commands: Sequence[repo.OrderCommand], invoice_number: str) -> list[TrackingEvent]:
    """The events already accepted for one invoice, oldest first, from its tracking commands VTEX did
    not refuse (each carries the history before it: duplicates are dropped by `with_history`)."""
    return [
        TrackingEvent(**event)
        for c in commands
        if c.kind == "tracking_events"
        and c.status != "rejected"
        and c.payload.get("invoice_number") == invoice_number
        for event in c.payload.get("events", ())
    ]


def _earlier_of_kind(commands: Sequence[repo.OrderCommand], kind: str) -> list[Earlier]:
    """The order's earlier commands of `kind` that may be repeated: VTEX's refusal ("rejected") makes a
    command free to be sent again as a new try."""
    return [
        Earlier(c.id, command_from_dict(c.payload), c.status in repo.IN_FLIGHT_STATUSES)
        for c in commands
        if c.kind == kind and c.status != "rejected"
    ]


async def _repeat(
    session: AsyncSession,
    account: str,
    order_id: str,
    command: Command,
    earlier_id: str,
    why: str = "the same command again",
) -> SubmitOutcome:
    """An identical repeat: answered with the earlier command; nothing more is stored or sent."""
    detail = f"{why}: answered with command {earlier_id}"
    repeat = attempt_of(f"submit_{command.kind}", "repeat", command_id=earlier_id, detail=detail)
    await add(session, account, order_id, repeat)
    return SubmitOutcome(True, earlier_id, repeat=True)


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
    """Relay a stored command under the order's lock, in the caller's transaction."""
    return await queue.enqueue(
        session,
        kind=RELAY_COMMAND,
        lock=lock_of(account, order_id),
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
    """The `apply_acceptance` job: an answer that arrived early, applied now that the lock got to it."""
    payload = dict(job.payload)
    account, order_id = payload.pop("account"), payload.pop("order_id")
    async with deps.db.transaction() as session:
        if not await apply_acceptance(deps, session, account, order_id, **payload):
            log.info("acceptance_ignored", account=account, order_id=order_id, reason="not awaiting the ERP")
