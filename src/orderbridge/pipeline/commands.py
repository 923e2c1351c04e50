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
from sqlalchemy.engine import Connection

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
        return await self.deps.db.write(
            lambda conn: self._submit(conn, account, order_id, command, channel, idempotency_key)
        )

    def _submit(
        self,
        conn: Connection,
        account: str,
        order_id: str,
        command: Command,
        channel: str,
        idempotency_key: str | None,
    ) -> SubmitOutcome:
        if idempotency_key is not None:
            known = repo.find_command_by_idempotency_key(conn, account, idempotency_key)
            if known is not None:
                return SubmitOutcome(True, known.id)
        lock_order(conn, account, order_id)
        row = repo.get_order(conn, account, order_id)
        if row is None:
            return SubmitOutcome(False, None, (f"order {order_id} is not known to orderbridge",))
        snapshot = row.order_snapshot()
        return self._judge_and_store(conn, account, snapshot, command, channel, idempotency_key)

    def _judge_and_store(
        self,
        conn: Connection,
        account: str,
        snapshot: OrderSnapshot,
        command: Command,
        channel: str,
        idempotency_key: str | None,
    ) -> SubmitOutcome:
        order_id = snapshot.order_id
        earlier = repo.order_commands(conn, account, order_id)
        if isinstance(command, TrackingEventsCommand):
            # VTEX replaces an invoice's events with each list it is sent: the command carries the whole
            # history, and is then matched with the earlier ones as what VTEX would be sent.
            command = with_history(command, _tracking_history(earlier, command.invoice_number))
        replay = find_replay(command, _earlier_of_kind(earlier, command.kind), snapshot)
        if replay is not None:
            if replay.conflicts:
                return _refuse(conn, account, order_id, command, replay.conflicts)
            return _repeat(conn, account, order_id, command, replay.earlier_id)
        in_flight = [(c.kind, c.payload, c.status) for c in earlier if c.status in repo.IN_FLIGHT_STATUSES]
        pending = repo.pending_work_from(in_flight)
        violations = validate_command(command, snapshot, pending)
        if violations:
            return _refuse(conn, account, order_id, command, violations)
        command_id = repo.add_command(
            conn, account, order_id, command_to_dict(command), channel, idempotency_key
        )
        if isinstance(command, InvoiceCommand) and is_repeat_of_known_invoice(command, snapshot, pending):
            # On the VTEX order already, though no command of the order names it (posted outside
            # orderbridge): stored as confirmed, so the ERP has a command to follow; nothing is sent.
            repo.set_command_status(conn, command_id, "confirmed")
            return _repeat(conn, account, order_id, command, command_id, "already on the VTEX order")
        enqueue_relay(self.deps.queue, conn, account, order_id, command_id)
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
        return await self.deps.db.write(lambda conn: self._report_acceptance(conn, account, order_id, answer))

    def _report_acceptance(
        self, conn: Connection, account: str, order_id: str, answer: dict[str, Any]
    ) -> SubmitOutcome:
        lock_order(conn, account, order_id)
        row = repo.get_order(conn, account, order_id)
        if row is None:
            return SubmitOutcome(False, None, (f"orderId: order {order_id} is not known to orderbridge",))
        verdict = judge_acceptance(row, **answer)
        if verdict.action == "apply" and apply_acceptance(self.deps, conn, account, order_id, **answer):
            return SubmitOutcome(True, None)
        if verdict.action in ("apply", "later"):
            payload = {"account": account, "order_id": order_id, **answer}
            lock = lock_of(account, order_id)
            self.deps.queue.enqueue(conn, kind=APPLY_ACCEPTANCE, lock=lock, payload=payload)
            return SubmitOutcome(True, None)
        step = attempt_of("report_acceptance", verdict.action, detail="; ".join(verdict.problems) or None)
        add(conn, account, order_id, step)
        if verdict.action == "repeat":
            return SubmitOutcome(True, None, repeat=True)
        return SubmitOutcome(False, None, verdict.problems, conflict=True)

    async def current_order(self, account: str, order_id: str) -> OrderSnapshot | None:
        row = await self.deps.db.read(lambda conn: repo.get_order(conn, account, order_id))
        return row.order_snapshot() if row is not None else None


def _refuse(
    conn: Connection, account: str, order_id: str, command: Command, violations: Sequence[Violation]
) -> SubmitOutcome:
    # "field: what is wrong [rule]": every channel (REST, staging rows, files) names both.
    problems = tuple(f"{v.message} [{v.rule}]" for v in violations)
    refused = attempt_of(f"submit_{command.kind}", "refused", detail="; ".join(problems))
    add(conn, account, order_id, refused)
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


def _repeat(
    conn: Connection,
    account: str,
    order_id: str,
    command: Command,
    earlier_id: str,
    why: str = "the same command again",
) -> SubmitOutcome:
    """An identical repeat: answered with the earlier command; nothing more is stored or sent."""
    detail = f"{why}: answered with command {earlier_id}"
    repeat = attempt_of(f"submit_{command.kind}", "repeat", command_id=earlier_id, detail=detail)
    add(conn, account, order_id, repeat)
    return SubmitOutcome(True, earlier_id, repeat=True)


def lock_order(conn: Connection, account: str, order_id: str) -> None:
    """Serialize submits of one order, so two commands cannot both pass validation against the same
    snapshot. SQLite's write transactions are serialized already; PostgreSQL locks the row."""
    if conn.dialect.name != "postgresql":
        return
    table = tables.orders
    conn.execute(
        select(table.c.version)
        .where(table.c.account == account, table.c.order_id == order_id)
        .with_for_update()
    )


def enqueue_relay(
    queue: JobQueue, conn: Connection, account: str, order_id: str, command_id: str
) -> int | None:
    """Relay a stored command under the order's lock, in the caller's transaction."""
    return queue.enqueue(
        conn,
        kind=RELAY_COMMAND,
        lock=lock_of(account, order_id),
        payload={"account": account, "order_id": order_id, "command_id": command_id},
    )


def apply_acceptance(
    deps: PipelineDeps,
    conn: Connection,
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
        changed = repo.set_pipeline_state(
            conn,
            account,
            order_id,
            PipelineState.ACCEPTED.value,
            expect_state=waiting,
            handed_over_at=deps.clock(),
            erp_reference=erp_reference,
        )
    else:
        park_reason = ERP_REJECTED + (reason or "no reason given")
        changed = repo.set_pipeline_state(
            conn,
            account,
            order_id,
            PipelineState.PARKED.value,
            expect_state=waiting,
            park_reason=park_reason,
        )
    if changed:
        outcome = "accepted" if accepted else "rejected"
        add(conn, account, order_id, attempt_of("report_acceptance", outcome, detail=reason))
        enqueue_sync(deps.queue, conn, account, order_id)
    return changed


async def apply_late_acceptance(deps: PipelineDeps, job: Job) -> None:
    """The `apply_acceptance` job: an answer that arrived early, applied now that the lock got to it."""
    payload = dict(job.payload)
    account, order_id = payload.pop("account"), payload.pop("order_id")
    if not await deps.db.write(lambda conn: apply_acceptance(deps, conn, account, order_id, **payload)):
        log.info("acceptance_ignored", account=account, order_id=order_id, reason="not awaiting the ERP")
