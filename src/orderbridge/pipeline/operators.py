"""What operators ask of a running (or stopped) pipeline: `orderbridge status` and `orderbridge orders …`.

Plain functions over the database (and the job queue for retries), returning JSON-ready dicts so the
CLI can print them as tables or `--json` alike.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from orderbridge.core.decisions import PipelineState
from orderbridge.jobs.port import JobQueue
from orderbridge.store import repo, tables
from orderbridge.store.db import Database
from orderbridge.store.job_rows import job_rows
from orderbridge.store.tables import UNFINISHED_JOB_STATUSES

from .cluster import cluster_status
from .deps import lock_of
from .incomplete import recheck_lock
from .intake import enqueue_sync
from .ledger import OPERATOR_RETRY, add, attempt_of
from .vtex_health import VTEX_CHANNEL_PREFIX, channel_name


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return value


async def status(db: Database) -> dict[str, Any]:
    """Orders by pipeline state, jobs pending and parked, pauses and whether VTEX answers (`vtex`) — per
    account; the ERP channels' health as the service last reported it; unfinished jobs by kind (how many,
    the oldest's age); on PostgreSQL, the cluster (`pipeline.cluster`)."""
    report, channels = await db.read(_status)
    queue = await db.read(_queue_by_kind)
    health = {row["name"]: _health(row) for row in channels}
    for name, item in report.items():
        # No row: this account's feed has not been read since the database was created (hook-only, or
        # the service never ran) — nothing known, nothing alarming.
        item["vtex"] = health.get(channel_name(name)) or {"healthy": None}
    erp = {name: h for name, h in health.items() if not name.startswith(VTEX_CHANNEL_PREFIX)}
    found: dict[str, Any] = {"accounts": report, "erp_channels": erp, "jobs": queue}
    if not db.is_sqlite:  # several processes: which runs what
        found["cluster"] = await db.read(lambda conn: cluster_status(conn, list(report)))
    return found


def _status(conn: Connection) -> tuple[dict[str, Any], list[Any]]:
    by_state = repo.count_orders_by_state(conn)
    names = {a for a, _ in by_state}
    account_rows = conn.execute(select(tables.accounts)).mappings().all()
    names |= {row["name"] for row in account_rows}
    report: dict[str, Any] = {}
    for name in sorted(names):
        states = {s: n for (a, s), n in by_state.items() if a == name}
        pending, parked = _job_counts(conn, name)
        row = next((r for r in account_rows if r["name"] == name), None)
        report[name] = {
            "orders": states,
            "orders_total": sum(states.values()),
            "jobs_pending": pending,
            "jobs_parked": parked,
            "paused": bool(row and row["paused"]),
            "paused_reason": row["paused_reason"] if row else None,
        }
    channels = list(conn.execute(select(tables.erp_channels)).mappings().all())
    return report, channels


def _queue_by_kind(conn: Connection) -> dict[str, dict[str, Any]]:
    """{kind: {"pending": unfinished jobs, "oldest_s": age of the oldest one's enqueue}}."""
    jobs = job_rows(conn)
    query = (
        select(jobs.c.kind, func.count(), func.min(jobs.c.enqueued_at))
        .where(jobs.c.status.in_(UNFINISHED_JOB_STATUSES))
        .group_by(jobs.c.kind)
        .order_by(jobs.c.kind)
    )
    now = time.time()
    return {
        str(kind): {
            "pending": int(n),
            "oldest_s": round(max(0.0, now - float(oldest)), 1) if oldest else None,
        }
        for kind, n, oldest in conn.execute(query).all()
    }


def _health(row: Any) -> dict[str, Any]:
    return {
        "healthy": bool(row["healthy"]),
        "consecutive_failures": int(row["consecutive_failures"]),
        "last_error": row["last_error"],
        "since": row["changed_at"].isoformat(),
    }


def _job_counts(conn: Connection, account: str) -> tuple[int, int]:
    jobs = job_rows(conn)
    query = (
        select(jobs.c.status, func.count())
        .where(jobs.c.lock.like(f"{account}:%"), jobs.c.status.in_([*UNFINISHED_JOB_STATUSES, "parked"]))
        .group_by(jobs.c.status)
    )
    counts = {str(s): int(n) for s, n in conn.execute(query).all()}
    pending = sum(n for s, n in counts.items() if s in UNFINISHED_JOB_STATUSES)
    return pending, int(counts.get("parked", 0))


async def list_orders(
    db: Database, account: str | None = None, state: str | None = None, limit: int = 50, offset: int = 0
) -> list[dict[str, Any]]:
    rows = await db.read(lambda conn: repo.list_orders(conn, account, state, limit, offset))
    return [_json(asdict(row)) for row in rows]


async def find_accounts(db: Database, order_id: str) -> list[str]:
    query = select(tables.orders.c.account).where(tables.orders.c.order_id == order_id)
    return await db.read(lambda conn: [str(a) for a in conn.execute(query).scalars()])


async def show_order(db: Database, account: str, order_id: str) -> dict[str, Any] | None:
    """Everything known about one order: its row and snapshot, commands, attempts and jobs."""

    def read(conn: Connection) -> dict[str, Any] | None:
        row = repo.get_order(conn, account, order_id)
        if row is None:
            return None
        commands = repo.list_commands(conn, account, order_id)
        attempts = repo.list_attempts(conn, account, order_id)
        jobs = job_rows(conn)
        found_jobs = conn.execute(
            select(jobs.c.id, jobs.c.kind, jobs.c.status, jobs.c.attempt, jobs.c.last_error)
            .where(jobs.c.lock.in_([lock_of(account, order_id), recheck_lock(account, order_id)]))
            .order_by(jobs.c.id)
        ).mappings()
        return {
            "order": asdict(row),
            "commands": [asdict(c) for c in commands],
            "attempts": [asdict(a) for a in attempts],
            "jobs": [dict(j) for j in found_jobs],
        }

    found = await db.read(read)
    if found is None:
        return None
    shown: dict[str, Any] = _json(found)
    return shown


async def retry_order(
    db: Database,
    queue: JobQueue,
    account: str,
    order_id: str,
    *,
    who: str | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """Requeue the order's parked jobs and, if the order itself is parked, clear the park and re-sync.

    A cleared ERP rejection means the next sync hands the order over again — the operator's decision.
    `who` and `reason` (the console's user, `--reason`) are recorded with the cleared park.
    """
    parked = await queue.list_parked(lock=f"{account}:{order_id}")
    requeued = [job_id for job in parked if (job_id := await queue.requeue(job.id)) is not None]

    def write(conn: Connection) -> tuple[bool, int | None]:
        row = repo.get_order(conn, account, order_id)
        cleared = False
        if row is not None and row.pipeline_state == PipelineState.PARKED:
            cleared = repo.set_pipeline_state(
                conn,
                account,
                order_id,
                PipelineState.WAITING.value,
                expect_state=PipelineState.PARKED.value,
                park_reason=None,
            )
            said = f"{who or 'operator'}" + (f" ({reason})" if reason else "")
            detail = f"by {said}; was: {row.park_reason}" if who or reason else row.park_reason
            cleared_note = attempt_of(OPERATOR_RETRY, "cleared", detail=detail)
            add(conn, account, order_id, cleared_note)
        return cleared, enqueue_sync(queue, conn, account, order_id) if row is not None else None

    cleared, sync_job = await db.write(write)
    return {"requeued_jobs": requeued, "park_cleared": cleared, "sync_job": sync_job}
