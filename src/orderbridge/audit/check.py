"""`check_invariants`: the promise of orderbridge as a pure function over ground truth.

For every order of the run:
- **settled**: final at VTEX (canceled, or invoiced and delivered), or parked on the ERP's explicit
  refusal, or still *waiting* with a pending job under its lock; anything else is **stranded** — and so is
  an order the ERP gave up on, whatever jobs remain;
- **handed over at most once**, plus once per operator's retry;
- **each ERP command applied at VTEX at most once**: start-handling, each invoice number, each item
  change the ERP asked for, the cancellation;
- **nothing beyond what the ERP asked**: every item change VTEX applied matches one the ERP planned;
  every invoice number VTEX holds is one the ERP planned;
and once for the run: **the feed is drained**.

Item changes are matched by content (SKU -> units added and removed): Change v2 mints its own request
ids, so VTEX never sees the ERP's. An applied change with the content of an asked one that was already
matched is a doubled change; one whose content the ERP never asked for goes beyond what it asked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from orderbridge.audit.truth import (
    AppliedChange,
    AskedChange,
    ErpOrder,
    GroundTruth,
    PipelineOrder,
    Units,
    VtexOrder,
)

ChangeKey = tuple[frozenset[tuple[str, int]], frozenset[tuple[str, int]]]


@dataclass(frozen=True, slots=True)
class Violation:
    order_id: str
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"order_id": self.order_id, "detail": self.detail}


KINDS = (
    "stranded",
    "doubled_handovers",
    "doubled_starts",
    "doubled_invoices",
    "doubled_changes",
    "doubled_cancels",
    "changes_beyond_asked",
    "invoices_beyond_asked",
)
DOUBLED_KINDS = KINDS[1:]


@dataclass(frozen=True)
class InvariantReport:
    orders: int
    final: int
    parked_by_erp: tuple[str, ...]
    waiting: tuple[str, ...]
    """Not final, with a pending job: legitimately in progress (a run that ends here did not settle)."""
    feed_depth: int
    violations: dict[str, tuple[Violation, ...]] = field(default_factory=dict)

    def of(self, kind: str) -> tuple[Violation, ...]:
        return self.violations.get(kind, ())

    @property
    def stranded_ids(self) -> list[str]:
        return sorted({v.order_id for v in self.of("stranded")})

    @property
    def doubled_ids(self) -> list[str]:
        """Orders with any effect doubled or beyond what the ERP asked."""
        return sorted({v.order_id for kind in DOUBLED_KINDS for v in self.of(kind)})

    @property
    def violation_count(self) -> int:
        return sum(len(found) for found in self.violations.values()) + (self.feed_depth > 0)

    @property
    def ok(self) -> bool:
        return self.violation_count == 0

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "orders": self.orders,
            "final": self.final,
            "parked_by_erp": len(self.parked_by_erp),
            "waiting": len(self.waiting),
            "waiting_ids": list(self.waiting),
            "stranded": len(self.stranded_ids),
            "doubled": len(self.doubled_ids),
            "feed_depth": self.feed_depth,
            "feed_drained": self.feed_depth == 0,
            "violations": {kind: [v.to_json() for v in self.of(kind)] for kind in KINDS},
        }


def check_invariants(order_ids: Iterable[str], truth: GroundTruth) -> InvariantReport:
    """Judge the run's orders (`order_ids`: those it created) against every invariant."""
    found: dict[str, list[Violation]] = {kind: [] for kind in KINDS}
    final, parked, waiting = 0, [], []
    ids = list(order_ids)
    for order_id in ids:
        vtex = truth.vtex.get(order_id) or VtexOrder(status=None)
        erp = truth.erp.get(order_id) or ErpOrder()
        pipeline = truth.pipeline.get(order_id) or PipelineOrder()
        settled = _settlement(order_id, vtex, erp, pipeline, found["stranded"])
        final += settled == "final"
        if settled == "parked":
            parked.append(order_id)
        elif settled == "waiting":
            waiting.append(order_id)
        _check_once(order_id, vtex, erp, pipeline, found)
        _check_changes(order_id, vtex.changes, erp.asked_changes, found)
    return InvariantReport(
        orders=len(ids),
        final=final,
        parked_by_erp=tuple(parked),
        waiting=tuple(waiting),
        feed_depth=truth.feed_depth,
        violations={kind: tuple(found[kind]) for kind in KINDS if found[kind]},
    )


