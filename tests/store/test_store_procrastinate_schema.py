"""`orderbridge migrate` on PostgreSQL also applies procrastinate's schema (and our notes table beside
it): once, whoever runs it and however often; `--check` only looks; SQLite never gets it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from orderbridge.store.procrastinate_schema import (
    NOTES_TABLE,
    WORKERS_TABLE,
    ensure_procrastinate_schema,
    libpq_conninfo,
)
from orderbridge.store.schema_command import migrate_schema
from orderbridge.store.testing import create_migrated_database, drop_database


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    url = create_migrated_database(postgres_server_url, jobs_schema=False)
    try:
        yield url
    finally:
        drop_database(url)


def tables(url: str) -> set[str]:
    with psycopg.connect(libpq_conninfo(url)) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {row[0] for row in rows}


@pytest.mark.postgres
async def test_migrate_applies_procrastinates_schema_once_and_check_only_looks(postgres_url: str) -> None:
    checked = await migrate_schema(postgres_url, check_only=True)
    assert (checked.procrastinate, checked.at_head) == ((False, False), False)
    assert checked.describe().endswith("; procrastinate's schema missing")
    assert "procrastinate_jobs" not in tables(postgres_url)

    migrated = await migrate_schema(postgres_url, check_only=False)
    assert (migrated.procrastinate, migrated.at_head) == ((False, True), True)
    assert migrated.describe().endswith("; procrastinate's schema applied")
    assert {"procrastinate_jobs", "procrastinate_workers", NOTES_TABLE, WORKERS_TABLE} <= tables(postgres_url)

    again = await migrate_schema(postgres_url, check_only=False)
    assert (again.procrastinate, again.describe().endswith("; procrastinate's schema present")) == (
        (True, True),
        True,
    )


@pytest.mark.postgres
async def test_processes_migrating_at_once_apply_procrastinates_schema_once(postgres_url: str) -> None:
    results = await asyncio.gather(
        *(asyncio.to_thread(ensure_procrastinate_schema, postgres_url) for _ in range(3))
    )
    assert [after for _, after in results] == [True, True, True]  # and none failed on the others' work
    assert ensure_procrastinate_schema(postgres_url) == (True, True)


async def test_a_sqlite_database_never_gets_procrastinates_schema(tmp_path: Path) -> None:
    state = await migrate_schema(f"sqlite+aiosqlite:///{tmp_path / 'ob.db'}", check_only=False)
    assert state.procrastinate is None and state.at_head
    assert "procrastinate" not in state.describe()


@pytest.mark.postgres
def test_a_database_from_before_the_workers_table_gets_it_at_the_next_migrate(postgres_url: str) -> None:
    ensure_procrastinate_schema(postgres_url)
    with psycopg.connect(libpq_conninfo(postgres_url), autocommit=True) as conn:
        conn.execute(f"DROP TABLE {WORKERS_TABLE}")

    assert ensure_procrastinate_schema(postgres_url) == (False, True)
    assert WORKERS_TABLE in tables(postgres_url)


@pytest.mark.postgres
def test_a_database_from_before_the_notes_counted_deaths_gets_the_column_at_the_next_migrate(
    postgres_url: str,
) -> None:
    ensure_procrastinate_schema(postgres_url)
    with psycopg.connect(libpq_conninfo(postgres_url), autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {NOTES_TABLE} DROP COLUMN deaths")

    assert ensure_procrastinate_schema(postgres_url, check_only=True) == (False, False)
    assert ensure_procrastinate_schema(postgres_url) == (False, True)
    with psycopg.connect(libpq_conninfo(postgres_url)) as conn:
        assert conn.execute(f"SELECT deaths FROM {NOTES_TABLE}").fetchall() == []
