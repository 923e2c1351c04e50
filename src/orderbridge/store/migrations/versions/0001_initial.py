"""Initial schema: accounts, intake events, orders, commands, attempts and the embedded job queue.

Revision ID: 0001
Revises:
Create Date: 2026-11-27

Written by hand (autogenerate forgets imports for JSONB variants); keep in step with `store/tables.py`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from orderbridge.store.types import BigId, Json, UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_UNFINISHED = "status IN ('ready', 'running', 'retry')"
_DUE = "status IN ('ready', 'retry')"
_RUNNING = "status = 'running'"
_READY = "status = 'ready'"


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("paused", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("paused_reason", sa.Text()),
        sa.Column("settings", Json, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_accounts"),
    )
    op.create_table(
        "intake_events",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(64), nullable=False),
        sa.Column("last_state", sa.String(64)),
        sa.Column("current_change", sa.String(64), nullable=False),
        sa.Column("raw", Json),
        sa.Column("received_at", UtcDateTime, nullable=False),
        sa.Column("processed_at", UtcDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_intake_events"),
        sa.UniqueConstraint(
            "account",
            "order_id",
            "state",
            "current_change",
            name="uq_intake_events_account_order_id_state_current_change",
        ),
    )
    op.create_index("ix_intake_events_account_order_id", "intake_events", ["account", "order_id"])
    op.create_table(
        "orders",
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("vtex_status", sa.String(64)),
        sa.Column("pipeline_state", sa.String(32), nullable=False),
        sa.Column("value_cents", sa.Integer(), nullable=False),
        sa.Column("last_change", sa.String(64), nullable=False),
        sa.Column("raw", Json),
        sa.Column("snapshot", Json, nullable=False),
        sa.Column("erp_reference", sa.String(200)),
        sa.Column("park_reason", sa.Text()),
        sa.Column("handed_over_at", UtcDateTime),
        sa.Column("started_at", UtcDateTime),
        sa.Column("completed_at", UtcDateTime),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("account", "order_id", name="pk_orders"),
    )
    op.create_index("ix_orders_pipeline_state_account", "orders", ["pipeline_state", "account"])
    op.create_table(
        "commands",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payload", Json, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("idempotency_key", sa.String(200)),
        sa.Column("invoice_number", sa.String(64)),
        sa.Column("vtex_receipt", Json),
        sa.Column("error", sa.Text()),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_commands"),
        sa.UniqueConstraint("account", "idempotency_key", name="uq_commands_account_idempotency_key"),
    )
    op.create_index("ix_commands_account_order_id_status", "commands", ["account", "order_id", "status"])
    op.create_table(
        "attempts",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("command_id", sa.String(36)),
        sa.Column("job_id", BigId),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("http_status", sa.Integer()),
        sa.Column("detail", sa.Text()),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_attempts"),
    )
    op.create_index("ix_attempts_account_order_id", "attempts", ["account", "order_id"])
    op.create_table(
        "jobs",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("lane", sa.String(200), nullable=False),
        sa.Column("payload", Json, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("run_at", sa.Double(), nullable=False),
        sa.Column("lease_until", sa.Double()),
        sa.Column("worker", sa.String(100)),
        sa.Column("dedupe_key", sa.String(200)),
        sa.Column("last_error", sa.Text()),
        sa.Column("enqueued_at", sa.Double(), nullable=False),
        sa.Column("started_at", sa.Double()),
        sa.Column("finished_at", sa.Double()),
        sa.Column("requeued_from", BigId),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
    )
    _partial_index("ix_jobs_lane_unfinished", ["lane", "id"], _UNFINISHED)
    _partial_index("ix_jobs_due", ["run_at", "id"], _DUE)
    _partial_index("ix_jobs_leased", ["lease_until"], _RUNNING)
    _partial_index("uq_jobs_dedupe_ready", ["dedupe_key"], _READY, unique=True)
    _partial_index("ix_jobs_parked", ["lane"], "status = 'parked'")
    _partial_index("ix_jobs_finished", ["finished_at"], "status = 'done'")


def _partial_index(name: str, columns: list[str], where: str, *, unique: bool = False) -> None:
    op.create_index(
        name,
        "jobs",
        columns,
        unique=unique,
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )


def downgrade() -> None:
    for table in ("jobs", "attempts", "commands", "orders", "intake_events", "accounts"):
        op.drop_table(table)
