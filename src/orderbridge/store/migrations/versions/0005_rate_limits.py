"""Cluster-wide rate limits: one GCRA row per account and endpoint class (`store.rate_limits`).

Revision ID: 0005_rate_limits
Revises: 0004_job_locks
Create Date: 2026-12-06

Written by hand; keep in step with `store/tables.py`. SQLite gets the table too (one schema for both
engines), though only PostgreSQL deployments share it between processes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_rate_limits"
down_revision = "0004_job_locks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_limits",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("tat", sa.Double(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rate_limits")
