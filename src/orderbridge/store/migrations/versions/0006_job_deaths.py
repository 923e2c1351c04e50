"""The embedded queue counts the runs of a job lost to a dead worker apart from its attempts.

Revision ID: 0006_job_deaths
Revises: 0005_rate_limits
Create Date: 2026-12-06

Written by hand; keep in step with `store/tables.py`. A run lost to a dead worker no longer spends one
of the job's `max_attempts` (kept for the job's own failures); `jobs.deaths` counts those runs against
`max_deaths` instead. Existing rows start at 0.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_job_deaths"
down_revision = "0005_rate_limits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("deaths", sa.Integer(), server_default=sa.text("0"), nullable=False))


def downgrade() -> None:
    op.drop_column("jobs", "deaths")
