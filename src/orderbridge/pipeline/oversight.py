"""What the operators' console (`/ui`, `/metrics`, `orderbridge orders retry --parked`) reads and does,
beside the single-order tools of `operators`.

Stuck orders are found by rules with configurable thresholds; each rule is one SQL condition, so the
overview, the orders list (`?stuck=RULE`) and the `orderbridge_stuck_orders` gauge count the same
orders. Every operator action is recorded as an attempt (who, when, note), so it shows in the timeline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, and_, bindparam, case, distinct, func, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql import FromClause

from orderbridge.core.decisions import FINAL_STATES, PipelineState
from orderbridge.jobs.port import JobQueue
from orderbridge.store import repo, tables
from orderbridge.store.db import Database
from orderbridge.store.job_rows import job_rows
from orderbridge.store.tables import UNFINISHED_JOB_STATUSES

from .deps import APPLY_ACCEPTANCE, RELAY_COMMAND, SYNC_ORDER, utcnow
from .incomplete import RECHECK_ORDER
from .ledger import add, attempt_of
from .operators import _json, retry_order

OPERATOR_RESOLVED = "operator_resolved"
orders = tables.orders


@dataclass(frozen=True)
class StuckThresholds:
    """Minutes after which an order in each situation counts as stuck (the `[console]` settings)."""

    ready_not_handed_over_min: float = 15
    awaiting_erp_min: float = 60
    start_handling_min: float = 30
    cancellation_min: float = 60
    incomplete_min: float = 120


#: Rule name -> what an operator reads next to its count.
STUCK_RULES: dict[str, str] = {
    "ready_not_handed_over": "ready-for-handling, not handed over",
    "awaiting_erp": "handed over, awaiting the ERP",
    "start_handling": "accepted, start-handling not confirmed at VTEX",
    "cancellation": "cancellation requested, not decided",
    "incomplete": "incomplete at VTEX (isCompleted false)",
    "parked": "parked (needs a person)",
}


def stuck_condition(rule: str, thresholds: StuckThresholds, now: datetime) -> ColumnElement[bool]:
    """The SQL condition of one stuck rule (KeyError for an unknown rule)."""
    t = thresholds
    open_ = orders.c.pipeline_state.not_in([*FINAL_STATES, PipelineState.PARKED.value])

    def before(minutes: float) -> datetime:
        return now - timedelta(minutes=minutes)

    conditions: dict[str, Callable[[], ColumnElement[bool]]] = {
        "ready_not_handed_over": lambda: and_(
            open_,
            orders.c.vtex_status == "ready-for-handling",
            orders.c.handed_over_at.is_(None),
            orders.c.created_at < before(t.ready_not_handed_over_min),
        ),
        "awaiting_erp": lambda: and_(
            orders.c.pipeline_state == PipelineState.AWAITING_ERP.value,
            orders.c.updated_at < before(t.awaiting_erp_min),
        ),
        "start_handling": lambda: and_(
            open_,
            or_(
                orders.c.pipeline_state == PipelineState.ACCEPTED.value,
                orders.c.vtex_status == "start-handling",
            ),
            orders.c.updated_at < before(t.start_handling_min),
        ),
        "cancellation": lambda: and_(
            open_,
            or_(
                orders.c.pipeline_state == PipelineState.CANCELLATION_ASKED.value,
                orders.c.vtex_status.in_(("cancellation-requested", "request-cancel", "cancel")),
            ),
            orders.c.updated_at < before(t.cancellation_min),
        ),
        # VTEX shows an order whose creation has not finished (isCompleted: false) in these statuses.
        # The pipeline's own verdict on VTEX's isCompleted: false (whatever VTEX's status says).
        "incomplete": lambda: and_(
            orders.c.pipeline_state == PipelineState.INCOMPLETE.value,
            orders.c.created_at < before(t.incomplete_min),
        ),
        # A park an operator marked resolved no longer needs a person (until the order is parked again).
        "parked": lambda: and_(
            orders.c.pipeline_state == PipelineState.PARKED.value, ~_resolved_since_parked()
        ),
    }
    return conditions[rule]()


def _resolved_since_parked() -> ColumnElement[bool]:
    """An operator marked the order resolved after it was last parked (a park sets `updated_at`)."""
    attempts = tables.attempts
    return (
        select(attempts.c.id)
        .where(
            attempts.c.account == orders.c.account,
            attempts.c.order_id == orders.c.order_id,
            attempts.c.action == OPERATOR_RESOLVED,
            attempts.c.at >= orders.c.updated_at,
        )
        .exists()
    )


async def stuck_counts(
    db: Database, thresholds: StuckThresholds, now: datetime | None = None
) -> dict[str, dict[str, int]]:
    """{account: {rule: number of stuck orders}} — every rule present, zeros included."""
    moment = now or utcnow()

    def read(conn: Connection) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        names = [str(n) for n in conn.execute(select(orders.c.account).distinct()).scalars()]
        names += [str(n) for n in conn.execute(select(tables.accounts.c.name)).scalars()]
        for name in sorted(set(names)):
            counts[name] = dict.fromkeys(STUCK_RULES, 0)
        for rule in STUCK_RULES:
            query = (
                select(orders.c.account, func.count())
                .where(stuck_condition(rule, thresholds, moment))
                .group_by(orders.c.account)
            )
            for account, n in conn.execute(query).all():
                counts.setdefault(str(account), dict.fromkeys(STUCK_RULES, 0))[rule] = int(n)
        return counts

    return await db.read(read)


@dataclass(frozen=True)
class IntakeLag:
    """An account's intake backlog: events stored (feed, hook or reconciliation) whose order has a sync
    waiting and has not been read since they arrived. `seconds`: the oldest one's age."""

    seconds: float
    events: int
    orders: int


