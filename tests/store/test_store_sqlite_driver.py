"""The SQLite driver under SQLAlchemy: a statement runs and fetches in one hop, results unchanged."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from orderbridge.store.db import Database
from orderbridge.store.sqlite_driver import FusedConnection, connect


async def test_the_database_talks_to_sqlite_through_the_fused_driver(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        async with db.transaction() as session:
            connection = await session.connection()
            driver = (await connection.get_raw_connection()).driver_connection
            await session.execute(text("CREATE TABLE t (n INTEGER)"))
            await session.execute(text("INSERT INTO t (n) VALUES (:n)"), [{"n": n} for n in range(5)])
            rows = (await session.execute(text("SELECT n FROM t ORDER BY n"))).scalars().all()
            inserted = (await session.execute(text("INSERT INTO t (n) VALUES (9) RETURNING n"))).scalar_one()
        assert isinstance(driver, FusedConnection)
        assert (rows, inserted) == ([0, 1, 2, 3, 4], 9)
    finally:
        await db.dispose()


async def test_rows_fetched_with_the_statement_are_served_by_every_fetch_method(tmp_path: Path) -> None:
    connection = await connect(str(tmp_path / "y.db"))
    try:
        async with connection.cursor() as cursor:
            await cursor.execute("CREATE TABLE t (n INTEGER)")
            await cursor.executemany("INSERT INTO t (n) VALUES (?)", [(n,) for n in range(6)])
            await cursor.execute("SELECT n FROM t ORDER BY n")
            first = await cursor.fetchone()
            two = await cursor.fetchmany(2)
            rest = await cursor.fetchall()
            await cursor.execute("UPDATE t SET n = n + 1 WHERE n < ?", (3,))
            changed = cursor.rowcount
    finally:
        await connection.close()
    assert (first, two, rest, changed) == ((0,), [(1,), (2,)], [(3,), (4,), (5,)], 3)
