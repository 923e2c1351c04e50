"""Reading ground truth for the checker, from outside the pipeline:

- VTEX: the sandbox's `GET /_sandbox/ledger` (every effect applied, per order; one call);
- the ERP: the simulated warehouse's SQLite file (handover log, each order's decision and plan);
- the pipeline's database: only the unfinished jobs of each order's lock and the operators' retries
  (read-only; SQLite or PostgreSQL).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
import stamina
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from orderbridge.audit.check import InvariantReport, check_invariants
from orderbridge.audit.truth import (
    AppliedChange,
    AskedChange,
    ErpOrder,
    GroundTruth,
    PipelineOrder,
    VtexOrder,
)
from orderbridge.erp.warehouse import PlanRow, read_handover_counts, read_plans
from orderbridge.sandbox.client import SandboxClient, SendFailed
from orderbridge.store.db import Database
from orderbridge.store.job_rows import job_rows
from orderbridge.store.tables import UNFINISHED_JOB_STATUSES, attempts, orders

OPERATOR_RETRY = "operator_retry"


def vtex_from_ledger(body: Mapping[str, Any]) -> tuple[dict[str, VtexOrder], int]:
    """The sandbox's ledger body -> per-order VTEX truth, and the feed depth."""
    found = {}
    for order_id, row in (body.get("orders") or {}).items():
        found[order_id] = VtexOrder(
            status=row.get("status"),
            delivered=bool(row.get("delivered")),
            start_handling=int(row.get("start_handling", 0)),
            cancels=int(row.get("cancels", 0)),
            invoices={str(k): int(v) for k, v in (row.get("invoices") or {}).items()},
            changes=tuple(
                AppliedChange(
                    api=str(c.get("api", "")),
                    request_id=str(c.get("request_id", "")),
                    added=dict(c.get("added") or {}),
                    removed=dict(c.get("removed") or {}),
                )
                for c in row.get("changes") or []
            ),
        )
    return found, int(body.get("feed_depth", 0))


# A GET changes nothing: a watcher polling for an hour retries a dropped connection rather than end the
# run it watches.
@stamina.retry(on=SendFailed, attempts=4, wait_initial=0.2)
async def read_vtex(sandbox: SandboxClient, account: str | None = None) -> tuple[dict[str, VtexOrder], int]:
    """One account's ledger (`account` of a sandbox serving several; None: its default account)."""
    params = {"account": account} if account is not None else None
    response = await sandbox.get("/_sandbox/ledger", params=params)
    response.raise_for_status()
    return vtex_from_ledger(orjson.loads(response.content))


def erp_from_plans(plans: Iterable[PlanRow], handovers: Mapping[str, int]) -> dict[str, ErpOrder]:
    """The warehouse's log -> per-order ERP truth: what it received, decided and will ask VTEX for."""
    found: dict[str, ErpOrder] = {oid: ErpOrder(handovers=n) for oid, n in handovers.items()}
    for plan in plans:
        found[plan.order_id] = ErpOrder(
            handovers=handovers.get(plan.order_id, 0),
            decision="accepted" if plan.accepted else "rejected",
            state=plan.state,
            asked_changes=tuple(
                AskedChange(request_id=step.request_id, removed={step.sku_id: 1})
                for step in plan.steps
                if step.kind == "change"
            ),
            invoice_numbers=frozenset(s.invoice_number for s in plan.steps if s.kind == "invoice"),
        )
    return found


def read_erp(warehouse_db: Path, account: str) -> dict[str, ErpOrder]:
    if not warehouse_db.exists():
        return {}
    counts = read_handover_counts(warehouse_db)
    handovers = {oid: n for (acc, oid), n in counts.items() if acc == account}
    return erp_from_plans(read_plans(warehouse_db, account), handovers)


async def read_pipeline(database_url: str, account: str) -> dict[str, PipelineOrder]:
    """Pending jobs and operators' retries per order, from the pipeline's own database (read only)."""
    db = Database(database_url, readers=1)
    prefix = f"{account}:"

    def read(conn: Connection) -> tuple[Sequence[Any], Sequence[Any], Sequence[Any]]:
        jobs = job_rows(conn)
        pending = conn.execute(
            select(jobs.c.lock, func.count())
            .where(
                jobs.c.status.in_(UNFINISHED_JOB_STATUSES),
                jobs.c.lock.startswith(prefix, autoescape=True),
            )
            .group_by(jobs.c.lock)
        ).all()
        retries = conn.execute(
            select(attempts.c.order_id, func.count())
            .where(attempts.c.account == account, attempts.c.action == OPERATOR_RETRY)
            .group_by(attempts.c.order_id)
        ).all()
        states = conn.execute(
            select(orders.c.order_id, orders.c.pipeline_state).where(orders.c.account == account)
        ).all()
        return pending, retries, states

    try:
        pending, retries, states = await db.read(read)
    finally:
        await db.dispose()
    pending_of: dict[str, int] = {}
    for lock, n in pending:  # `account:order`, and side locks such as `account:order:recheck`
        order_id = lock.removeprefix(prefix).split(":", 1)[0]
        pending_of[order_id] = pending_of.get(order_id, 0) + int(n)
    retries_of = {oid: int(n) for oid, n in retries}
    state_of = {oid: state for oid, state in states}
    return {
        oid: PipelineOrder(pending_of.get(oid, 0), retries_of.get(oid, 0), state_of.get(oid))
        for oid in {*pending_of, *retries_of, *state_of}
    }


async def gather(sandbox: SandboxClient, warehouse_db: Path, database_url: str, account: str) -> GroundTruth:
    vtex, feed_depth = await read_vtex(sandbox)
    erp = await asyncio.to_thread(read_erp, warehouse_db, account)
    pipeline = await read_pipeline(database_url, account)
    return GroundTruth(vtex=vtex, erp=erp, pipeline=pipeline, feed_depth=feed_depth)


async def audit(
    order_ids: Iterable[str],
    sandbox: SandboxClient,
    warehouse_db: Path,
    database_url: str,
    account: str,
) -> InvariantReport:
    """Gather ground truth now and check every invariant over `order_ids`."""
    return check_invariants(order_ids, await gather(sandbox, warehouse_db, database_url, account))
