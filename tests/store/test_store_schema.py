"""The migrated schema, the SQLite tuning, and writers that never trip over each other."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, func, select, text

from orderbridge.store import repo
from orderbridge.store.db import Database, async_url
from orderbridge.store.migrate import alembic_config, head_revision
from orderbridge.store.tables import intake_events, metadata
from orderbridge.store.testing import fresh_postgres


async def test_migrations_build_exactly_these_tables(db: Database) -> None:
    def diff(conn: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(conn), metadata))

    async with db.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_migrating_an_up_to_date_database_changes_nothing(db: Database) -> None:
    await db.migrate()
    async with db.engine.connect() as conn:
        version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
    assert version == head_revision()


async def test_sqlite_runs_in_wal_mode_with_foreign_keys_and_a_busy_timeout_for_waits_off_the_loop(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'pragmas.db'}")  # SQLite only: no PostgreSQL twin
    await db.migrate()
    async with db.engine.connect() as conn:
        pragmas = {
            name: (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar_one()
            for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
        }
        driver = (await conn.get_raw_connection()).driver_connection
    await db.dispose()
    # Inline calls never wait for a lock (busy_timeout 0); a call that meets one waits on the
    # connection's thread for up to 30 s (see `store.sqlite_driver`).
    assert pragmas == {"journal_mode": "wal", "synchronous": 1, "busy_timeout": 0, "foreign_keys": 1}
    assert driver.busy_timeout_ms == 30_000


async def test_many_sessions_that_read_then_write_at_once_all_commit(db: Database) -> None:
    """A deferred BEGIN would fail some of these with SQLITE_BUSY (a lock upgrade is not retried)."""

    async def read_then_write(n: int) -> None:
        async with db.session() as session, session.begin():
            await session.scalar(select(func.count()).select_from(intake_events))
            await asyncio.sleep(0)
            await repo.record_intake_event(session, "acme", "feed", f"o{n}", "handling", None, "t", None)

    await asyncio.gather(*(read_then_write(n) for n in range(40)))
    async with db.read_session() as session:
        assert await session.scalar(select(func.count()).select_from(intake_events)) == 40


async def test_serialized_transactions_all_commit(db: Database) -> None:
    async def write(n: int) -> None:
        async with db.transaction() as session:
            await repo.record_intake_event(session, "acme", "hook", f"o{n}", "handling", None, "t", None)

    await asyncio.gather(*(write(n) for n in range(40)))
    async with db.read_session() as session:
        assert await session.scalar(select(func.count()).select_from(intake_events)) == 40


async def test_a_failed_transaction_leaves_nothing_behind(db: Database) -> None:
    class Boom(Exception):
        pass

    try:
        async with db.transaction() as session:
            await repo.record_intake_event(session, "acme", "feed", "o1", "handling", None, "t", None)
            raise Boom
    except Boom:
        pass
    async with db.read_session() as session:
        assert await session.scalar(select(func.count()).select_from(intake_events)) == 0


async def test_processes_starting_at_once_migrate_the_schema_once(db: Database, tmp_path: Path) -> None:
    if db.is_sqlite:
        url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        await _migrate_concurrently(url)
        return
    async with fresh_postgres(str(db.url.render_as_string(hide_password=False)), migrate=False) as fresh:
        await _migrate_concurrently(fresh.url.render_as_string(hide_password=False))


async def _migrate_concurrently(url: str) -> None:
    databases = [Database(url) for _ in range(3)]
    try:
        await asyncio.gather(*(d.migrate() for d in databases))
        async with databases[0].engine.connect() as conn:
            versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
        assert versions == [head_revision()]
    finally:
        for d in databases:
            await d.dispose()


def test_plain_urls_get_the_async_drivers() -> None:
    assert async_url("sqlite:///x.db").drivername == "sqlite+aiosqlite"
    assert async_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert async_url("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"


async def test_jobs_waiting_in_a_database_of_the_old_names_keep_their_lock_and_queueing_lock(
    db: Database, tmp_path: Path
) -> None:
    """0004 renames `lane`/`dedupe_key` to procrastinate's `lock`/`queueing_lock`: an upgrade keeps every
    waiting job, and the unique queueing lock still coalesces."""
    if db.is_sqlite:
        old = Database(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
        try:
            await _check_job_rename(old)
        finally:
            await old.dispose()
        return
    async with fresh_postgres(str(db.url.render_as_string(hide_password=False)), migrate=False) as old:
        await _check_job_rename(old)


async def _check_job_rename(old: Database) -> None:
    async with old.engine.begin() as conn:
        await conn.run_sync(lambda c: command.upgrade(alembic_config(c), "0003_vtex_calls"))
        await conn.execute(
            text(
                "INSERT INTO jobs (kind, lane, payload, status, attempt, run_at, dedupe_key, enqueued_at)"
                " VALUES ('sync_order', 'acme:o1', '{}', 'ready', 0, 0, 'sync:acme:o1', 0)"
            )
        )
    await old.migrate()
    async with old.engine.begin() as conn:
        row = (await conn.execute(text('SELECT "lock", queueing_lock FROM jobs'))).one()
        assert tuple(row) == ("acme:o1", "sync:acme:o1")
        duplicate = text(
            'INSERT INTO jobs (kind, "lock", payload, status, attempt, run_at, queueing_lock, enqueued_at)'
            " VALUES ('sync_order', 'acme:o1', '{}', 'ready', 0, 0, 'sync:acme:o1', 0)"
            " ON CONFLICT DO NOTHING"
        )
        assert (await conn.execute(duplicate)).rowcount == 0
