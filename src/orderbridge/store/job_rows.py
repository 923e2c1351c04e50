"""The jobs as operators read them, whichever queue holds them: `job_rows(conn)`.

On SQLite the embedded queue's `jobs` table holds them. On PostgreSQL the service runs procrastinate
(`orderbridge.jobs.procrastinate_queue`): its jobs are rows of `procrastinate_jobs`, and `jobs` stays
empty. `job_rows` gives the readers (`orderbridge status`, `orders show`, the dashboard, `/metrics`,
the invariant checker) one selectable with the embedded table's columns and statuses, so each query is
written once:

| column | procrastinate |
|---|---|
| `kind` | `task_name` (one task per kind) |
| `payload` | `args` (the task's keyword arguments, plus `_enqueued_at`) |
| `status` | `todo` never run → `ready`, run before → `retry`; `doing` → `running`; |
|   | `failed` → `parked`; the rest (`succeeded`, `aborted`, `cancelled`) → `done` |
| `attempt` | `attempts` (runs so far, given-back waits included) |
| `run_at` | `scheduled_at` as epoch seconds (0 when due at once) |
| `last_error` | the parked reason kept in `orderbridge_job_notes` |
| `enqueued_at` | the `_enqueued_at` task argument the adapter adds, as epoch seconds |
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, Text, case, cast, func, literal
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP
from sqlalchemy.engine import Connection
from sqlalchemy.sql import FromClause

from orderbridge.store import tables
from orderbridge.store.procrastinate_schema import NOTES_TABLE

#: The task argument holding a job's enqueue time (`orderbridge.jobs.procrastinate_notes.ENQUEUED_AT`).
ENQUEUED_AT = "_enqueued_at"

_procrastinate = MetaData()

procrastinate_jobs = Table(
    "procrastinate_jobs",
    _procrastinate,
    Column("id", BigInteger, primary_key=True),
    Column("task_name", String),
    Column("lock", Text),
    Column("queueing_lock", Text),
    Column("args", JSONB),
    Column("status", String),
    Column("scheduled_at", TIMESTAMP(timezone=True)),
    Column("attempts", Integer),
)

job_notes = Table(
    NOTES_TABLE,
    _procrastinate,
    Column("job_id", BigInteger, primary_key=True),
    Column("reason", Text),
)


def _procrastinate_rows() -> FromClause:
    jobs, notes = procrastinate_jobs, job_notes
    status = cast(jobs.c.status, String)
    mapped = case(
        ((status == "todo") & (jobs.c.attempts == 0), literal("ready")),
        (status == "todo", literal("retry")),
        (status == "doing", literal("running")),
        (status == "failed", literal("parked")),
        else_=literal("done"),
    )
    run_at = func.coalesce(func.extract("epoch", jobs.c.scheduled_at), 0.0)
    enqueued = func.extract("epoch", cast(jobs.c.args[ENQUEUED_AT].astext, TIMESTAMP(timezone=True)))
    return (
        sa_select(
            jobs.c.id.label("id"),
            jobs.c.task_name.label("kind"),
            func.coalesce(jobs.c.lock, "").label("lock"),
            jobs.c.args.label("payload"),
            mapped.label("status"),
            jobs.c.attempts.label("attempt"),
            cast(run_at, tables.jobs.c.run_at.type).label("run_at"),
            notes.c.reason.label("last_error"),
            cast(enqueued, tables.jobs.c.enqueued_at.type).label("enqueued_at"),
        )
        .select_from(jobs.outerjoin(notes, notes.c.job_id == jobs.c.id))
        .subquery("jobs")
    )


PROCRASTINATE_ROWS = _procrastinate_rows()


def job_rows(conn: Connection) -> FromClause:
    """The jobs of the queue this database's service runs: procrastinate's on PostgreSQL, the embedded
    queue's on SQLite (same columns: `id, kind, lock, payload, status, attempt, run_at, last_error,
    enqueued_at`)."""
    return PROCRASTINATE_ROWS if conn.dialect.name == "postgresql" else tables.jobs
