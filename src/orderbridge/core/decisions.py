"""What happens next to an order, given what VTEX says now and what the pipeline has already done.

This is the heart of moment 1 as a pure function. The `sync_order` job re-reads the order, calls
`decide` and performs the ONE step it names, records it, and asks again — so a crash between two steps
resumes at the right one, and an event that arrives twice or late decides nothing new (invariants 2 and 3:
an event is a trigger, every step re-checks relevance).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class PipelineState(StrEnum):
    """The pipeline's summary of an order, shown to operators (`orderbridge status`)."""

    WAITING = "waiting"  # known, but VTEX's status asks nothing of us yet (e.g. window-to-cancel)
    INCOMPLETE = "incomplete"  # VTEX says isCompleted false (e.g. unpaid): re-read later, nothing sent
    AWAITING_ERP = "awaiting_erp"  # handed over; the ERP reports acceptance later
    ACCEPTED = "accepted"  # the ERP accepted; start-handling not yet confirmed
    HANDLING = "handling"  # started; the ERP's commands flow
    CANCELLATION_ASKED = "cancellation_asked"  # the ERP was asked to decide a cancellation request
    COMPLETED = "completed"  # invoiced (final)
    CANCELED = "canceled"  # canceled and the ERP told, if it knew the order (final)
    PARKED = "parked"  # needs a person: see park_reason


FINAL_STATES = frozenset({PipelineState.COMPLETED.value, PipelineState.CANCELED.value})

# The VTEX statuses the pipeline acts on; the feed filter and the reconciliation sweep use them too.
RELEVANT_STATUSES: tuple[str, ...] = (
    "ready-for-handling",
    "handling",
    "cancellation-requested",
    "canceled",
    "invoiced",
)
# The statuses the feed is asked for by default. `handling` is not among them: the pipeline causes it
# itself (its start-handling, recorded from VTEX's 204), and after a denied cancellation request the
# deny's relay re-reads the order anyway. Subscribing to it would double the events (a feed read, a
# commit and a stored event per order) to learn nothing; reconciliation still covers the status.
FEED_STATUSES: tuple[str, ...] = tuple(status for status in RELEVANT_STATUSES if status != "handling")


@dataclass(frozen=True, slots=True)
class PipelineRecord:
    """What the pipeline has durably recorded about one order (facts, not intentions)."""

    erp_accepted: bool = False
    awaiting_acceptance: bool = False
    erp_rejected: bool = False
    started: bool = False
    completed: bool = False
    canceled: bool = False
    cancellation_asked_for: str | None = None
    erp_may_have: bool = False  # a handover's outcome is unknown (a timeout, a 5xx): it may have landed

    @property
    def erp_knows(self) -> bool:
        """The ERP has (or may have) the order, so it must hear of a cancellation."""
        return self.erp_accepted or self.awaiting_acceptance or self.erp_rejected or self.erp_may_have


class Step(StrEnum):
    NOTHING = "nothing"
    HAND_OVER = "hand_over"
    START_HANDLING = "start_handling"
    RECORD_STARTED = "record_started"  # VTEX already says handling: the start landed before a crash
    ASK_CANCELLATION = "ask_cancellation"
    NOTIFY_CANCELED = "notify_canceled"
    RECORD_CANCELED = "record_canceled"  # canceled before the ERP ever saw it: nothing to tell
    COMPLETE = "complete"
    AWAIT_COMPLETION = "await_completion"  # isCompleted false: no handover, no start; re-read later


@dataclass(frozen=True, slots=True)
class Decision:
    step: Step
    why: str
    cancellation_request_id: str | None = None


def decide(
    status: str | None, record: PipelineRecord, cancellation_request_id: str | None = None
) -> Decision:
    """The next step for an order whose current VTEX status is `status`."""
    if status == "ready-for-handling":
        return _ready_for_handling(record)
    if status == "handling":
        return _handling(record)
    if status == "cancellation-requested":
        return _cancellation_requested(record, cancellation_request_id)
    if status == "canceled":
        return _canceled(record)
    if status == "invoiced":
        if record.completed:
            return Decision(Step.NOTHING, "already complete")
        return Decision(Step.COMPLETE, "VTEX says invoiced")
    return Decision(Step.NOTHING, f"status {status!r} asks nothing of the pipeline")