async def intake_lag(db: Database, now: datetime | None = None) -> dict[str, IntakeLag]:
    """{account: its backlog}; an account that is caught up is absent.

    An event is behind while its order has an unfinished `sync_order` job and the order's row was last
    written before the event arrived: every sync stores the order it read (a write), so an event older
    than that write has been read, whatever asked for the sync waiting now. An event whose sync ended
    parked is no longer lag: its order counts as parked (stuck) instead. Events that need no sync (a
    status the pipeline does not act on, the `handling` caused by our own start-handling) never wait.
    """
    moment = now or utcnow()
    rows = await db.read(_lagging)
    return {
        str(account): IntakeLag(max(0.0, (moment - oldest).total_seconds()), int(n), int(n_orders))
        for account, oldest, n, n_orders in rows
    }


def _lagging(conn: Connection) -> list[Any]:
    events, jobs = tables.intake_events, job_rows(conn)
    waiting = (
        select(
            jobs.c.payload["account"].as_string().label("account"),
            jobs.c.payload["order_id"].as_string().label("order_id"),
        )
        .where(jobs.c.kind == SYNC_ORDER, _unfinished(jobs))
        .distinct()
        .subquery()
    )
    same_order = and_(events.c.account == waiting.c.account, events.c.order_id == waiting.c.order_id)
    row_of_event = and_(orders.c.account == events.c.account, orders.c.order_id == events.c.order_id)
    query = (
        select(
            events.c.account,
            func.min(events.c.received_at),
            func.count(),
            func.count(distinct(events.c.order_id)),
        )
        .select_from(waiting.join(events, same_order).outerjoin(orders, row_of_event))
        .where(or_(orders.c.updated_at.is_(None), events.c.received_at > orders.c.updated_at))
        .group_by(events.c.account)
    )
    return list(conn.execute(query).all())


def _unfinished(jobs: FromClause) -> ColumnElement[bool]:
    """The jobs not finished, with the statuses written into the SQL: SQLite uses the queue's partial
    index of unfinished jobs only for the very literals of its definition (done jobs are most rows)."""
    statuses: BindParameter[Any] = bindparam(
        "unfinished", UNFINISHED_JOB_STATUSES, expanding=True, literal_execute=True
    )
    return jobs.c.status.in_(statuses)


#: Job kind -> what an operator reads next to its count.
JOB_KINDS: dict[str, str] = {
    SYNC_ORDER: "order syncs",
    RELAY_COMMAND: "commands relayed to VTEX",
    APPLY_ACCEPTANCE: "late ERP acceptances",
    RECHECK_ORDER: "re-checks of incomplete orders",
}


@dataclass(frozen=True)
class PendingJobs:
    """An account's unfinished jobs: `running` (claimed by a worker), `due` (waiting for a worker or for
    an earlier job of the order), `later` (not due yet: a retry backing off after a failure, the next
    re-check of an incomplete order), and how many of each kind."""

    running: int = 0
    due: int = 0
    later: int = 0
    kinds: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.running + self.due + self.later


