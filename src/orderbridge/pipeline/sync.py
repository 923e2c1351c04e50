"""The `sync_order` job: re-read the order, store it, and take the steps its current status calls for.

Each step is decided by `core.decisions.decide` from VTEX's status and the recorded facts, performed,
and recorded at once in its own small transaction, then the decision is asked again. A crash between
two steps therefore resumes at the right one; an event that arrives twice or late decides nothing new.
One exception: an acceptance by an ERP that can be asked about it (`SupportsLookup`) is recorded with
the next step, since after a crash the lookup, not the record, prevents a second handover.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.engine import Connection

from orderbridge.core.commands import CancelCommand, Command, DenyCancellationCommand
from orderbridge.core.decisions import (
    Decision,
    PipelineRecord,
    PipelineState,
    Step,
    decide,
    summary_state,
    unless_incomplete,
)
from orderbridge.core.orders import OrderSnapshot
from orderbridge.erp.port import (
    AcceptanceLater,
    Accepted,
    CancellationDecision,
    HandoverOrder,
    SubmitOutcome,
    SupportsLookup,
)
from orderbridge.jobs.errors import RetryLater
from orderbridge.jobs.port import Job
from orderbridge.store import repo
from orderbridge.store.sync_writes import confirm_visible_commands, store_read
from orderbridge.vtex import Order
from orderbridge.vtex.errors import Conflict, Unavailable

from . import held, ledger
from .crashpoints import ERP_ACCEPTED, START_ANSWERED, crashpoint
from .deps import PipelineDeps
from .handover import hand_over_once
from .incomplete import schedule_recheck
from .intake import enqueue_sync, sync_job
from .ledger import Attempt, attempt_of
from .mapping import order_to_snapshot
from .outages import wait_out
from .records import ERP_REJECTED, is_parked, record_of
from .vtex_calls import guard_account, vtex_call

log = structlog.get_logger("orderbridge.pipeline.sync")

MAX_STEPS = 8  # more steps than any status needs: a loop bound, not a business rule


@dataclass
class OrderView:
    """The order as this job currently knows it: VTEX's document and the pipeline's row."""

    account: str
    order_id: str
    order: Order
    snapshot: OrderSnapshot
    row: repo.OrderRow | None
    #: A step done but not recorded yet: its record rides with the next write (see `_hand_over`).
    unrecorded: Unrecorded | None = None
    #: The step waits for work ahead of it in the order's lane; a sync queued behind that work takes
    #: it up again (see `_decide_behind_the_invoice`), so this job stops here.
    queued_behind: bool = False


@dataclass(frozen=True)
class Unrecorded:
    attempt: Attempt
    fields: dict[str, Any]


async def sync_order(deps: PipelineDeps, job: Job) -> None:
    account, order_id = job.payload["account"], job.payload["order_id"]
    await guard_account(deps, account)
    view = await refresh(deps, account, order_id, job.id)
    was_asked = _cancellation_asked(view)
    try:
        for _ in range(MAX_STEPS):
            decision = await _decide(deps, view)
            if decision.step is Step.NOTHING:
                break
            if decision.step is Step.AWAIT_COMPLETION:
                view = await _await_completion(deps, view, job.id)
                break
            view = await perform(deps, view, decision, job.id)
            if view.queued_behind:
                break
    except Exception:
        if view.unrecorded is not None:  # the acceptance stays visible while start-handling retries
            await _record(deps, view, PipelineState.ACCEPTED)
        raise
    if view.unrecorded is not None:
        view = await _record(deps, view, PipelineState.ACCEPTED)
    if was_asked or _cancellation_asked(view):
        # A cancellation request was decided: what waited for the decision goes on (or is dropped).
        await held.release(deps, account, order_id, view.snapshot.status)
    await _settle_state(deps, view)


def _cancellation_asked(view: OrderView) -> bool:
    return view.row is not None and view.row.pipeline_state == PipelineState.CANCELLATION_ASKED


async def refresh(
    deps: PipelineDeps, account: str, order_id: str, job_id: int | None, *, then_sync: bool = False
) -> OrderView:
    """Get order (invariant 2: the event is a trigger, the order is the truth) and store it.

    Commands VTEX acknowledged before this read are now visible on the order: they are marked
    confirmed in the same transaction, so validation never counts them twice.

    `then_sync`: the caller is not `sync_order` (a relay checking what landed, or why VTEX refused).
    What its read reveals (a shopper's cancellation request, say) must be decided as an event would
    be, not wait for the event: a sync is enqueued under the order's lock with the stored read. It is
    coalesced with one not started yet, and these reads are rare (unknown outcomes, refusals).
    """
    order = await vtex_call(deps, account, order_id, "get_order", deps.client(account).get_order(order_id))
    snapshot = order_to_snapshot(order)

    def store(conn: Connection) -> tuple[repo.OrderRow, bool]:
        row, applied = store_read(conn, account, order_id, order.raw_json, snapshot)
        if row.version > 1:  # a command needs a stored order: a first read has none to confirm
            confirm_visible_commands(conn, account, order_id, snapshot)
        if then_sync:
            enqueue_sync(deps.queue, conn, account, order_id)
        return row, applied

    row, applied = await deps.db.write(store)
    if not applied:  # the store holds a newer read than this one (a slow reader): decide on the newer one
        snapshot = row.order_snapshot()
    return OrderView(account, order_id, order, snapshot, row)


async def _decide(deps: PipelineDeps, view: OrderView) -> Decision:
    asked: str | None = None
    if view.snapshot.status == "cancellation-requested":
        asked = await ledger.cancellation_asked_for(deps, view.account, view.order_id)
    record = await _with_handovers(deps, view, record_of(view.row, asked))
    decision = decide(view.snapshot.status, record, view.snapshot.open_cancellation_request_id)
    return unless_incomplete(decision, view.snapshot.is_completed)


async def _with_handovers(deps: PipelineDeps, view: OrderView, record: PipelineRecord) -> PipelineRecord:
    """For an order the ERP never accepted, what its handovers said (read only when it matters).

    After a cancellation request the state no longer says whether the ERP answered "later": only such
    an answer makes the order wait for an acceptance — one never acknowledged (the ERP failed) is
    offered again, not left waiting for an acceptance nobody will send. A handover whose outcome is
    unknown means the ERP may have the order, so it hears of a cancellation.
    """
    if view.row is None or record.erp_accepted or record.erp_rejected:
        return record
    after_request = view.row.pipeline_state == PipelineState.CANCELLATION_ASKED
    if not after_request and view.snapshot.status != "canceled":
        return record
    outcomes = await ledger.handover_outcomes(deps, view.account, view.order_id)
    awaiting = "later" in outcomes if after_request else record.awaiting_acceptance
    return replace(record, awaiting_acceptance=awaiting, erp_may_have="unknown" in outcomes)


async def perform(deps: PipelineDeps, view: OrderView, decision: Decision, job_id: int) -> OrderView:
    step = decision.step
    if step is Step.HAND_OVER:
        return await _hand_over(deps, view, job_id)
    if step is Step.START_HANDLING:
        return await _start_handling(deps, view, job_id)
    if step is Step.RECORD_STARTED:
        return await _record(deps, view, PipelineState.HANDLING, started_at=deps.clock())
    if step is Step.ASK_CANCELLATION:
        return await _ask_cancellation(deps, view, decision.cancellation_request_id, job_id)
    if step is Step.NOTIFY_CANCELED:
        await deps.erp.notify_canceled(view.account, view.order_id, view.snapshot.extra.get("cancel_reason"))
        told = attempt_of("notify_canceled", "ok", job_id=job_id)
        return await _record(deps, view, PipelineState.CANCELED, told, completed_at=deps.clock())
    if step is Step.RECORD_CANCELED:
        return await _record(deps, view, PipelineState.CANCELED, completed_at=deps.clock())
    return await _record(deps, view, PipelineState.COMPLETED, completed_at=deps.clock())


async def _hand_over(deps: PipelineDeps, view: OrderView, job_id: int) -> OrderView:
    """Give the order to the ERP, once (see `handover`). ErpUnavailable propagates: the job retries.

    An ERP that can be asked what it decided (`SupportsLookup`) remembers the acceptance itself: a
    crash before the pipeline recorded it leads to a lookup, not a second handover. Its record then
    rides with the next step's write (start-handling's, one transaction and one wait less per order);
    a failing next step still records it before the job retries.
    """
    handover = HandoverOrder(view.account, view.order_id, view.snapshot, view.order.raw_json)
    try:
        result = await hand_over_once(deps, handover)
    except RetryLater as failed:  # the ERP failed (see `erp_health`): it may have the order anyway
        await ledger.attempt(
            deps, view.account, view.order_id, "hand_over", "unknown", job_id=job_id, detail=failed.reason
        )
        raise
    crashpoint(ERP_ACCEPTED)
    if isinstance(result, Accepted):
        accepted = attempt_of("hand_over", "accepted", job_id=job_id)
        fields: dict[str, Any] = {"handed_over_at": deps.clock(), "erp_reference": result.erp_reference}
        if isinstance(deps.erp, SupportsLookup) and view.row is not None:
            row = replace(view.row, pipeline_state=PipelineState.ACCEPTED.value, **fields)
            return replace(view, row=row, unrecorded=Unrecorded(accepted, fields))
        return await _record(deps, view, PipelineState.ACCEPTED, accepted, **fields)
    if isinstance(result, AcceptanceLater):
        later = attempt_of("hand_over", "later", job_id=job_id)
        return await _record(deps, view, PipelineState.AWAITING_ERP, later)
    reason = ERP_REJECTED + result.reason
    log.warning("order_parked", account=view.account, order_id=view.order_id, reason=reason)
    rejected = attempt_of("hand_over", "rejected", job_id=job_id, detail=reason)
    return await _record(deps, view, PipelineState.PARKED, rejected, park_reason=reason)


_INCOMPLETE_SHOWS_FOR = frozenset({repo.NEW_ORDER_STATE, PipelineState.WAITING.value})


async def _await_completion(deps: PipelineDeps, view: OrderView, job_id: int) -> OrderView:
    """VTEX has not completed the order: nothing is handed over or started, it is read again later.

    Shown as `incomplete` where it would be `waiting` (any other state records a fact, and stays)."""
    await schedule_recheck(deps, view.account, view.order_id, view.row.created_at if view.row else None)
    if view.row is None or view.row.pipeline_state not in _INCOMPLETE_SHOWS_FOR or view.unrecorded:
        return view
    waiting = attempt_of("await_completion", "later", job_id=job_id, detail="VTEX says isCompleted false")
    return await _record(deps, view, PipelineState.INCOMPLETE, waiting)


async def _start_handling(deps: PipelineDeps, view: OrderView, job_id: int) -> OrderView:
    """Start handling once. A 409 or an unknown outcome means: re-read, VTEX may already say handling."""
    client = deps.client(view.account)
    try:
        call = client.start_handling(view.order_id)
        await vtex_call(deps, view.account, view.order_id, "start_handling", call)
    except Conflict as error:
        view = await _start_failed(deps, view, "conflict", error, job_id)
        return await _reread_after_start(deps, view, job_id)
    except Unavailable as error:
        view = await _start_failed(deps, view, "unknown", error, job_id)
        if not error.may_have_landed:
            raise
        return await _reread_after_start(deps, view, job_id)
    crashpoint(START_ANSWERED)
    started = attempt_of("start_handling", "ok", job_id=job_id)
    # VTEX answered 204: the order is handling now. Saying so in the stored snapshot lets the ERP's first
    # commands validate at once, without spending a Get order (the next real read replaces it).
    handling = replace(view.snapshot, status="handling")
    view = replace(view, snapshot=handling)
    return await _record(
        deps, view, PipelineState.HANDLING, started, started_at=deps.clock(), vtex_status="handling"
    )


async def _start_failed(
    deps: PipelineDeps, view: OrderView, outcome: str, error: Exception, job_id: int
) -> OrderView:
    """Log the failed start; an acceptance not recorded yet is recorded with it, ahead of it."""
    if view.unrecorded is not None:
        failed = attempt_of("start_handling", outcome, job_id=job_id, error=error)
        return await _record(deps, view, PipelineState.ACCEPTED, failed)
    await ledger.attempt(
        deps, view.account, view.order_id, "start_handling", outcome, job_id=job_id, error=error
    )
    return view


async def _reread_after_start(deps: PipelineDeps, view: OrderView, job_id: int) -> OrderView:
    fresh = await refresh(deps, view.account, view.order_id, job_id)
    if fresh.snapshot.status == "ready-for-handling":
        # Neither started nor refused for another status: sent again on the next run (VTEX refuses a
        # second start on an order already handling, so it cannot double), a wait that grows with the
        # time since the acceptance and spends none of the job's attempts.
        since = fresh.row.handed_over_at if fresh.row is not None else None
        raise wait_out(deps.timing, since, deps.clock(), "start-handling did not land yet")
    return fresh


async def _ask_cancellation(
    deps: PipelineDeps, view: OrderView, request_id: str | None, job_id: int
) -> OrderView:
    """Ask the ERP; its answer travels the same command path as any ERP command (validated, relayed)."""
    reason = view.snapshot.extra.get("cancel_reason")
    decision = await _cancellation_decision(deps, view, request_id, reason)
    if decision is None:
        asked = attempt_of("ask_cancellation", "later", job_id=job_id, detail=request_id or "")
        return await _record(deps, view, PipelineState.CANCELLATION_ASKED, asked)
    command: Command
    if decision.accept:
        command = CancelCommand(reason=decision.reason or "cancellation requested by the shopper")
    else:
        reason_text = decision.reason or "denied by the seller"
        command = DenyCancellationCommand(reason=reason_text, cancellation_request_id=request_id)
    # The key makes a re-asked decision (after a crash before it was recorded) the same command.
    key = f"cancellation-decision:{view.order_id}:{request_id or ''}"
    outcome = await deps.sink.submit(view.account, view.order_id, command, channel="erp", idempotency_key=key)
    answered = "accepted" if decision.accept else "denied"
    asked = attempt_of("ask_cancellation", answered, job_id=job_id, detail=request_id or "")
    if outcome.accepted:
        return await _record(deps, view, PipelineState.CANCELLATION_ASKED, asked)
    waits = await _waits_behind_an_unsent_invoice(deps, view, request_id, outcome)
    if waits is not None:
        return await _decide_behind_the_invoice(deps, view, request_id, job_id, waits)
    reason_text = "the ERP's cancellation decision was refused: " + "; ".join(outcome.problems)
    return await _record(deps, view, PipelineState.PARKED, asked, park_reason=reason_text)


#: The one refusal of a cancellation decision that can mean "not yet": an invoice accepted before it is
#: still on its way to VTEX (see `_decide_behind_the_invoice`).
_INVOICE_AHEAD = "invoice_in_flight"
WAIT_BEHIND_INVOICE = "wait_behind_invoice"
_UNSENT = frozenset({"pending", "sending"})


async def _waits_behind_an_unsent_invoice(
    deps: PipelineDeps, view: OrderView, request_id: str | None, outcome: SubmitOutcome
) -> int | None:
    """How often the decision already waited, if it was refused only for an invoice in flight and one of
    the order's invoices is not sent yet (its relay is in the order's lane, maybe waiting out a VTEX
    outage): its fate at VTEX is still to come. None when the refusal is final."""
    if not outcome.violations or any(v.rule != _INVOICE_AHEAD for v in outcome.violations):
        return None

    def read(conn: Connection) -> int | None:
        commands = repo.order_commands(conn, view.account, view.order_id)
        if not any(c.kind == "invoice" and c.status in _UNSENT for c in commands):
            return None
        return ledger.count_attempts(conn, view.account, view.order_id, WAIT_BEHIND_INVOICE, request_id or "")

    return await deps.db.read(read)


async def _decide_behind_the_invoice(
    deps: PipelineDeps, view: OrderView, request_id: str | None, job_id: int, waits: int
) -> OrderView:
    """The ERP accepted the cancellation while an invoice it sent a moment before waits in the order's
    lane (accepted while the stored order still said handling; its relay queued behind this job).

    The cancel must not race that invoice (KI 1400005), and its fate is not known yet: VTEX refuses
    it for the open request (it is then held, and races nothing) or takes it (the cancel is then
    refused for what is invoiced: a real conflict, parked for a person). So the decision is taken again
    by a sync queued behind the invoice's relay — not parked on a refusal that only says "not yet",
    which left the shopper's request open at VTEX with nothing left to decide it. Nothing marks the
    request as asked: that sync asks the ERP again (the same request, the same answer) and submits the
    decision under the same key. It is due a little later, each wait twice the last (the invoice may be
    waiting out a VTEX outage), never in a tight loop; no bound, as the invoice's own job is pending.
    """
    waiting = attempt_of(WAIT_BEHIND_INVOICE, "later", job_id=job_id, detail=request_id or "")
    job = sync_job(view.account, view.order_id)
    timing = deps.timing
    delay_s = min(timing.decision_behind_invoice_s * 2 ** min(waits, 16), timing.vtex_outage_retry_max_s)
    run_at = deps.clock() + timedelta(seconds=delay_s)

    def write(conn: Connection) -> None:
        ledger.add(conn, view.account, view.order_id, waiting)
        deps.queue.enqueue(
            conn,
            kind=job.kind,
            lock=job.lock,
            payload=job.payload,
            run_at=run_at,
            queueing_lock=job.queueing_lock,
        )

    await deps.db.write(write)
    log.info("cancellation_decision_waits_for_invoice", account=view.account, order_id=view.order_id)
    return replace(view, queued_behind=True)


async def _cancellation_decision(
    deps: PipelineDeps, view: OrderView, request_id: str | None, reason: str | None
) -> CancellationDecision | None:
    """An order the ERP never accepted is not in fulfilment: unless the account says `ask_erp`
    (`cancellation_before_acceptance`), its cancellation request is accepted without asking. The ERP
    still hears of the cancellation itself (`NOTIFY_CANCELED`) in case it has the order."""
    accepted = view.row is not None and view.row.handed_over_at is not None
    if not accepted and deps.policy(view.account).cancellation_before_acceptance == "accept":
        log.info("cancellation_accepted_before_acceptance", account=view.account, order_id=view.order_id)
        return CancellationDecision(accept=True)
    return await deps.erp.request_cancellation(view.account, view.order_id, request_id, reason)


async def _record(
    deps: PipelineDeps, view: OrderView, state: PipelineState, done: Attempt | None = None, **fields: Any
) -> OrderView:
    """Record a step and its attempt together: the fact and its evidence commit as one (with any
    step still unrecorded before it)."""
    attempts = [done] if done is not None else []
    carried = view.unrecorded
    if carried is not None:
        fields = {**carried.fields, **fields}
        attempts.insert(0, carried.attempt)

    def write(conn: Connection) -> None:
        # Blind writes of fixed shapes: sent at COMMIT, batched with the other jobs' (`group_commit.defer`).
        # A snapshot the pipeline derived from VTEX's answer to its own call (start-handling's 204 means
        # "handling now") is stored with the state it caused.
        snapshot = view.snapshot if "vtex_status" in fields else None
        repo.set_pipeline_state_at_commit(
            conn, view.account, view.order_id, state.value, snapshot=snapshot, **fields
        )
        for attempt in attempts:
            ledger.add_at_commit(conn, view.account, view.order_id, attempt)

    await deps.db.write(write)
    # The row as just written, without reading it back (one statement less per step).
    row = replace(view.row, pipeline_state=state.value, **fields) if view.row is not None else None
    return replace(view, row=row, unrecorded=None)


async def _settle_state(deps: PipelineDeps, view: OrderView) -> None:
    """Keep the operator-facing state in step with the facts (e.g. after a denied cancellation)."""
    if view.row is None:
        return
    asked = None
    if view.snapshot.status == "cancellation-requested":
        asked = await ledger.cancellation_asked_for(deps, view.account, view.order_id)
    record = await _with_handovers(deps, view, record_of(view.row, asked))
    wanted = summary_state(
        view.snapshot.status, record, is_parked(view.row), is_completed=view.snapshot.is_completed
    )
    if wanted.value != view.row.pipeline_state:
        await _record(deps, view, wanted)