def _ready_for_handling(record: PipelineRecord) -> Decision:
    if record.erp_rejected:
        return Decision(Step.NOTHING, "the ERP rejected it; an operator decides")
    if record.started:
        # Only a denied cancellation request brings a started order back here; never start twice.
        return Decision(Step.NOTHING, "start-handling already confirmed once")
    if record.erp_accepted:
        return Decision(Step.START_HANDLING, "the ERP accepted; VTEX still ready-for-handling")
    if record.awaiting_acceptance:
        return Decision(Step.NOTHING, "waiting for the ERP to report acceptance")
    return Decision(Step.HAND_OVER, "ready-for-handling and not yet with the ERP")


def _handling(record: PipelineRecord) -> Decision:
    if record.erp_rejected or record.awaiting_acceptance:
        return Decision(Step.NOTHING, "handling at VTEX; the ERP has not accepted")
    if not record.erp_accepted:
        # Started outside orderbridge (VTEX Admin): the ERP still needs the order, but no start call.
        return Decision(Step.HAND_OVER, "handling at VTEX but never handed over")
    if not record.started:
        return Decision(Step.RECORD_STARTED, "VTEX says handling: the start landed")
    return Decision(Step.NOTHING, "handling; the ERP's commands drive it")


def _cancellation_requested(record: PipelineRecord, request_id: str | None) -> Decision:
    key = request_id or ""
    if record.cancellation_asked_for == key:
        return Decision(Step.NOTHING, "the ERP was already asked about this cancellation request")
    return Decision(Step.ASK_CANCELLATION, "a shopper asked to cancel", cancellation_request_id=request_id)


def _canceled(record: PipelineRecord) -> Decision:
    if record.canceled:
        return Decision(Step.NOTHING, "cancellation already recorded")
    if record.erp_knows:
        return Decision(Step.NOTIFY_CANCELED, "VTEX canceled an order the ERP has")
    return Decision(Step.RECORD_CANCELED, "canceled before the ERP saw it")


def summary_state(
    status: str | None, record: PipelineRecord, parked: bool, *, is_completed: bool = True
) -> PipelineState:
    """The operator-facing state, derived from the recorded facts (never stored as a fact itself).

    `incomplete` only stands for `waiting` (the ERP knows nothing of the order): a state that records
    a fact (`awaiting_erp`, `accepted`) is never replaced by it."""
    if record.canceled:
        return PipelineState.CANCELED
    if record.completed:
        return PipelineState.COMPLETED
    if parked:
        return PipelineState.PARKED
    if status == "cancellation-requested" and record.cancellation_asked_for is not None:
        return PipelineState.CANCELLATION_ASKED
    if record.started:
        return PipelineState.HANDLING
    if record.erp_accepted:
        return PipelineState.ACCEPTED
    if record.awaiting_acceptance:
        return PipelineState.AWAITING_ERP
    return PipelineState.WAITING if is_completed else PipelineState.INCOMPLETE


#: Steps that give VTEX's order to the ERP or move it on at VTEX: never for an order VTEX has not
#: completed. Recording what VTEX already did (canceled, invoiced, started) stays allowed.
_NEEDS_COMPLETED_ORDER = frozenset({Step.HAND_OVER, Step.START_HANDLING})


def unless_incomplete(decision: Decision, is_completed: bool) -> Decision:
    """`decision`, unless it would hand over or start an order VTEX has not completed: then wait.

    VTEX documents that unpaid orders can reach the seller with `"isCompleted": false` (known issue
    345526: the fulfillment flow progresses anyway). Such an order waits, re-read later, and proceeds
    only once VTEX says `isCompleted` is true."""
    if is_completed or decision.step not in _NEEDS_COMPLETED_ORDER:
        return decision
    return Decision(Step.AWAIT_COMPLETION, f"VTEX says isCompleted false; would {decision.step.value}")
