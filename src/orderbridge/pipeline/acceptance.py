"""Judging the ERP's acceptance or refusal of an order against what the pipeline recorded. Pure.

An acceptance is keyed by the order, as a command is by its natural key (`core.replays`): an order is
accepted or refused once. So, whichever channel it comes through (REST, staging tables, files):

- the order awaits the ERP's answer → `apply` it;
- the handover may still be on its way to being recorded (the order is new or waiting and VTEX says
  ready-for-handling or handling) → `later`: kept under the order's lock, applied once the record lands;
- the same decision was recorded already → `repeat`, answered as the first time (an `erpReference` or
  `reason` that differs from the recorded one is a conflict: the ERP has two answers for one order);
- anything else (the order was canceled, refused when this accepts it, accepted when this refuses it,
  not handed over) → `refuse`, naming the state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from orderbridge.core.decisions import PipelineState
from orderbridge.store import repo

from .records import ERP_REJECTED, record_of

Action = Literal["apply", "later", "repeat", "refuse"]
RULE_NOT_AWAITING = "not_awaiting_acceptance"
RULE_RECORDED = "decision_already_recorded"

#: Before its handover is recorded, an order VTEX lets the seller handle is new or waiting.
_HANDOVER_MAY_BE_UNDER_WAY = frozenset({repo.NEW_ORDER_STATE, PipelineState.WAITING.value})
_HANDED_OVER_STATUSES = frozenset({"ready-for-handling", "handling"})


@dataclass(frozen=True, slots=True)
class AcceptanceVerdict:
    action: Action
    problems: tuple[str, ...] = ()  # "field: what is wrong [rule]", as for commands


def judge_acceptance(
    row: repo.OrderRow, *, accepted: bool, erp_reference: str | None, reason: str | None
) -> AcceptanceVerdict:
    state = row.pipeline_state
    if state == PipelineState.AWAITING_ERP.value:
        return AcceptanceVerdict("apply")
    if state in _HANDOVER_MAY_BE_UNDER_WAY and row.vtex_status in _HANDED_OVER_STATUSES:
        return AcceptanceVerdict("later")
    record = record_of(row)
    if record.canceled:
        return _not_awaiting(row, "it was canceled")
    if accepted and record.erp_accepted:
        if erp_reference and row.erp_reference and erp_reference != row.erp_reference:
            return _other_answer(
                "erpReference", f"the order was accepted as {row.erp_reference!r}, not {erp_reference!r}"
            )
        return AcceptanceVerdict("repeat")
    if not accepted and record.erp_rejected:
        recorded = (row.park_reason or "").removeprefix(ERP_REJECTED)
        if reason and reason != recorded:
            return _other_answer("reason", f"the order was refused with {recorded!r}, not {reason!r}")
        return AcceptanceVerdict("repeat")
    if record.erp_rejected:
        return _not_awaiting(row, "the ERP refused it; an operator may offer it again (orders retry)")
    if record.erp_accepted:
        return _not_awaiting(row, "the ERP accepted it; to stop it, cancel it (POST …/cancellation)")
    return _not_awaiting(row, _WHY_NOT_AWAITING.get(state, "it was not handed over to the ERP"))


_WHY_NOT_AWAITING = {
    PipelineState.CANCELLATION_ASKED.value: "a shopper's cancellation request waits for the ERP's "
    "decision first: cancel or deny it",
    PipelineState.PARKED.value: "it is parked for an operator",
}


def _not_awaiting(row: repo.OrderRow, why: str) -> AcceptanceVerdict:
    problem = (
        f"orderId: order {row.order_id} is in pipeline state {row.pipeline_state!r} ({why}), not awaiting "
        f"the ERP's acceptance [{RULE_NOT_AWAITING}]"
    )
    return AcceptanceVerdict("refuse", (problem,))


def _other_answer(field: str, what: str) -> AcceptanceVerdict:
    problem = f"{field}: {what}; an order is accepted or refused once [{RULE_RECORDED}]"
    return AcceptanceVerdict("refuse", (problem,))
