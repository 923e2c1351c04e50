"""Handing an order to the ERP exactly once, even across a crash.

The ERP's answer and the pipeline's record of it cannot commit together: a crash, a shutdown or a lost
answer between them made the next attempt hand the order over again, so the ERP received it twice (the
SIGKILL crash test proved it). An ERP that can say what it decided about an order (`SupportsLookup`) is
therefore asked first, and the order is handed over only if the ERP never received it.

Why ask every time rather than only "on resume": knowing that a previous attempt may have reached the
ERP needs a durable "attempted" mark written before each call — a database write per order, dearer
than the lookup itself (the simulated warehouse answers from its own SQLite, no network) — and a resume
is not always visible (a cancelled attempt gives its job attempt back). An ERP whose lookup is costly
simply does not implement it; its `hand_over` stays idempotent by order id, as the port requires.

A rejection found by `lookup` is a rejection: the ERP said no, and a crash before the pipeline recorded
it changes nothing — the order is parked with that reason, not handed over again. Only an operator's
retry offers it again (the ERP may have lifted the credit hold). That second offer is marked durably
before it is made, so a crash after it does not make a third: the refusals an operator has not retried
since the last offer are the ERP's answer.
"""

from __future__ import annotations

from orderbridge.erp.port import HandoverOrder, HandoverResult, Rejected, SupportsLookup

from . import ledger
from .deps import PipelineDeps
from .ledger import REOFFER


async def hand_over_once(deps: PipelineDeps, handover: HandoverOrder) -> HandoverResult:
    if isinstance(deps.erp, SupportsLookup):
        known = await deps.erp.lookup(handover.account, handover.order_id)
        if isinstance(known, Rejected):
            if not await ledger.operator_retried_since_last_offer(deps, handover.account, handover.order_id):
                return known
            await ledger.attempt(deps, handover.account, handover.order_id, REOFFER, "offered")
        elif known is not None:
            return known
    return await deps.erp.hand_over(handover)
