"""The schema: one `MetaData`, Core tables (no ORM classes: hot paths use Core statements).

Every change here needs a hand-written migration in `store/migrations/versions/`; the test
`test_migrations_build_exactly_these_tables` fails when the two drift apart.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Double,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from orderbridge.store.types import BigId, Json, UtcDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

accounts = Table(
    "accounts",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("paused", Boolean, nullable=False, server_default=text("false")),
    Column("paused_reason", Text),
    Column("settings", Json, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# One row per distinct feed/hook/reconcile event; the unique key is the dedupe key of the issue.
# `state`/`current_change` are NOT NULL ('' when absent) because NULLs never collide in a unique key.
intake_events = Table(
    "intake_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account", String(100), nullable=False),
    Column("source", String(16), nullable=False),
    Column("order_id", String(64), nullable=False),
    Column("state", String(64), nullable=False),
    Column("last_state", String(64)),
    Column("current_change", String(64), nullable=False),
    Column("raw", Json),
    Column("received_at", UtcDateTime, nullable=False),
    Column("processed_at", UtcDateTime),
    UniqueConstraint("account", "order_id", "state", "current_change"),
    Index(None, "account", "order_id"),
)

orders = Table(
    "orders",
    metadata,
    Column("account", String(100), primary_key=True),
    Column("order_id", String(64), primary_key=True),
    Column("vtex_status", String(64)),
    Column("pipeline_state", String(32), nullable=False),
    Column("value_cents", Integer, nullable=False),
    Column("last_change", String(64), nullable=False),
    Column("raw", Json),
    Column("snapshot", Json, nullable=False),
    Column("erp_reference", String(200)),
    Column("park_reason", Text),
    Column("handed_over_at", UtcDateTime),
    Column("started_at", UtcDateTime),
    Column("completed_at", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("version", Integer, nullable=False),
    Index(None, "pipeline_state", "account"),
)

commands = Table(
    "commands",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("account", String(100), nullable=False),
    Column("order_id", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("payload", Json, nullable=False),
    Column("status", String(16), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("idempotency_key", String(200)),
    # Copied from the payload so invoices can be found without reading JSON.
    Column("invoice_number", String(64)),
    Column("vtex_receipt", Json),
    Column("error", Text),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("account", "idempotency_key"),
    Index(None, "account", "order_id", "status"),
)

attempts = Table(
    "attempts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account", String(100), nullable=False),
    Column("order_id", String(64), nullable=False),
    Column("command_id", String(36)),
    Column("job_id", BigId),
    Column("action", String(64), nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("http_status", Integer),
    Column("detail", Text),
    Column("at", UtcDateTime, nullable=False),
    Index(None, "account", "order_id"),
)

# Every VTEX HTTP attempt about an order (its timeline): written in batches with the pipeline's other
# writes (`pipeline.call_log`), forgotten after a while (`repo.purge_vtex_calls`). `path` has the ids
# filled in, never a query string; `status` is None when no answer came, and `error` says why.
vtex_calls = Table(
    "vtex_calls",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account", String(100), nullable=False),
    Column("order_id", String(64), nullable=False),
    Column("method", String(8), nullable=False),
    Column("path", Text, nullable=False),
    Column("status", Integer),
    Column("error", String(64)),
    Column("latency_ms", Double, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Index(None, "account", "order_id"),
    Index(None, "at"),
)

# The embedded job queue. Times are epoch seconds (float): compared on every claim, identical on both
# dialects, no timezone handling. Status: ready (never claimed) | running | retry (waiting to run
# again) | done | parked | requeued (parked, then copied to a new job at the back of its lock's queue).
UNFINISHED_JOB_STATUSES = ("ready", "running", "retry")
_UNFINISHED = "status IN ('ready', 'running', 'retry')"

jobs = Table(
    "jobs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("kind", String(64), nullable=False),
    Column("lock", String(200), nullable=False),
    Column("payload", Json, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempt", Integer, nullable=False),
    # Runs lost to a dead worker (not counted in `attempt`: they are not the job's failures).
    Column("deaths", Integer, nullable=False, server_default=text("0")),
    Column("run_at", Double, nullable=False),
    Column("lease_until", Double),
    Column("worker", String(100)),
    Column("queueing_lock", String(200)),
    Column("last_error", Text),
    Column("enqueued_at", Double, nullable=False),
    Column("started_at", Double),
    Column("finished_at", Double),
    Column("requeued_from", BigId),
    # Lock order: the oldest unfinished job of a lock is found through this small partial index.
    Index(
        "ix_jobs_lock_unfinished",
        "lock",
        "id",
        sqlite_where=text(_UNFINISHED),
        postgresql_where=text(_UNFINISHED),
    ),
    Index(
        "ix_jobs_due",
        "run_at",
        "id",
        sqlite_where=text("status IN ('ready', 'retry')"),
        postgresql_where=text("status IN ('ready', 'retry')"),
    ),
    Index(
        "ix_jobs_leased",
        "lease_until",
        sqlite_where=text("status = 'running'"),
        postgresql_where=text("status = 'running'"),
    ),
    # At most one not-yet-claimed job per dedupe key: enqueue coalesces into it.
    Index(
        "uq_jobs_queueing_lock_ready",
        "queueing_lock",
        unique=True,
        sqlite_where=text("status = 'ready'"),
        postgresql_where=text("status = 'ready'"),
    ),
    Index(
        "ix_jobs_parked",
        "lock",
        sqlite_where=text("status = 'parked'"),
        postgresql_where=text("status = 'parked'"),
    ),
    Index(
        "ix_jobs_finished",
        "finished_at",
        sqlite_where=text("status = 'done'"),
        postgresql_where=text("status = 'done'"),
    ),
)

# The ERP channel's health as the running service last reported it (`pipeline.erp_health`), one row per
# channel (adapter); written on each transition only, read by `orderbridge status`.
erp_channels = Table(
    "erp_channels",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("healthy", Boolean, nullable=False),
    Column("consecutive_failures", Integer, nullable=False),
    Column("last_error", Text),
    Column("changed_at", UtcDateTime, nullable=False),
)

# Cluster-wide rate limits (`store.rate_limits`): one GCRA row per account and endpoint class, whose
# theoretical arrival time every process moves forward by one emission interval per call it sends.
rate_limits = Table(
    "rate_limits",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("tat", Double, nullable=False),
)
