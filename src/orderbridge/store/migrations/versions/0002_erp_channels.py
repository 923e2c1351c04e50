"""The ERP channel's health (`erp_channels`), shown by `orderbridge status`.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04

Written by hand; keep in step with `store/tables.py`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from orderbridge.store.types import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "erp_channels",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("healthy", sa.Boolean(), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("changed_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_erp_channels"),
    )


def downgrade() -> None:
    op.drop_table("erp_channels")
