"""The job queue's columns take procrastinate's names: `lane` → `lock`, `dedupe_key` → `queueing_lock`.

Revision ID: 0004_job_locks
Revises: 0003_vtex_calls
Create Date: 2026-12-06

Written by hand; keep in step with `store/tables.py`. `RENAME COLUMN` keeps the rows and the indexes on
the columns (SQLite ≥ 3.25, PostgreSQL); the two indexes named after the old columns are made anew.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_job_locks"
down_revision = "0003_vtex_calls"
branch_labels = None
depends_on = None

_UNFINISHED = "status IN ('ready', 'running', 'retry')"
_READY = "status = 'ready'"


def upgrade() -> None:
    _rename_columns({"lane": "lock", "dedupe_key": "queueing_lock"})
    op.drop_index("ix_jobs_lane_unfinished", table_name="jobs")
    op.drop_index("uq_jobs_dedupe_ready", table_name="jobs")
    _partial_index("ix_jobs_lock_unfinished", ["lock", "id"], _UNFINISHED)
    _partial_index("uq_jobs_queueing_lock_ready", ["queueing_lock"], _READY, unique=True)


def downgrade() -> None:
    _rename_columns({"lock": "lane", "queueing_lock": "dedupe_key"})
    op.drop_index("ix_jobs_lock_unfinished", table_name="jobs")
    op.drop_index("uq_jobs_queueing_lock_ready", table_name="jobs")
    _partial_index("ix_jobs_lane_unfinished", ["lane", "id"], _UNFINISHED)
    _partial_index("uq_jobs_dedupe_ready", ["dedupe_key"], _READY, unique=True)


def _rename_columns(names: dict[str, str]) -> None:
    # "lock" is a keyword in PostgreSQL (not reserved): quoted, as SQLAlchemy quotes it too.
    for old, new in names.items():
        op.execute(f'ALTER TABLE jobs RENAME COLUMN "{old}" TO "{new}"')


def _partial_index(name: str, columns: list[str], where: str, *, unique: bool = False) -> None:
    op.create_index(
        name,
        "jobs",
        columns,
        unique=unique,
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )
