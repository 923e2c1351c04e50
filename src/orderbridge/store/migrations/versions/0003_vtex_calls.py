"""Every VTEX HTTP attempt about an order (`vtex_calls`), shown in the order's timeline.

Revision ID: 0003_vtex_calls
Revises: 0002
Create Date: 2026-12-08

Written by hand; keep in step with `store/tables.py`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from orderbridge.store.types import BigId, UtcDateTime

revision = "0003_vtex_calls"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vtex_calls",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("status", sa.Integer()),
        sa.Column("error", sa.String(64)),
        sa.Column("latency_ms", sa.Double(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_vtex_calls"),
    )
    op.create_index("ix_vtex_calls_account_order_id", "vtex_calls", ["account", "order_id"])
    op.create_index("ix_vtex_calls_at", "vtex_calls", ["at"])


def downgrade() -> None:
    op.drop_index("ix_vtex_calls_at", table_name="vtex_calls")
    op.drop_index("ix_vtex_calls_account_order_id", table_name="vtex_calls")
    op.drop_table("vtex_calls")
