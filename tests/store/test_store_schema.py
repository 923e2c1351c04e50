"""The migrated schema, the SQLite tuning, and writers that never trip over each other."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, func, select, text

from orderbridge.store import repo
from orderbridge.store.db import Database, sync_url
from orderbridge.store.migrate import alembic_config, head_revision
from orderbridge.store.tables import intake_events, metadata
from orderbridge.store.testing import fresh_postgres


async def test_migrations_build_exactly_these_tables(db: Database) -> None:
    def diff(conn: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(conn), metadata))

    assert await db.read(diff) == []


async def test_migrating_an_up_to_date_database_changes_nothing(db: Database) -> None:
    await db.migrate()
    version = await db.read(
        lambda conn: conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    )
    assert version == head_revision()


async def test_sqlite_waits_up_to_30_s_for_another_processs_writer(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'pragmas.db'}")  # SQLite only: no PostgreSQL twin
    try:
        await db.migrate()
        timeout = await db.read(lambda conn: conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one())
    finally:
        await db.dispose()
    assert timeout == 30_000


async def test_many_units_that_read_then_write_at_once_all_commit(db: Database) -> None:
    def read_then_write(n: int) -> Callable[[Connection], None]:
        def unit(conn: Connection) -> None:
            conn.scalar(select(func.count()).select_from(intake_events))
            repo.record_intake_event(conn, "acme", "feed", f"o{n}", "handling", None, "t", None)

        return unit

    await asyncio.gather(*(db.write(read_then_write(n)) for n in range(40)))
    with db.connect() as session:
        assert session.scalar(select(func.count()).select_from(intake_events)) == 40


async def test_serialized_transactions_all_commit(db: Database) -> None:
    async def write(n: int) -> None:
        with db.begin() as session:
            repo.record_intake_event(session, "acme", "hook", f"o{n}", "handling", None, "t", None)

    await asyncio.gather(*(write(n) for n in range(40)))
    with db.connect() as session:
        assert session.scalar(select(func.count()).select_from(intake_events)) == 40


async def test_a_failed_transaction_leaves_nothing_behind(db: Database) -> None:
    class Boom(Exception):
        pass

    try:
        with db.begin() as session:
            repo.record_intake_event(session, "acme", "feed", "o1", "handling", None, "t", None)
            raise Boom
    except Boom:
        pass
    with db.connect() as session:
        assert session.scalar(select(func.count()).select_from(intake_events)) == 0


async def test_processes_starting_at_once_migrate_the_schema_once(db: Database, tmp_path: Path) -> None:
    if db.is_sqlite:
        url = f"sqlite:///{tmp_path / 'fresh.db'}"
        await _migrate_concurrently(url)
        return
    async with fresh_postgres(str(db.url.render_as_string(hide_password=False)), migrate=False) as fresh:
        await _migrate_concurrently(fresh.url.render_as_string(hide_password=False))


async def _migrate_concurrently(url: str) -> None:
    databases = [Database(url) for _ in range(3)]
    try:
        await asyncio.gather(*(d.migrate() for d in databases))
        with databases[0].connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        assert versions == [head_revision()]
    finally:
        for d in databases:
            await d.dispose()


def test_plain_and_older_urls_get_the_drivers_of_the_sync_engine() -> None:
    assert sync_url("sqlite:///x.db").drivername == "sqlite+pysqlite"
    assert sync_url("sqlite+aiosqlite:///x.db").drivername == "sqlite+pysqlite"
    assert sync_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert sync_url("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"


async def test_jobs_waiting_in_a_database_of_the_old_names_keep_their_lock_and_queueing_lock(
    db: Database, tmp_path: Path
) -> None:
    """0004 renames `lane`/`dedupe_key` to procrastinate's `lock`/`queueing_lock`: an upgrade keeps every
    waiting job, and the unique queueing lock still coalesces."""
    if db.is_sqlite:
        old = Database(f"sqlite:///{tmp_path / 'old.db'}")
        try:
            await _check_job_rename(old)
        finally:
            await old.dispose()
        return
    async with fresh_postgres(str(db.url.render_as_string(hide_password=False)), migrate=False) as old:
        await _check_job_rename(old)


async def _check_job_rename(old: Database) -> None:
    with old.begin() as conn:
        command.upgrade(alembic_config(conn), "0003_vtex_calls")
        conn.execute(
            text(
                "INSERT INTO jobs (kind, lane, payload, status, attempt, run_at, dedupe_key, enqueued_at)"
                " VALUES ('sync_order', 'acme:o1', '{}', 'ready', 0, 0, 'sync:acme:o1', 0)"
            )
        )
    await old.migrate()
    with old.begin() as conn:
        row = (conn.execute(text('SELECT "lock", queueing_lock FROM jobs'))).one()
        assert tuple(row) == ("acme:o1", "sync:acme:o1")
        duplicate = text(
            'INSERT INTO jobs (kind, "lock", payload, status, attempt, run_at, queueing_lock, enqueued_at)'
            " VALUES ('sync_order', 'acme:o1', '{}', 'ready', 0, 0, 'sync:acme:o1', 0)"
            " ON CONFLICT DO NOTHING"
        )
        assert (conn.execute(duplicate)).rowcount == 0
