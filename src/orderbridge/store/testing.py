"""Throwaway databases for tests: a fresh SQLite file or a fresh PostgreSQL database, migrated.

Each call creates its own database (on PostgreSQL a `CREATE DATABASE` next to the one in the URL), so
test modules and engineers running the suite at the same time never see each other's rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from orderbridge.store.db import Database
from orderbridge.store.procrastinate_schema import ensure_procrastinate_schema, libpq_conninfo
from orderbridge.store.tables import metadata


@contextlib.asynccontextmanager
async def fresh_sqlite(directory: Path, *, migrate: bool = True) -> AsyncIterator[Database]:
    db = Database(f"sqlite:///{directory / f'ob-{uuid.uuid4().hex[:8]}.db'}")
    try:
        if migrate:
            await db.migrate()
        yield db
    finally:
        await db.dispose()


@contextlib.asynccontextmanager
async def fresh_postgres(url: str, *, migrate: bool = True) -> AsyncIterator[Database]:
    """A new, empty database on the server of `url` (a postgresql+psycopg URL), dropped afterwards."""
    base = make_url(url)
    name = f"ob_test_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        db = Database(base.set(database=name))
        try:
            if migrate:
                await db.migrate()
                # The service's job queue on PostgreSQL (procrastinate), as `orderbridge migrate` adds.
                await asyncio.to_thread(ensure_procrastinate_schema, db.url)
            yield db
        finally:
            await db.dispose()
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


def create_migrated_database(url: str, *, jobs_schema: bool = True) -> str:
    """Create a new database beside `url`'s (PostgreSQL) and migrate it, procrastinate's schema included
    unless `jobs_schema` is False; its URL. For sync fixtures."""
    return asyncio.run(_create_migrated(url, jobs_schema))


def end_other_sessions(url: str) -> None:
    """End every other session on the database at `url` from PostgreSQL's side, as a restart does."""
    with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


def drop_database(url: str) -> None:
    asyncio.run(_drop(url))


async def _create_migrated(url: str, jobs_schema: bool) -> str:
    base = make_url(url)
    name = f"ob_test_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()
    new_url = base.set(database=name).render_as_string(hide_password=False)
    db = Database(new_url)
    try:
        await db.migrate()
        if jobs_schema:
            await asyncio.to_thread(ensure_procrastinate_schema, new_url)
    finally:
        await db.dispose()
    return new_url


async def _drop(url: str) -> None:
    target = make_url(url)
    admin = create_async_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
    finally:
        await admin.dispose()


@contextlib.asynccontextmanager
async def writer_held(db: Database) -> AsyncIterator[None]:
    """Keep the writer thread busy (a unit that waits) for the duration: units written meanwhile queue,
    and on exit go together in the next transaction — group commit under load, made deterministic."""
    entered, release = threading.Event(), threading.Event()

    def hold(_conn: Connection) -> None:
        entered.set()
        release.wait(30)

    holding = asyncio.ensure_future(db.write(hold))
    await asyncio.get_running_loop().run_in_executor(None, entered.wait, 30)
    try:
        yield
        await asyncio.sleep(0)  # let units submitted by tasks started in the block reach the queue
    finally:
        release.set()
        await holding


async def delete_all_rows(db: Database) -> None:
    """Empty every table (faster than a new database per test; ids keep counting, which is harmless)."""

    def delete(conn: Connection) -> None:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())

    await db.write(delete)
