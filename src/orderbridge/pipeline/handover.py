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

A rejection found by `lookup` is not reused: an order comes back to the handover after a rejection only
when an operator retried it, and then the ERP is asked again (it may have lifted the credit hold).
"""

from __future__ import annotations

from orderbridge.erp.port import HandoverOrder, HandoverResult, Rejected, SupportsLookup

from .deps import PipelineDeps


async def hand_over_once(deps: PipelineDeps, handover: HandoverOrder) -> HandoverResult:
    if isinstance(deps.erp, SupportsLookup):
        known = await deps.erp.lookup(handover.account, handover.order_id)
        if known is not None and not isinstance(known, Rejected):
            return known
    return await deps.erp.hand_over(handover)
