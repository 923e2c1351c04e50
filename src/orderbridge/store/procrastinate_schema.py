"""procrastinate's schema on a PostgreSQL database, plus the one small table of ours beside it.

procrastinate ships its schema as one SQL script (`SchemaManager.get_schema()`) that is not idempotent
(`CREATE TYPE` …) and keeps no version table, so "applied" means "`procrastinate_jobs` exists". The
script runs in one transaction under an advisory lock: several processes migrating at once apply it
once, and a failure leaves nothing half-made. (procrastinate's own upgrades between versions — its
`sql/migrations` — are not applied: the dependency is pinned below 4 and a new version's migrations
would need a step of their own.)

`orderbridge_job_workers` says which host and process each procrastinate worker is (`orderbridge status`).
`orderbridge_job_notes` keeps what procrastinate's rows have no column for (the procrastinate adapter,
`orderbridge.jobs.procrastinate_queue`, writes it): why a job was parked and when, attempts that must
not count (waits given back, a requeue's fresh start, runs lost to a dead worker), how many runs were
lost to dead workers (`deaths`), and the job that took over a coalesced one. Rows
exist only for jobs that needed one and go with their job (`ON DELETE CASCADE`, so procrastinate's
`remove_old_jobs` cleans them up too). It lives here rather than in an Alembic migration because it
references procrastinate's table, which only PostgreSQL databases have.

One index of ours on procrastinate's table, `orderbridge_jobs_lock_id`: procrastinate's fetch passes over
a job while an earlier job of its lock is waiting or running, looking that up by `lock`, which its own
indexes have only as a second column (each look read ~11 index pages with 550 jobs waiting; 1 with this
index). Made without CONCURRENTLY, so it holds writes to the job table while built: instant on a table
whose succeeded jobs are deleted.
"""

from __future__ import annotations

from typing import Any

import psycopg
from procrastinate.schema import SchemaManager
from sqlalchemy.engine import URL, make_url

NOTES_TABLE = "orderbridge_job_notes"
WORKERS_TABLE = "orderbridge_job_workers"
LOCK_INDEX = "orderbridge_jobs_lock_id"
_SCHEMA_LOCK_ID = 0x0B_0002  # the advisory lock around applying the schema (migrations use 0x0B_0001)

NOTES_DDL = f"""
CREATE TABLE IF NOT EXISTS {NOTES_TABLE} (
    job_id bigint PRIMARY KEY REFERENCES procrastinate_jobs (id) ON DELETE CASCADE,
    uncounted integer NOT NULL DEFAULT 0,
    deaths integer NOT NULL DEFAULT 0,
    reason text,
    parked_at timestamp with time zone,
    superseded_by bigint
)
"""
# Columns added to the notes after the table was first made: a database made before gets them at the
# next `orderbridge migrate` or start of a service (the schema is not "applied" without them).
NOTES_LATER_COLUMNS = {"deaths": "integer NOT NULL DEFAULT 0"}

# Who each procrastinate worker is (its row has only an id and a heartbeat), for `orderbridge status`;
# gone with the worker (procrastinate deletes a stopped or pruned worker's row).
WORKERS_DDL = f"""
CREATE TABLE IF NOT EXISTS {WORKERS_TABLE} (
    worker_id bigint PRIMARY KEY REFERENCES procrastinate_workers (id) ON DELETE CASCADE,
    host text NOT NULL,
    pid integer NOT NULL,
    started_at timestamp with time zone NOT NULL DEFAULT now()
)
"""

LOCK_INDEX_DDL = f"""
CREATE INDEX IF NOT EXISTS {LOCK_INDEX} ON procrastinate_jobs (lock, id)
WHERE status IN ('todo', 'doing')
"""


def is_postgres(url: str | URL) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


def libpq_conninfo(url: str | URL) -> str:
    """The SQLAlchemy URL as a libpq URI (no `+driver`), for psycopg and procrastinate's connectors."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def procrastinate_schema_applied(connection: psycopg.Connection[Any]) -> bool:
    row = connection.execute(
        "SELECT to_regclass('procrastinate_jobs') IS NOT NULL AND to_regclass(%s) IS NOT NULL"
        " AND to_regclass(%s) IS NOT NULL AND to_regclass(%s) IS NOT NULL"
        " AND (SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = ANY(%s)"
        " AND NOT attisdropped) = %s",
        (
            NOTES_TABLE,
            WORKERS_TABLE,
            LOCK_INDEX,
            NOTES_TABLE,
            list(NOTES_LATER_COLUMNS),
            len(NOTES_LATER_COLUMNS),
        ),
    ).fetchone()
    return bool(row and row[0])


def ensure_procrastinate_schema(url: str | URL, *, check_only: bool = False) -> tuple[bool, bool]:
    """(applied before, applied after) for the PostgreSQL database at `url`; applies it unless there.

    Under a session advisory lock, the look and the creation run in a transaction begun after the lock
    is held: one begun before would keep seeing the catalog as it was (a process that waited for
    another's creation would then create everything a second time, and fail).
    """
    with psycopg.connect(libpq_conninfo(url), autocommit=True) as connection:
        before = procrastinate_schema_applied(connection)
        if before or check_only:
            return before, before
        connection.execute("SELECT pg_advisory_lock(%s)", (_SCHEMA_LOCK_ID,))
        try:
            with connection.transaction():
                _create(connection)
        finally:
            connection.execute("SELECT pg_advisory_unlock(%s)", (_SCHEMA_LOCK_ID,))
        return before, procrastinate_schema_applied(connection)


def _create(connection: psycopg.Connection[Any]) -> None:
    if connection.execute("SELECT to_regclass('procrastinate_jobs') IS NULL").fetchone() == (True,):
        # No parameters: psycopg sends the script as it is (several statements, literal `%` signs).
        connection.execute(SchemaManager.get_schema())
    connection.execute(NOTES_DDL)
    for column, definition in NOTES_LATER_COLUMNS.items():
        connection.execute(f"ALTER TABLE {NOTES_TABLE} ADD COLUMN IF NOT EXISTS {column} {definition}")
    connection.execute(WORKERS_DDL)
    connection.execute(LOCK_INDEX_DDL)