async def pending_jobs(
    db: Database, accounts: Iterable[str], now: float | None = None
) -> dict[str, PendingJobs]:
    """{account: its unfinished jobs} for each of `accounts` (an account's jobs run in its locks)."""
    moment = time.time() if now is None else now  # the queue's clock: epoch seconds
    names = list(accounts)

    def read(conn: Connection) -> dict[str, PendingJobs]:
        jobs = job_rows(conn)
        when = case(
            (jobs.c.status == "running", "running"), (jobs.c.run_at > moment, "later"), else_="due"
        ).label("when")
        found: dict[str, PendingJobs] = {}
        for account in names:
            query = (
                select(jobs.c.kind, when, func.count())
                .where(
                    jobs.c.lock.startswith(f"{account}:", autoescape=True),
                    _unfinished(jobs),
                )
                .group_by(jobs.c.kind, when)
            )
            counts: dict[str, int] = {"running": 0, "due": 0, "later": 0}
            kinds: dict[str, int] = {}
            for kind, state, n in conn.execute(query).all():
                counts[str(state)] += int(n)
                kinds[str(kind)] = kinds.get(str(kind), 0) + int(n)
            found[account] = PendingJobs(**counts, kinds=kinds)
        return found

    return await db.read(read)


@dataclass(frozen=True)
class OrderFilter:
    account: str | None = None
    state: str | None = None
    vtex_status: str | None = None
    older_than_min: float | None = None
    search: str | None = None
    stuck: str | None = None


def _where(flt: OrderFilter, thresholds: StuckThresholds, now: datetime) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if flt.account:
        where.append(orders.c.account == flt.account)
    if flt.state:
        where.append(orders.c.pipeline_state == flt.state)
    if flt.vtex_status:
        where.append(orders.c.vtex_status == flt.vtex_status)
    if flt.older_than_min:
        where.append(orders.c.created_at < now - timedelta(minutes=flt.older_than_min))
    if flt.stuck in STUCK_RULES:
        where.append(stuck_condition(flt.stuck, thresholds, now))
    if flt.search:
        text = flt.search.strip()
        where.append(
            or_(
                orders.c.order_id == text,
                orders.c.order_id.startswith(text, autoescape=True),
                orders.c.raw["sellerOrderId"].as_string() == text,
            )
        )
    return where


