"""The SQLite driver under SQLAlchemy: a statement runs and fetches in one hop, results unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
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


async def test_a_write_transaction_of_one_statement_costs_three_thread_hops_begin_statement_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'z.db'}")
    try:
        async with db.transaction() as session:
            await session.execute(text("CREATE TABLE t (n INTEGER)"))
        hops: list[str] = []
        hop = FusedConnection._execute

        async def counted(self: FusedConnection, fn: Any, *args: Any, **kwargs: Any) -> Any:
            hops.append(getattr(fn, "__name__", "?"))
            return await hop(self, fn, *args, **kwargs)

        monkeypatch.setattr(FusedConnection, "_execute", counted)
        async with db.transaction() as session:
            await session.execute(text("INSERT INTO t (n) VALUES (1)"))
            driver = (await (await session.connection()).get_raw_connection()).driver_connection
            assert isinstance(driver, FusedConnection) and driver.in_transaction
        async with db.transaction():
            pass  # no statement: no connection, no hop
        assert hops == ["_execute_and_fetch", "_execute_and_fetch", "commit"]  # no cursor, close, rollback
    finally:
        await db.dispose()
