"""Setting jobs' states by hand in tests, on whichever queue the pipeline runs (the embedded queue's
`jobs` table on SQLite, procrastinate's `procrastinate_jobs` on PostgreSQL)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, literal_column, update
from sqlalchemy.engine import Connection

from orderbridge.store import tables
from orderbridge.store.job_rows import procrastinate_jobs

#: The embedded queue's statuses as procrastinate's.
PROCRASTINATE_STATUS = {"parked": "failed", "done": "succeeded", "running": "doing", "ready": "todo"}


def set_status(
    conn: Connection,
    status: str,
    *,
    kind: str | None = None,
    lock: str | None = None,
    not_kind: str | None = None,
) -> None:
    """The jobs of `kind` (not of `not_kind`) and `lock` to the embedded queue's `status`."""
    postgres = conn.dialect.name == "postgresql"
    table: Any = procrastinate_jobs if postgres else tables.jobs
    kind_column = table.c.task_name if postgres else table.c.kind
    where: list[ColumnElement[bool]] = []
    if kind is not None:
        where.append(kind_column == kind)
    if not_kind is not None:
        where.append(kind_column != not_kind)
    if lock is not None:
        where.append(table.c.lock == lock)
    value: Any = status
    if postgres:  # an enum column: the literal cast to its type
        value = literal_column(f"'{PROCRASTINATE_STATUS[status]}'::procrastinate_job_status")
    conn.execute(update(table).where(*where).values(status=value))
