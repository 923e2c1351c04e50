"""Every attempt is kept (invariant 7): what the pipeline tried for an order, and what came of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from orderbridge.store import repo, tables
from orderbridge.vtex.errors import VtexError

from .deps import PipelineDeps

log = structlog.get_logger("orderbridge.orders")

OPERATOR_RETRY = "operator_retry"
REOFFER = "reoffer_after_rejection"


@dataclass(frozen=True, slots=True)
class Attempt:
    action: str
    outcome: str
    detail: str | None = None
    http_status: int | None = None
    command_id: str | None = None
    job_id: int | None = None


def attempt_of(
    action: str,
    outcome: str,
    *,
    detail: str | None = None,
    error: BaseException | None = None,
    command_id: str | None = None,
    job_id: int | None = None,
) -> Attempt:
    status = error.status if isinstance(error, VtexError) else None
    text = detail if detail is not None else (str(error) if error is not None else None)
    return Attempt(action, outcome, text, status, command_id, job_id)


def _log_step(account: str, order_id: str, item: Attempt) -> None:
    """Every attempt is an order's step: one info line an operator can grep by order id."""
    fields: dict[str, Any] = {"account": account, "order_id": order_id, "step": item.action}
    if item.http_status is not None:
        fields["http_status"] = item.http_status
    if item.detail and item.outcome not in ("ok", "accepted", "done", "sent"):
        fields["detail"] = item.detail[:300]
    log.info("order_step", outcome=item.outcome, **fields)


def add(conn: Connection, account: str, order_id: str, item: Attempt) -> None:
    _log_step(account, order_id, item)
    repo.add_attempt(
        conn,
        account,
        order_id,
        action=item.action,
        outcome=item.outcome,
        detail=item.detail,
        http_status=item.http_status,
        command_id=item.command_id,
        job_id=item.job_id,
    )


def add_at_commit(conn: Connection, account: str, order_id: str, item: Attempt) -> None:
    """`add`, written when the transaction commits, batched with other jobs' attempts."""
    _log_step(account, order_id, item)
    repo.add_attempt_at_commit(
        conn,
        account,
        order_id,
        action=item.action,
        outcome=item.outcome,
        detail=item.detail,
        http_status=item.http_status,
        command_id=item.command_id,
        job_id=item.job_id,
    )


async def attempt(
    deps: PipelineDeps,
    account: str,
    order_id: str,
    action: str,
    outcome: str,
    **kwargs: Any,
) -> None:
    """Record one attempt in its own transaction (when no state change goes with it)."""
    item = attempt_of(action, outcome, **kwargs)
    await deps.db.write(lambda conn: add(conn, account, order_id, item))


def count_attempts(conn: Connection, account: str, order_id: str, action: str, detail: str) -> int:
    """How many times the order's `action` was recorded with this exact `detail`."""
    table = tables.attempts
    query = select(func.count()).where(
        table.c.account == account,
        table.c.order_id == order_id,
        table.c.action == action,
        table.c.detail == detail,
    )
    return int(conn.execute(query).scalar_one())


async def cancellation_asked_for(deps: PipelineDeps, account: str, order_id: str) -> str | None:
    """The cancellation request the ERP was last asked about ('' for one without an id), or None."""
    table = tables.attempts
    query = (
        select(table.c.detail)
        .where(table.c.account == account, table.c.order_id == order_id, table.c.action == "ask_cancellation")
        .order_by(table.c.id.desc())
        .limit(1)
    )
    found = await deps.db.read(lambda conn: conn.execute(query).scalar_one_or_none())
    return None if found is None else str(found)


async def operator_retried_since_last_offer(deps: PipelineDeps, account: str, order_id: str) -> bool:
    """Did an operator retry the order after it was last offered again to an ERP that had refused it?

    Asked only when the ERP's lookup says it refused the order (rare), so one indexed read is cheap.
    """
    table = tables.attempts
    query = (
        select(table.c.action)
        .where(
            table.c.account == account,
            table.c.order_id == order_id,
            table.c.action.in_((OPERATOR_RETRY, REOFFER)),
        )
        .order_by(table.c.id.desc())
        .limit(1)
    )
    found = await deps.db.read(lambda conn: conn.execute(query).scalar_one_or_none())
    return found == OPERATOR_RETRY


async def handover_outcomes(deps: PipelineDeps, account: str, order_id: str) -> set[str]:
    """The outcomes of the order's handovers so far (`later`, `unknown` when the ERP failed, …)."""
    table = tables.attempts
    query = (
        select(table.c.outcome)
        .where(table.c.account == account, table.c.order_id == order_id, table.c.action == "hand_over")
        .distinct()
    )
    return await deps.db.read(lambda conn: {str(outcome) for outcome in conn.execute(query).scalars()})