def _settlement(
    order_id: str, vtex: VtexOrder, erp: ErpOrder, pipeline: PipelineOrder, stranded: list[Violation]
) -> str:
    """final | parked | waiting | stranded (recorded in `stranded` with the reason)."""
    if vtex.final:
        return "final"
    if erp.decision == "rejected" and vtex.start_handling == 0:
        return "parked"  # the ERP's explicit refusal: waits for an operator, by design
    if erp.state == "gave_up":
        stranded.append(Violation(order_id, f"the ERP gave up on it (VTEX status {vtex.status})"))
        return "stranded"
    if pipeline.pending_jobs > 0:
        return "waiting"
    where = "never handed over" if erp.handovers == 0 else f"ERP state {erp.state or 'none'}"
    state = f", pipeline state {pipeline.state}" if pipeline.state else ""
    stranded.append(Violation(order_id, f"VTEX status {vtex.status}, {where}{state}, and no pending job"))
    return "stranded"


def _check_once(
    order_id: str,
    vtex: VtexOrder,
    erp: ErpOrder,
    pipeline: PipelineOrder,
    found: dict[str, list[Violation]],
) -> None:
    allowed = 1 + pipeline.operator_retries
    if erp.handovers > allowed:
        found["doubled_handovers"].append(
            Violation(order_id, f"handed over {erp.handovers} times ({pipeline.operator_retries} retries)")
        )
    if vtex.start_handling > 1:
        found["doubled_starts"].append(Violation(order_id, f"started {vtex.start_handling} times"))
    if vtex.cancels > 1:
        found["doubled_cancels"].append(Violation(order_id, f"canceled {vtex.cancels} times"))
    for number, posts in sorted(vtex.invoices.items()):
        if posts > 1:
            found["doubled_invoices"].append(Violation(order_id, f"invoice {number} posted {posts} times"))
        if number not in erp.invoice_numbers:
            found["invoices_beyond_asked"].append(
                Violation(order_id, f"invoice {number} is not one the ERP planned")
            )


def _key(added: Units, removed: Units) -> ChangeKey:
    return (
        frozenset((sku, n) for sku, n in added.items() if n),
        frozenset((sku, n) for sku, n in removed.items() if n),
    )


def _describe(change: AppliedChange) -> str:
    parts = [f"-{n} {sku}" for sku, n in sorted(change.removed.items())]
    parts += [f"+{n} {sku}" for sku, n in sorted(change.added.items())]
    return f"{' '.join(parts) or 'no items'} ({change.api} {change.request_id})"


def _check_changes(
    order_id: str,
    applied: tuple[AppliedChange, ...],
    asked: tuple[AskedChange, ...],
    found: dict[str, list[Violation]],
) -> None:
    unmatched = Counter(_key(a.added, a.removed) for a in asked)
    asked_ids = {_key(a.added, a.removed): a.request_id for a in asked}
    times: Counter[ChangeKey] = Counter()
    for change in applied:
        key = _key(change.added, change.removed)
        times[key] += 1
        if unmatched[key] > 0:
            unmatched[key] -= 1
        elif key in asked_ids:
            found["doubled_changes"].append(
                Violation(
                    order_id,
                    f"change {asked_ids[key]} applied {times[key]} times: {_describe(change)}",
                )
            )
        else:
            found["changes_beyond_asked"].append(
                Violation(order_id, f"change the ERP never asked for: {_describe(change)}")
            )