async def search_orders(
    db: Database,
    flt: OrderFilter,
    thresholds: StuckThresholds | None = None,
    *,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """One page of orders matching the filter (most recently updated first) and how many match."""
    now = utcnow()
    where = _where(flt, thresholds or StuckThresholds(), now)
    columns = [orders.c[name] for name in repo.OrderSummary.__dataclass_fields__]
    currency = orders.c.raw[("storePreferencesData", "currencyCode")].as_string().label("currency")
    query = select(*columns, orders.c.created_at, currency).where(*where)
    query = query.order_by(orders.c.updated_at.desc(), orders.c.order_id).limit(limit).offset(offset)

    def read(conn: Connection) -> tuple[list[dict[str, Any]], int]:
        rows = [dict(r) for r in conn.execute(query).mappings()]
        total = int(conn.execute(select(func.count()).select_from(orders).where(*where)).scalar_one())
        return rows, total

    rows, total = await db.read(read)
    return _json(rows), total


#: The most VTEX calls an order's timeline shows (its latest); older ones are counted, not listed.
TIMELINE_VTEX_CALLS = 200


async def timeline(db: Database, account: str, order_id: str) -> list[dict[str, Any]]:
    """Everything that happened to an order, oldest first: events received, every VTEX call (each HTTP
    attempt: method, path, status, latency), the pipeline's steps (ERP handovers, start-handling…) and
    operators' actions with their outcome, and commands with their outcome."""
    entries = await db.read(lambda conn: _timeline(conn, account, order_id))
    entries.sort(key=lambda e: e["at"])
    return [_json(e) for e in entries]


def _timeline(conn: Connection, account: str, order_id: str) -> list[dict[str, Any]]:
    events = tables.intake_events
    entries: list[dict[str, Any]] = []
    entries += _vtex_call_entries(conn, account, order_id)
    query = (
        select(events.c.source, events.c.state, events.c.last_state, events.c.raw, events.c.received_at)
        .where(events.c.account == account, events.c.order_id == order_id)
        .order_by(events.c.id)
    )
    for row in conn.execute(query).mappings():
        entries.append(
            {
                "at": row["received_at"],
                "kind": "event",
                "what": f"{row['source']} event: {row['last_state'] or '?'} → {row['state']}",
                "outcome": "received",
                "raw": row["raw"],
            }
        )
    for item in repo.list_attempts(conn, account, order_id):
        entries.append(
            {
                "at": item.at,
                "kind": "attempt",
                "what": item.action,
                "outcome": item.outcome,
                "http_status": item.http_status,
                "detail": item.detail,
                "command_id": item.command_id,
            }
        )
    for command in repo.list_commands(conn, account, order_id):
        entries.append(
            {
                "at": command.created_at,
                "kind": "command",
                "what": f"{command.kind} (via {command.channel})",
                "outcome": command.status,
                "detail": command.error,
                "invoice_number": command.invoice_number,
                "command_id": command.id,
                "raw": command.payload,
            }
        )
    return entries


def _vtex_call_entries(conn: Connection, account: str, order_id: str) -> list[dict[str, Any]]:
    calls = repo.list_vtex_calls(conn, account, order_id, limit=TIMELINE_VTEX_CALLS)
    entries = [
        {
            "at": call.at,
            "kind": "vtex",
            "what": f"VTEX {call.method} {call.path}",
            "outcome": str(call.status) if call.status is not None else (call.error or "no answer"),
            "http_status": call.status,
            "latency_ms": call.latency_ms,
            "attempt": call.attempt,
        }
        for call in calls
    ]
    if len(calls) == TIMELINE_VTEX_CALLS:
        older = repo.count_vtex_calls(conn, account, order_id) - len(calls)
        if older > 0:
            entries.insert(
                0,
                {
                    "at": calls[0].at,
                    "kind": "note",
                    "what": f"{older} older VTEX calls not shown",
                    "outcome": "",
                },
            )
    return entries


async def parked_orders(db: Database, account: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """Parked orders with their reason, since when, their last error and whether an operator marked
    them resolved (with the note) after they were parked."""
    where = [orders.c.pipeline_state == PipelineState.PARKED.value]
    if account:
        where.append(orders.c.account == account)
    query = (
        select(
            orders.c.account,
            orders.c.order_id,
            orders.c.vtex_status,
            orders.c.park_reason,
            orders.c.updated_at,
        )
        .where(*where)
        .order_by(orders.c.updated_at.desc())
        .limit(limit)
    )
    attempts = tables.attempts

    def read(conn: Connection) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for row in conn.execute(query).mappings():
            last = (
                conn.execute(
                    select(attempts.c.action, attempts.c.outcome, attempts.c.detail, attempts.c.at)
                    .where(attempts.c.account == row["account"], attempts.c.order_id == row["order_id"])
                    .order_by(attempts.c.id.desc())
                    .limit(1)
                )
                .mappings()
                .first()
            )
            resolved = last is not None and last["action"] == OPERATOR_RESOLVED
            found.append(
                {
                    **dict(row),
                    "last_attempt": dict(last) if last else None,
                    "resolved_note": last["detail"] if resolved and last else None,
                }
            )
        return found

    return [_json(f) for f in await db.read(read)]


async def retry_parked(
    db: Database,
    queue: JobQueue,
    account: str | None = None,
    *,
    who: str = "cli",
    reason: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Retry every parked order (optionally of one account), reporting `progress(done, total)`."""
    targets = [(r["account"], r["order_id"]) for r in await parked_orders(db, account, limit=100_000)]
    results: list[dict[str, Any]] = []
    for done, (acc, order_id) in enumerate(targets, start=1):
        result = await retry_order(db, queue, acc, order_id, who=who, reason=reason)
        results.append({"account": acc, "order_id": order_id, **result})
        if progress is not None:
            progress(done, len(targets))
    return results


async def mark_resolved(db: Database, account: str, order_id: str, *, who: str, note: str) -> bool:
    """Record that a person resolved the order outside orderbridge (the pipeline state is unchanged)."""

    def write(conn: Connection) -> bool:
        if repo.get_order(conn, account, order_id) is None:
            return False
        add(conn, account, order_id, attempt_of(OPERATOR_RESOLVED, "resolved", detail=f"{who}: {note}"))
        return True

    return await db.write(write)
